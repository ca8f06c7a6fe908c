//! The `KeyProvider` conformance suite: the same behaviour from every backend — key files
//! and a PKCS#11 token (SoftHSM2).

use std::sync::Arc;

use callvault_crypto::{
    DataKey, DekId, FieldKind, KekVersion, KeyError, KeyFileProvider, KeyProvider, WrapBinding,
};
use callvault_types::{CareProvider, RecordingId};

use crate::token::TestToken;

pub fn cp(s: &str) -> CareProvider {
    CareProvider::parse(s).expect("hsa")
}

pub fn binding() -> WrapBinding {
    WrapBinding {
        recording_id: RecordingId::new_random(),
        dek_id: DekId::generate().expect("id"),
    }
}

/// Storage that key providers can be opened on, again and again.
pub trait Backend {
    /// Opens a provider on this backend's storage (a second open sees what the first made).
    fn open(&self) -> Arc<dyn KeyProvider>;
}

pub struct Files {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Files {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        KeyFileProvider::create(&path).expect("create");
        Self { _dir: dir, path }
    }
}

impl Backend for Files {
    fn open(&self) -> Arc<dyn KeyProvider> {
        Arc::new(KeyFileProvider::open(&self.path).expect("open key directory"))
    }
}

impl Backend for TestToken {
    fn open(&self) -> Arc<dyn KeyProvider> {
        Arc::new(self.provider())
    }
}

pub fn wrap_unwrap_is_bound_to_recording_care_provider_and_version(b: &dyn Backend) {
    let keys = b.open();
    let a = cp("SE2321000016-0001");
    let other = cp("SE2321000032-0001");
    keys.ensure_care_provider(&a).expect("a");
    keys.ensure_care_provider(&other).expect("b");
    let dek = DataKey::generate().expect("dek");
    let bind = binding();
    let w = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
    assert_eq!(w.bytes.len(), 61, "0x01 ‖ IV (12) ‖ key (32) ‖ tag (16)");
    assert_eq!(w.bytes[0], 1);
    assert!(!w.bytes.windows(32).any(|x| x == dek.expose_bytes()));
    let back = keys.unwrap_dek(&a, &w, &bind).expect("unwrap");
    assert_eq!(back.expose_bytes(), dek.expose_bytes());
    // Another recording, another DEK id, another care provider's KEK: refused.
    assert!(matches!(
        keys.unwrap_dek(&a, &w, &binding()),
        Err(KeyError::Unwrap)
    ));
    let other_dek_id = WrapBinding {
        recording_id: bind.recording_id,
        dek_id: DekId::generate().expect("id"),
    };
    assert!(matches!(
        keys.unwrap_dek(&a, &w, &other_dek_id),
        Err(KeyError::Unwrap)
    ));
    assert!(matches!(
        keys.unwrap_dek(&other, &w, &bind),
        Err(KeyError::Unwrap)
    ));
    // Every flipped bit is refused.
    for i in [0, 1, 12, 13, 44, 60] {
        let mut bad = w.clone();
        bad.bytes[i] ^= 0x01;
        assert!(
            matches!(keys.unwrap_dek(&a, &bad, &bind), Err(KeyError::Unwrap)),
            "byte {i}"
        );
    }
    let mut short = w.clone();
    short.bytes.truncate(20);
    assert!(matches!(
        keys.unwrap_dek(&a, &short, &bind),
        Err(KeyError::Unwrap)
    ));
    // A wrap claiming another KEK version is bound to that version.
    keys.rotate_kek(&a).expect("rotate");
    let mut relabelled = w.clone();
    relabelled.kek_version = KekVersion(2);
    assert!(matches!(
        keys.unwrap_dek(&a, &relabelled, &bind),
        Err(KeyError::Unwrap)
    ));
    relabelled.kek_version = KekVersion(9);
    assert!(matches!(
        keys.unwrap_dek(&a, &relabelled, &bind),
        Err(KeyError::UnknownKekVersion { version: 9, .. })
    ));
    // Unknown care providers have no keys.
    let unknown = cp("SE2321000040-0001");
    assert!(matches!(
        keys.wrap_dek(&unknown, &dek, &bind),
        Err(KeyError::UnknownCareProvider(_))
    ));
    assert!(matches!(
        keys.current_kek(&unknown),
        Err(KeyError::UnknownCareProvider(_))
    ));
}

