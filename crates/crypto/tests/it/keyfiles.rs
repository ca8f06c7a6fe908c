//! What is particular to the key-file backend of `KeyProvider` (the shared behaviour is in
//! `conformance.rs`).

use std::os::unix::fs::PermissionsExt;

use callvault_crypto::{KeyError, KeyFileProvider, KeyProvider};
use callvault_types::CareProvider;

fn cp(s: &str) -> CareProvider {
    CareProvider::parse(s).expect("hsa")
}

#[test]
fn refuses_a_key_file_readable_by_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    let a = cp("SE2321000016-0001");
    KeyFileProvider::create(&path)
        .expect("create")
        .ensure_care_provider(&a)
        .expect("create");
    let kek = path.join(a.as_str()).join("kek-v000001.key");
    assert_eq!(
        std::fs::metadata(&kek).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = KeyFileProvider::open(&path).expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        matches!(err, KeyError::InsecurePermissions { mode: 0o644, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("kek-v000001.key") && msg.contains("chmod 600"),
        "{msg}"
    );
}

#[test]
fn a_missing_key_directory_is_not_recreated_and_interrupted_creations_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    assert!(KeyFileProvider::open(&path).is_err(), "open never creates");
    let keys = KeyFileProvider::create(&path).expect("create");
    keys.ensure_care_provider(&cp("SE2321000016-0001"))
        .expect("cp");
    drop(keys);
    // A creation cut short by a crash leaves a `.creating-*` directory with partial keys.
    let partial = path.join(".creating-SE2321000032-0001-00aa");
    std::fs::create_dir(&partial).expect("mkdir");
    std::fs::write(partial.join("kek-v000001.key"), b"partial").expect("write");
    let keys = KeyFileProvider::open(&path).expect("open");
    assert!(!partial.exists(), "interrupted creation removed");
    assert_eq!(keys.list_keks().expect("list").len(), 1);
    assert!(keys.current_kek(&cp("SE2321000032-0001")).is_err());
}
