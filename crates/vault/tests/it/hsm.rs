//! A vault whose keys live in a PKCS#11 token (SoftHSM2): the whole key lifecycle, and the
//! configuration's refusals.

use std::os::unix::fs::PermissionsExt;

use callvault_vault::Vault;
use callvault_vault::config::Config;

use crate::common::{CP_A, CP_B, TestVault, archive};

#[test]
fn a_vault_with_keys_in_a_token_imports_rotates_destroys_and_verifies() {
    let (t, _token) = TestVault::with_token();
    let m = archive(&t.archive(), 6, 20_000);
    let op = callvault_vault::vault_operator();
    t.vault
        .import_manifest(&m, &op, |_, _, _| {})
        .expect("import");
    let status = t.vault.status().expect("status");
    assert_eq!(status.key_backend, "pkcs11");
    // No key of a care provider is a file anywhere in the data directory.
    let files = callvault_testkit::files_under(&t.data_dir());
    assert!(
        !files.iter().any(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("kek-") || n == "field.key" || n == "index.key"
        }),
        "{files:?}"
    );
    assert!(!t.data_dir().join("keys").join(CP_A).exists());
    // Deep verify unwraps every data key in the token and decrypts every blob.
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let (version, n) = t.vault.rotate_keys(&cp, &op, |_, _| {}).expect("rotate");
    assert_eq!((version, n), (2, 3));
    assert_eq!(
        t.vault.destroy_retired_keys(&cp, &op).expect("destroy"),
        vec![1]
    );
    let t = t.reopen();
    let keks: Vec<(String, u32, bool)> = t
        .vault
        .status()
        .expect("status")
        .keks
        .iter()
        .map(|k| (k.care_provider.to_string(), k.version.0, k.current))
        .collect();
    assert_eq!(
        keks,
        vec![(CP_A.to_owned(), 2, true), (CP_B.to_owned(), 1, true)]
    );
    let r = t.vault.verify(true, |_| {}).expect("verify after reopen");
    assert!(r.is_clean(), "{:?}", r.problems);
    let ids = t.vault.catalog().stats().expect("stats").recordings;
    assert_eq!(ids, 6);
}

#[test]
fn a_wrong_or_exposed_pin_stops_the_vault_with_a_clear_message() {
    let (t, _token) = TestVault::with_token();
    let pin_file = t.dir.path().join("hsm.pin");
    let t = {
        drop(t.vault);
        t.dir
    };
    let data = t.path().join("data");
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Vault::open(&data).expect_err("PIN file readable by others");
    assert!(err.to_string().contains("hsm.pin"), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::remove_file(&pin_file).expect("rm");
    callvault_crypto::write_secret_file(&pin_file, b"0000\n").expect("pin");
    let err = Vault::open(&data).expect_err("wrong PIN");
    assert!(err.to_string().contains("C_Login"), "{err}");
    assert!(err.to_string().contains("PinIncorrect"), "{err}");
}

#[test]
fn the_keys_section_is_validated() {
    let base = Config::default_toml("audit.example");
    let with_keys = |keys: &str| {
        base.replace(
            "[keys]\nbackend = \"files\"\ndir = \"keys\"\n",
            &format!("[keys]\n{keys}\n"),
        )
    };
    let dir = std::path::Path::new("/srv/callvault");
    let file = dir.join("callvault.toml");
    for (keys, expected) in [
        ("backend = \"vault\"", "keys.backend \"vault\" is not known"),
        ("backend = \"files\"", "keys.dir is required"),
        (
            "backend = \"files\"\ndir = \"k\"\ntoken_label = \"x\"",
            "keys.token_label is a setting of backend \"pkcs11\"",
        ),
        (
            "backend = \"pkcs11\"\ntoken_label = \"t\"\npin_env = \"P\"",
            "keys.module (the PKCS#11 library) is required",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\npin_env = \"P\"",
            "keys.token_label is required",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"",
            "keys.pin_file or keys.pin_env is required",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\npin_file = \"f\"",
            "not both",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\ndir = \"k\"",
            "keys.dir is a setting of backend \"files\"",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\nlabel_prefix = \"a/b\"",
            "keys.label_prefix \"a/b\" must be",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\nmax_sessions = 0",
            "keys.max_sessions is 0",
        ),
        (
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"a-token-label-longer-than-32-bytes\"\npin_env = \"P\"",
            "longer than PKCS#11's 32 bytes",
        ),
    ] {
        let err = Config::parse(&with_keys(keys), dir, &file).expect_err(keys);
        assert!(err.to_string().contains(expected), "{keys}: {err}");
    }
    let ok = Config::parse(
        &with_keys(
            "backend = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_file = \"hsm.pin\"",
        ),
        dir,
        &file,
    )
    .expect("valid");
    match ok.keys {
        callvault_vault::config::KeysConfig::Pkcs11(p) => {
            assert_eq!(
                p.max_sessions,
                callvault_vault::config::DEFAULT_PKCS11_SESSIONS
            );
            assert_eq!(p.label_prefix, "callvault");
            assert!(
                matches!(p.pin, callvault_vault::config::PinSource::File(f) if f == dir.join("hsm.pin"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_catalog_section_is_validated() {
    let base = Config::default_toml("audit.example");
    let with_catalog = |catalog: &str| {
        base.replace(
            "[catalog]\nbackend = \"sqlite\"\npath = \"catalog/catalog.sqlite3\"\n",
            &format!("[catalog]\n{catalog}\n"),
        )
    };
    let dir = std::path::Path::new("/srv/callvault");
    let file = dir.join("callvault.toml");
    for (catalog, expected) in [
        (
            "backend = \"mysql\"",
            "catalog.backend \"mysql\" is not known",
        ),
        ("backend = \"sqlite\"", "catalog.path is required"),
        (
            "backend = \"sqlite\"\npath = \"c.db\"\nconninfo = \"host=x\"",
            "catalog.conninfo is a setting of backend \"postgres\"",
        ),
        ("backend = \"postgres\"", "catalog.conninfo is required"),
        (
            "backend = \"postgres\"\nconninfo = \"host=db user=cv password=secret\"",
            "must not contain the password",
        ),
        (
            "backend = \"postgres\"\nconninfo = \"host=db\"\npath = \"c.db\"",
            "catalog.path is a setting of backend \"sqlite\"",
        ),
        (
            "backend = \"postgres\"\nconninfo = \"host=db\"\npassword_file = \"p\"\npassword_env = \"P\"",
            "not both",
        ),
        (
            "backend = \"postgres\"\nconninfo = \"host=db\"\nreaders = 0",
            "catalog.readers is 0",
        ),
    ] {
        let err = Config::parse(&with_catalog(catalog), dir, &file).expect_err(catalog);
        assert!(err.to_string().contains(expected), "{catalog}: {err}");
    }
    let ok = Config::parse(
        &with_catalog(
            "backend = \"postgres\"\nconninfo = \"host=db1 user=callvault dbname=callvault\"\npassword_file = \"pg.password\"",
        ),
        dir,
        &file,
    )
    .expect("valid");
    match ok.catalog {
        callvault_vault::config::CatalogConfig::Postgres(p) => {
            assert_eq!(p.readers, callvault_vault::config::DEFAULT_PG_READERS);
            assert!(matches!(
                p.password,
                Some(callvault_vault::config::SecretSource::File(f)) if f == dir.join("pg.password")
            ));
        }
        other => panic!("{other:?}"),
    }
}