pub fn rotation_adds_a_version_and_old_wraps_open_after_reopen(b: &dyn Backend) {
    let a = cp("SE2321000016-0001");
    let dek = DataKey::generate().expect("dek");
    let bind = binding();
    let (w1, w2, field, index) = {
        let keys = b.open();
        keys.ensure_care_provider(&a).expect("a");
        keys.ensure_care_provider(&a).expect("idempotent");
        assert_eq!(keys.current_kek(&a).expect("current").0, 1);
        let w1 = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
        assert_eq!(keys.rotate_kek(&a).expect("rotate").0, 2);
        let w2 = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
        let field = keys
            .seal_field(&a, FieldKind::PatientId, b"rec", b"pnr:x")
            .expect("seal");
        let index = keys
            .blind_index(&a, FieldKind::PatientId, b"pnr:x")
            .expect("bidx");
        (w1, w2, field, index)
    };
    assert_eq!((w1.kek_version.0, w2.kek_version.0), (1, 2));
    let keys = b.open();
    keys.ensure_care_provider(&a)
        .expect("existing keys are kept");
    assert_eq!(keys.current_kek(&a).expect("current").0, 2);
    for w in [&w1, &w2] {
        let k = keys.unwrap_dek(&a, w, &bind).expect("unwrap");
        assert_eq!(k.expose_bytes(), dek.expose_bytes());
    }
    assert_eq!(
        &*keys
            .open_field(&a, FieldKind::PatientId, b"rec", &field)
            .expect("open"),
        b"pnr:x"
    );
    assert_eq!(
        keys.blind_index(&a, FieldKind::PatientId, b"pnr:x")
            .expect("bidx"),
        index
    );
    let listed = keys.list_keks().expect("list");
    let versions: Vec<(u32, bool)> = listed.iter().map(|k| (k.version.0, k.current)).collect();
    assert_eq!(versions, [(1, false), (2, true)]);
}

pub fn retired_versions_are_destroyed_never_the_current_one(b: &dyn Backend) {
    let keys = b.open();
    let a = cp("SE2321000016-0001");
    keys.ensure_care_provider(&a).expect("a");
    let dek = DataKey::generate().expect("dek");
    let bind = binding();
    let old = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
    assert!(matches!(
        keys.destroy_kek(&a, KekVersion(1)),
        Err(KeyError::CurrentKek { version: 1, .. })
    ));
    keys.rotate_kek(&a).expect("rotate");
    keys.destroy_kek(&a, KekVersion(1)).expect("destroy");
    keys.destroy_kek(&a, KekVersion(1)).expect("idempotent");
    assert!(matches!(
        keys.unwrap_dek(&a, &old, &bind),
        Err(KeyError::UnknownKekVersion { version: 1, .. })
    ));
    let reopened = b.open();
    assert!(matches!(
        reopened.unwrap_dek(&a, &old, &bind),
        Err(KeyError::UnknownKekVersion { version: 1, .. })
    ));
    let listed = reopened.list_keks().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version.0, 2);
    // The next rotation never reuses a destroyed version's number.
    assert_eq!(reopened.rotate_kek(&a).expect("rotate").0, 3);
}

