//! An assignment file (users and assignments, TOML): every accepted assignment passes the
//! same checks as one requested through the API; refusals never show a personal number.
#![no_main]

use callvault_auth::{check_assignment, parse_file};
use callvault_fuzz::assert_no_long_number;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_file(text) {
        Ok((_, set)) => {
            for a in set.all() {
                check_assignment(a).expect("an accepted assignment fails the checks");
            }
        }
        Err(e) => assert_no_long_number("an assignment file refusal", &e.to_string(), data),
    }
});
