//! The server configuration (`server.toml`): parsed or refused, never a panic.
#![no_main]

use std::path::Path;

use callvault_server::ServerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = ServerConfig::parse(
        text,
        Path::new("/etc/callvault"),
        Path::new("/etc/callvault/server.toml"),
    ) {
        assert!(!e.to_string().is_empty());
    }
});