pub fn sealed_fields_and_blind_indexes(b: &dyn Backend) {
    let keys = b.open();
    let a = cp("SE2321000016-0001");
    let other = cp("SE2321000032-0001");
    keys.ensure_care_provider(&a).expect("a");
    keys.ensure_care_provider(&other).expect("b");
    let v = b"pnr:191212121212";
    let s1 = keys
        .seal_field(&a, FieldKind::PatientId, b"ctx", v)
        .expect("seal");
    let s2 = keys
        .seal_field(&a, FieldKind::PatientId, b"ctx", v)
        .expect("seal");
    assert_ne!(s1, s2, "sealing is randomised");
    assert_eq!(s1.len(), 1 + 12 + v.len() + 16);
    assert!(!s1.windows(v.len()).any(|w| w == v));
    assert_eq!(
        &*keys
            .open_field(&a, FieldKind::PatientId, b"ctx", &s1)
            .expect("open"),
        v
    );
    for (cp_, kind, ctx) in [
        (&a, FieldKind::PatientId, &b"other"[..]),
        (&a, FieldKind::CallerNumber, &b"ctx"[..]),
        (&other, FieldKind::PatientId, &b"ctx"[..]),
    ] {
        assert!(matches!(
            keys.open_field(cp_, kind, ctx, &s1),
            Err(KeyError::Unwrap)
        ));
    }
    let empty = keys
        .seal_field(&a, FieldKind::FreeText, b"", b"")
        .expect("seal empty");
    assert!(
        keys.open_field(&a, FieldKind::FreeText, b"", &empty)
            .expect("open")
            .is_empty()
    );
    let i1 = keys.blind_index(&a, FieldKind::PatientId, v).expect("bidx");
    assert_eq!(
        i1,
        keys.blind_index(&a, FieldKind::PatientId, v).expect("bidx")
    );
    assert_ne!(
        i1,
        keys.blind_index(&other, FieldKind::PatientId, v)
            .expect("bidx")
    );
    assert_ne!(
        i1,
        keys.blind_index(&a, FieldKind::CallerNumber, v)
            .expect("bidx")
    );
    assert_ne!(
        i1,
        keys.blind_index(&a, FieldKind::PatientId, b"pnr:191212121213")
            .expect("bidx")
    );
}

pub fn many_threads_share_one_provider(b: &dyn Backend) {
    let keys = b.open();
    let a = cp("SE2321000016-0001");
    keys.ensure_care_provider(&a).expect("a");
    std::thread::scope(|s| {
        for t in 0..8 {
            let keys = Arc::clone(&keys);
            let a = a.clone();
            s.spawn(move || {
                for i in 0..25 {
                    let dek = DataKey::generate().expect("dek");
                    let bind = binding();
                    let w = keys.wrap_dek(&a, &dek, &bind).expect("wrap");
                    let back = keys.unwrap_dek(&a, &w, &bind).expect("unwrap");
                    assert_eq!(back.expose_bytes(), dek.expose_bytes(), "thread {t} op {i}");
                    let v = format!("pnr:{t}-{i}");
                    let sealed = keys
                        .seal_field(&a, FieldKind::PatientId, b"c", v.as_bytes())
                        .expect("seal");
                    let opened = keys
                        .open_field(&a, FieldKind::PatientId, b"c", &sealed)
                        .expect("open");
                    assert_eq!(&*opened, v.as_bytes());
                    keys.blind_index(&a, FieldKind::PatientId, v.as_bytes())
                        .expect("bidx");
                }
            });
        }
    });
}

macro_rules! conformance {
    ($module:ident, $backend:expr) => {
        mod $module {
            #[test]
            fn wrap_unwrap_is_bound_to_recording_care_provider_and_version() {
                super::wrap_unwrap_is_bound_to_recording_care_provider_and_version(&$backend);
            }
            #[test]
            fn rotation_adds_a_version_and_old_wraps_open_after_reopen() {
                super::rotation_adds_a_version_and_old_wraps_open_after_reopen(&$backend);
            }
            #[test]
            fn retired_versions_are_destroyed_never_the_current_one() {
                super::retired_versions_are_destroyed_never_the_current_one(&$backend);
            }
            #[test]
            fn sealed_fields_and_blind_indexes() {
                super::sealed_fields_and_blind_indexes(&$backend);
            }
            #[test]
            fn many_threads_share_one_provider() {
                super::many_threads_share_one_provider(&$backend);
            }
        }
    };
}

conformance!(key_files, super::Files::new());
conformance!(pkcs11, crate::token::TestToken::new());
