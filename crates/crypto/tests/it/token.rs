//! A fresh SoftHSM2 token per test, initialised in this process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use callvault_crypto::pkcs11::module_context;
use callvault_crypto::{Pkcs11Provider, Pkcs11Settings};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const USER_PIN: &str = "4711-user";
const SO_PIN: &str = "4711-so";

/// Writes the SoftHSM2 configuration `SOFTHSM2_CONF` names (`.cargo/config.toml` sets it to
/// a file under `target/`), with a token directory beside it.
pub fn softhsm_conf() -> PathBuf {
    let conf = PathBuf::from(std::env::var_os("SOFTHSM2_CONF").expect(
        "SOFTHSM2_CONF is not set; run the tests with cargo from the workspace (.cargo/config.toml sets it)",
    ));
    let dir = conf.parent().expect("conf dir").to_owned();
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token directory");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
        tokens.display()
    );
    if std::fs::read_to_string(&conf).ok().as_deref() != Some(text.as_str()) {
        let tmp = dir.join(format!(".softhsm2.conf.{}", std::process::id()));
        std::fs::write(&tmp, &text).expect("write conf");
        std::fs::rename(&tmp, &conf).expect("rename conf");
    }
    assert!(
        Path::new(MODULE).is_file(),
        "{MODULE} is missing: install softhsm2 (scripts/test does)"
    );
    conf
}

/// A token of its own for one test.
pub struct TestToken {
    pub label: String,
}

impl TestToken {
    pub fn new() -> Self {
        static INIT: Mutex<()> = Mutex::new(());
        let _serial = INIT.lock().unwrap_or_else(|p| p.into_inner());
        softhsm_conf();
        let ctx = module_context(Path::new(MODULE)).expect("load SoftHSM2");
        let mut suffix = [0u8; 6];
        callvault_crypto::random_bytes(&mut suffix).expect("random");
        let label = format!("cv-test-{}", hex::encode(suffix));
        let slot = ctx
            .get_all_slots()
            .expect("slots")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .map(|t| !t.token_initialized())
                    .unwrap_or(false)
            })
            .expect("SoftHSM2 always offers one free slot");
        ctx.init_token(slot, &AuthPin::from(SO_PIN), &label)
            .expect("C_InitToken");
        let session = ctx.open_rw_session(slot).expect("session");
        session
            .login(UserType::So, Some(&AuthPin::from(SO_PIN)))
            .expect("SO login");
        session
            .init_pin(&AuthPin::from(USER_PIN))
            .expect("C_InitPIN");
        session.logout().expect("logout");
        Self { label }
    }

    pub fn settings(&self) -> Pkcs11Settings {
        Pkcs11Settings {
            module: PathBuf::from(MODULE),
            token_label: self.label.clone(),
            pin: Zeroizing::new(USER_PIN.to_owned()),
            label_prefix: "callvault".into(),
            max_sessions: 4,
        }
    }

    pub fn provider(&self) -> Pkcs11Provider {
        Pkcs11Provider::open(self.settings()).expect("open token")
    }
}
