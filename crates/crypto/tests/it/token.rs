//! A fresh SoftHSM2 token per test (see `callvault_testkit::softhsm`).

use std::path::PathBuf;

use callvault_crypto::{Pkcs11Provider, Pkcs11Settings};
use zeroize::Zeroizing;

pub use callvault_testkit::softhsm::SOFTHSM_MODULE as MODULE;

/// A token of its own for one test.
pub struct TestToken {
    pub label: String,
    pub pin: String,
}

impl TestToken {
    pub fn new() -> Self {
        let token = callvault_testkit::softhsm::softhsm_token();
        Self {
            label: token.label,
            pin: token.pin,
        }
    }

    pub fn settings(&self) -> Pkcs11Settings {
        Pkcs11Settings {
            module: PathBuf::from(MODULE),
            token_label: self.label.clone(),
            pin: Zeroizing::new(self.pin.clone()),
            label_prefix: "callvault".into(),
            max_sessions: 4,
        }
    }

    pub fn provider(&self) -> Pkcs11Provider {
        Pkcs11Provider::open(self.settings()).expect("open token")
    }
}
