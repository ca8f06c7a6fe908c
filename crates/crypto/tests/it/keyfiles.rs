//! The key-file backend of `KeyProvider`.

use std::os::unix::fs::PermissionsExt;

use callvault_crypto::{
    DataKey, DekId, FieldKind, KeyError, KeyFileProvider, KeyProvider, WrapBinding,
};
use callvault_types::{CareProvider, RecordingId};

fn cp(s: &str) -> CareProvider {
    CareProvider::parse(s).expect("hsa")
}

fn binding() -> WrapBinding {
    WrapBinding {
        recording_id: RecordingId::new_random(),
        dek_id: DekId::generate().expect("id"),
    }
}

#[test]
fn wrap_unwrap_is_bound_to_recording_and_care_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = KeyFileProvider::create(&dir.path().join("keys")).expect("create");
    let a = cp("SE2321000016-0001");
    let b = cp("SE2321000032-0001");
    keys.ensure_care_provider(&a).expect("a");
    keys.ensure_care_provider(&b).expect("b");
    let dek = DataKey::generate().expect("dek");
    let bind = binding();
    let w = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
    assert_eq!(w.bytes.len(), 61);
    let back = keys.unwrap_dek(&a, &w, &bind).expect("unwrap");
    assert_eq!(back.expose_bytes(), dek.expose_bytes());
    // Another recording, or another care provider's KEK, cannot unwrap it.
    assert!(matches!(
        keys.unwrap_dek(&a, &w, &binding()),
        Err(KeyError::Unwrap)
    ));
    assert!(matches!(
        keys.unwrap_dek(&b, &w, &bind),
        Err(KeyError::Unwrap)
    ));
}

#[test]
fn rotation_adds_a_version_and_old_wraps_still_open_after_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    let a = cp("SE2321000016-0001");
    let dek = DataKey::generate().expect("dek");
    let bind = binding();
    let (w1, w2) = {
        let keys = KeyFileProvider::create(&path).expect("create");
        keys.ensure_care_provider(&a).expect("a");
        let w1 = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
        assert_eq!(keys.rotate_kek(&a).expect("rotate").0, 2);
        let w2 = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
        (w1, w2)
    };
    assert_eq!((w1.kek_version.0, w2.kek_version.0), (1, 2));
    let keys = KeyFileProvider::open(&path).expect("reopen");
    assert_eq!(keys.current_kek(&a).expect("current").0, 2);
    for w in [&w1, &w2] {
        let k = keys.unwrap_dek(&a, w, &bind).expect("unwrap");
        assert_eq!(k.expose_bytes(), dek.expose_bytes());
    }
    let listed = keys.list_keks().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed[1].current && !listed[0].current);
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
fn sealed_fields_and_blind_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = KeyFileProvider::create(&dir.path().join("keys")).expect("create");
    let a = cp("SE2321000016-0001");
    let b = cp("SE2321000032-0001");
    keys.ensure_care_provider(&a).expect("a");
    keys.ensure_care_provider(&b).expect("b");
    let v = b"pnr:191212121212";
    let s1 = keys
        .seal_field(&a, FieldKind::PatientId, b"ctx", v)
        .expect("seal");
    let s2 = keys
        .seal_field(&a, FieldKind::PatientId, b"ctx", v)
        .expect("seal");
    assert_ne!(s1, s2, "sealing is randomised");
    assert!(!s1.windows(v.len()).any(|w| w == v));
    assert_eq!(
        &*keys
            .open_field(&a, FieldKind::PatientId, b"ctx", &s1)
            .expect("open"),
        v
    );
    assert!(
        keys.open_field(&a, FieldKind::PatientId, b"other", &s1)
            .is_err()
    );
    assert!(
        keys.open_field(&a, FieldKind::CallerNumber, b"ctx", &s1)
            .is_err()
    );
    let i1 = keys.blind_index(&a, FieldKind::PatientId, v).expect("bidx");
    assert_eq!(
        i1,
        keys.blind_index(&a, FieldKind::PatientId, v).expect("bidx")
    );
    assert_ne!(
        i1,
        keys.blind_index(&b, FieldKind::PatientId, v).expect("bidx")
    );
    assert_ne!(
        i1,
        keys.blind_index(&a, FieldKind::CallerNumber, v)
            .expect("bidx")
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
