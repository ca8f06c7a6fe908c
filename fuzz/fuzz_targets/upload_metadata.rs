//! The `metadata` part of an upload (JSON): refused with a message that never shows a
//! patient's or caller's number.
#![no_main]

use callvault_fuzz::assert_no_long_number;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(p) = callvault_server::upload::check_metadata(data) {
        assert_eq!(p.status, 400, "{}", p.detail);
        assert_no_long_number("a metadata refusal", &p.detail, data);
    }
});
