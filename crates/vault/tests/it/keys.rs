//! Key files and key rotation.

use std::os::unix::fs::PermissionsExt;

use callvault_vault::{Vault, VaultError};

use crate::common::*;

#[test]
fn a_key_file_readable_by_others_stops_the_vault_with_a_clear_message() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 1, 4000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let data = t.data_dir();
    let _dir = t.close();
    let kek = data.join("keys").join(CP_A).join("kek-v000001.key");
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Vault::open(&data).expect_err("must refuse");
    assert!(matches!(err, VaultError::Key(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("kek-v000001.key") && msg.contains("0644") && msg.contains("chmod 600"),
        "{msg}"
    );

    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let signing = data.join("keys/audit-signing.key");
    std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let msg = Vault::open(&data).expect_err("must refuse").to_string();
    assert!(msg.contains("audit-signing.key"), "{msg}");
}

#[test]
fn a_data_directory_is_owned_by_one_process_at_a_time() {
    let t = TestVault::new();
    let err = Vault::open(&t.data_dir()).expect_err("second open must fail");
    assert!(matches!(err, VaultError::InUse(_)), "{err:?}");
    let t = t.reopen();
    assert!(t.vault.catalog().audit_size().expect("size") > 0);
}

#[test]
fn rotation_rewraps_every_data_key_without_touching_audio() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 6, 20_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let snapshot = |site: &str| {
        let mut v: Vec<(String, Vec<u8>)> =
            walk(&t.data_dir().join("sites").join(site).join("objects"))
                .into_iter()
                .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read")))
                .collect();
        v.sort();
        v
    };
    let before = (snapshot("a"), snapshot("b"));
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let mut calls = Vec::new();
    let (version, n) = t
        .vault
        .rotate_keys(&cp, &callvault_vault::vault_operator(), |d, total| {
            calls.push((d, total))
        })
        .expect("rotate");
    assert_eq!((version, n), (2, 3));
    assert_eq!(calls.last(), Some(&(3, 3)));
    assert_eq!(
        (snapshot("a"), snapshot("b")),
        before,
        "audio blobs untouched"
    );
    let stats = t.vault.status().expect("status").stats;
    assert!(stats.per_kek_version.contains(&(CP_A.to_owned(), 2, 3)));
    assert!(stats.per_kek_version.contains(&(CP_B.to_owned(), 1, 3)));
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

pub use callvault_testkit::files_under as walk;
