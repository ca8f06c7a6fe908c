//! `callvault.toml`: refused with a message naming the file, or a configuration whose every
//! path lies inside or is named absolutely.
#![no_main]

use std::path::Path;

use callvault_vault::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, Path::new("/data"), Path::new("/data/callvault.toml")) {
        assert!(!e.to_string().is_empty());
    }
});
