//! Recording metadata: read or refused; merging a document into itself changes nothing.
#![no_main]

use callvault_siprec::metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = metadata::parse(data) {
        let mut twice = m.clone();
        twice.merge(m.clone());
        assert_eq!(twice.participants.len(), m.participants.len());
        assert_eq!(twice.streams.len(), m.streams.len());
        for p in &m.participants {
            assert!(p.send.len() <= metadata::MAX_ITEMS);
        }
    }
});
