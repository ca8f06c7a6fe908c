//! A `Range` header on an audio request: one range or a clear refusal, whatever the
//! number of ranges or digits.
#![no_main]

use axum::http::HeaderValue;
use callvault_server::audio::{ByteRange, parse_range, resolve};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = HeaderValue::from_bytes(data) else {
        return;
    };
    match parse_range(Some(&h)) {
        Ok(Some(r)) => {
            if let ByteRange::FromTo(a, b) = r {
                assert!(a <= b, "{a}-{b}");
            }
            for len in [0, 1, 1000, u64::MAX] {
                if let Some(x) = resolve(&r, len) {
                    assert!(x.start < x.end && x.end <= len, "{r:?} of {len}: {x:?}");
                }
            }
        }
        Ok(None) => unreachable!("a header was given"),
        Err(p) => assert!(p.status == 400 || p.status == 416, "{}", p.status),
    }
});
