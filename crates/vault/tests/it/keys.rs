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

#[test]
fn an_interrupted_rotation_resumes_and_retired_keys_are_destroyed_only_when_unused() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 4, 8_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let op = callvault_vault::vault_operator();
    // Nothing to destroy yet: v1 is current.
    assert!(
        t.vault
            .destroy_retired_keys(&cp, &op)
            .expect("none")
            .is_empty()
    );
    // Killed right after the new version exists, before any data key is re-wrapped.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.vault
            .rotate_keys(&cp, &op, |_, _| panic!("killed midway"))
            .expect("rotate");
    }));
    assert!(crashed.is_err());
    let t = t.reopen();
    let kek = |v: u32| {
        t.data_dir()
            .join("keys")
            .join(CP_A)
            .join(format!("kek-v{v:06}.key"))
    };
    assert!(kek(2).exists());
    // v1 still wraps every data key: it must not be destroyed.
    assert!(
        t.vault
            .destroy_retired_keys(&cp, &op)
            .expect("none")
            .is_empty()
    );
    assert!(kek(1).exists());
    // Running the rotation again resumes it: no v3.
    let (version, n) = t.vault.rotate_keys(&cp, &op, |_, _| {}).expect("resume");
    assert_eq!((version, n), (2, 2));
    assert!(!kek(3).exists());
    assert_eq!(
        t.vault.destroy_retired_keys(&cp, &op).expect("destroy"),
        vec![1]
    );
    assert!(!kek(1).exists());
    // Everything still decrypts under v2; care provider B is untouched.
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    let t = t.reopen();
    let keks = t.vault.status().expect("status").keks;
    let versions: Vec<(String, u32)> = keks
        .iter()
        .map(|k| (k.care_provider.to_string(), k.version.0))
        .collect();
    assert_eq!(versions, vec![(CP_A.to_owned(), 2), (CP_B.to_owned(), 1)]);
    // The current version is never destroyed.
    assert!(
        t.vault
            .destroy_retired_keys(&cp, &op)
            .expect("none")
            .is_empty()
    );
}

pub use callvault_testkit::files_under as walk;
