//! A WAV header: accepted only if it describes audio that fits the file, refused otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(info) = callvault_vault::wav::check_header(std::io::Cursor::new(data), len) {
        assert!(
            info.header_len + info.data_len <= len,
            "{info:?} in {len} bytes"
        );
        assert!(matches!(info.channels, 1 | 2), "{info:?}");
        assert!(info.sample_rate > 0, "{info:?}");
    }
    // A file that claims to be longer than the bytes there are must never read past them.
    let _ = callvault_vault::wav::check_header(std::io::Cursor::new(data), len.saturating_mul(2));
});
