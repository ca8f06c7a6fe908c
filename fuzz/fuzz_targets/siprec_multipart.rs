//! A SIP body's parts: the first line is the Content-Type, the rest the body.
#![no_main]

use callvault_siprec::multipart;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(ct) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    if let Ok(parts) = multipart::split(ct.trim_end(), &data[nl + 1..]) {
        assert!(!parts.is_empty() && parts.len() <= multipart::MAX_PARTS);
        for p in parts {
            assert!(p.content_type.contains('/'));
        }
    }
});
