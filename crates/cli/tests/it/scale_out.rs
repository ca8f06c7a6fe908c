//! `callvault init --config` with the scale-out engines, and `callvault keys` on a PKCS#11
//! token (SoftHSM2); the whole demo on two Garage sites (integration suite).

use std::path::Path;

use crate::{callvault, demo_no_serve, p, text};

/// A configuration with keys in a fresh SoftHSM2 token (PIN in a 0600 file in `dir`).
fn token_config(dir: &Path) -> String {
    let token = callvault_testkit::softhsm::softhsm_token();
    let pin = dir.join("hsm.pin");
    std::fs::write(&pin, format!("{}\n", token.pin)).expect("pin");
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    format!(
        r#"[audit]
origin = "audit.callvault.hsm.example"
signing_key = "keys/audit-signing.key"

[catalog]
backend = "sqlite"
path = "catalog/catalog.sqlite3"

[keys]
backend = "pkcs11"
module = "{module}"
token_label = "{label}"
pin_file = "{pin}"

[[sites]]
name = "a"
backend = "dir"
path = "sites/a"

[[sites]]
name = "b"
backend = "dir"
path = "sites/b"
"#,
        module = callvault_testkit::softhsm::SOFTHSM_MODULE,
        label = token.label,
        pin = p(&pin),
    )
}

#[test]
fn keys_are_created_listed_and_rotated_in_a_pkcs11_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("callvault.toml");
    std::fs::write(&conf, token_config(dir.path())).expect("config");
    let data = dir.path().join("data");
    let o = callvault(&["init", "--data-dir", p(&data), "--config", p(&conf)]);
    assert!(o.status.success(), "{}", text(&o));
    let cp = "SE2321000016-0001";
    let o = callvault(&[
        "keys",
        "create",
        "--data-dir",
        p(&data),
        "--care-provider",
        cp,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("keys in pkcs11 (KEK v1 current)"),
        "{}",
        text(&o)
    );
    let o = callvault(&[
        "keys",
        "rotate",
        "--data-dir",
        p(&data),
        "--care-provider",
        cp,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("KEK v2 is current"), "{}", text(&o));
    let o = callvault(&["keys", "list", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = text(&o);
    assert!(listed.contains("key backend: pkcs11"), "{listed}");
    assert!(listed.contains(&format!("{cp} v1\n")), "{listed}");
    assert!(listed.contains(&format!("{cp} v2 current")), "{listed}");
    // No care provider's key is a file in the data directory.
    assert!(!data.join("keys").join(cp).exists());
    let o = callvault(&["verify", "--data-dir", p(&data), "--deep"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn init_refuses_a_bad_configuration_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("callvault.toml");
    let bad = token_config(dir.path()).replace("pin_file", "pin_fil");
    std::fs::write(&conf, bad).expect("config");
    let data = dir.path().join("data");
    let o = callvault(&["init", "--data-dir", p(&data), "--config", p(&conf)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unknown field `pin_fil`"), "{}", text(&o));
    assert!(!data.exists(), "nothing created");
    let o = callvault(&[
        "init",
        "--data-dir",
        p(&data),
        "--config",
        p(&conf),
        "--origin",
        "x",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--config and --origin conflict: {}",
        text(&o)
    );
}

#[test]
#[ignore = "integration: needs the Garage servers scripts/integration.sh starts"]
fn the_demo_runs_on_postgres_two_garage_sites_and_keys_in_a_token() {
    let g = callvault_testkit::garage_env();
    let db = callvault_testkit::pg_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let pg_password = dir.path().join("pg.password");
    std::fs::write(&pg_password, format!("{}\n", db.password)).expect("password");
    std::fs::set_permissions(
        &pg_password,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let secret = dir.path().join("s3.secret");
    std::fs::write(&secret, format!("{}\n", g.secret)).expect("secret");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let prefix = format!("cli-{}/", callvault_testkit::unique_suffix());
    let mut config = token_config(dir.path());
    for (i, name) in ["a", "b"].iter().enumerate() {
        config = config.replace(
            &format!("[[sites]]\nname = \"{name}\"\nbackend = \"dir\"\npath = \"sites/{name}\"\n"),
            &format!(
                "[[sites]]\nname = \"{name}\"\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key_file = \"{}\"\nprefix = \"{prefix}\"\nallow_http = true\n",
                g.endpoints[i],
                g.buckets[i],
                g.key_id,
                p(&secret)
            ),
        );
    }
    config = config.replace(
        "[catalog]\nbackend = \"sqlite\"\npath = \"catalog/catalog.sqlite3\"\n",
        &format!(
            "[catalog]\nbackend = \"postgres\"\nconninfo = \"{}\"\npassword_file = \"{}\"\ntls_ca = \"{}\"\n",
            db.conninfo,
            p(&pg_password),
            std::env::var("CALLVAULT_IT_PG_TLS_CA").expect("the integration suite's CA")
        ),
    );
    assert!(!config.contains("backend = \"dir\""));
    // The catalog connection is TLS, verified against the server's CA.
    assert!(config.contains("backend = \"postgres\"") && config.contains("tls_ca"));
    let conf = dir.path().join("callvault.toml");
    std::fs::write(&conf, config).expect("config");
    let data = dir.path().join("data");
    let o = callvault(&["init", "--data-dir", p(&data), "--config", p(&conf)]);
    assert!(o.status.success(), "{}", text(&o));
    // The demo reuses the data directory: registers its care providers (keys in the
    // token), imports, deep-verifies and checkpoints.
    let o = demo_no_serve(&data, "6", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["status", "--data-dir", p(&data)]);
    let status = text(&o);
    assert!(o.status.success(), "{status}");
    assert!(
        status.contains(&format!(
            "a: 6 objects at {}/{}/{prefix}",
            g.endpoints[0], g.buckets[0]
        )),
        "{status}"
    );
    assert!(
        status.contains(&format!(
            "b: 6 objects at {}/{}/{prefix}",
            g.endpoints[1], g.buckets[1]
        )),
        "{status}"
    );
    // Nothing under the data directory is a site or the catalog: the blobs are in the
    // buckets, the catalog in PostgreSQL.
    assert!(!data.join("sites").exists());
    assert!(!data.join("catalog").exists());
    let o = callvault(&["verify", "--data-dir", p(&data), "--deep"]);
    assert!(o.status.success(), "{}", text(&o));
}
