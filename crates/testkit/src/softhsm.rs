//! SoftHSM2 tokens for tests: the PKCS#11 module, its configuration under `target/`, and a
//! fresh token per test.

use std::path::{Path, PathBuf};

/// Debian's SoftHSM2 PKCS#11 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Writes the SoftHSM2 configuration that `SOFTHSM2_CONF` names (`.cargo/config.toml` sets
/// it to a file under `target/`), with a token directory beside it, and returns its path.
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
        Path::new(SOFTHSM_MODULE).is_file(),
        "{SOFTHSM_MODULE} is missing: install softhsm2 (scripts/test does)"
    );
    conf
}

/// A token made for one test.
#[derive(Debug, Clone)]
pub struct SoftHsmToken {
    /// The token's label (unique).
    pub label: String,
    /// The user PIN.
    pub pin: String,
}

/// Initialises a new token in SoftHSM2's free slot, in this process (a SoftHSM2 library
/// that is already initialised in a process does not see tokens other processes make), and
/// sets its user PIN. The token's files are on disk at once, so processes started later see
/// it too.
pub fn softhsm_token() -> SoftHsmToken {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error, RvError};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    use std::sync::{Mutex, OnceLock};

    static CTX: OnceLock<Mutex<Pkcs11>> = OnceLock::new();
    softhsm_conf();
    let ctx = CTX
        .get_or_init(|| {
            let ctx = Pkcs11::new(SOFTHSM_MODULE).expect("load SoftHSM2");
            match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                Err(e) => panic!("C_Initialize: {e}"),
            }
            Mutex::new(ctx)
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let label = format!("cv-test-{}", crate::unique_suffix());
    let label: String = label.chars().take(32).collect();
    let (so_pin, pin) = ("4711-so", "4711-user".to_owned());
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
    ctx.init_token(slot, &AuthPin::from(so_pin), &label)
        .expect("C_InitToken");
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::So, Some(&AuthPin::from(so_pin)))
        .expect("SO login");
    session
        .init_pin(&AuthPin::from(pin.as_str()))
        .expect("C_InitPIN");
    session.logout().expect("logout");
    SoftHsmToken { label, pin }
}
