//! A recording blob as read back from a site: header, Tink stream header, segments. Only
//! the one authentic blob (the seed `authentic`, made by `seeds` under the fixed key)
//! decrypts; every other input is refused, whichever range is asked for.
#![no_main]

use callvault_crypto::envelope::{DekId, EnvelopeHeader, open_blob};
use callvault_crypto::secret::DataKey;
use callvault_fuzz::seeds::{BLOB_DEK_ID, BLOB_KEY, BLOB_RECORDING, blob_plaintext};
use callvault_types::RecordingId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let expected = EnvelopeHeader::v1(RecordingId::from_bytes(BLOB_RECORDING), DekId(BLOB_DEK_ID));
    let key = DataKey::from_bytes(BLOB_KEY);
    let Ok(blob) = open_blob(data, &expected, &key) else {
        return;
    };
    let len = blob.plaintext_len();
    let mut all = Vec::new();
    let whole = blob.decrypt_range(0..len, |c| {
        all.extend_from_slice(c);
        Ok(())
    });
    if whole.is_ok() {
        assert_eq!(all, blob_plaintext(), "a forged blob decrypted");
        assert!(blob.hash_all().is_ok());
    }
    // Partial ranges anywhere (including past the end) never panic.
    for (a, b) in [
        (0, 1),
        (len / 2, len),
        (len.saturating_sub(1), len + 5),
        (len + 1, len + 2),
    ] {
        let _ = blob.decrypt_range(a..b, |_| Ok(()));
    }
});
