//! Byte compatibility with Google Tink's AES-GCM-HKDF streaming AEAD.
//!
//! Two directions: committed ciphertexts made by Tink must decrypt here (always runs), and a
//! live round trip through the Python `tink` package (installed by `scripts/test`) checks
//! that Tink decrypts what callvault writes, whole and for a range, and vice versa.

use std::path::{Path, PathBuf};
use std::process::Command;

use callvault_crypto::envelope::{ENVELOPE_LEN, EnvelopeHeader, open_blob};
use callvault_crypto::stream::{self, DecryptingStream, SEGMENT_SIZE};
use callvault_crypto::{DataKey, DekId};
use callvault_types::RecordingId;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tink")
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

fn vector_key() -> DataKey {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8;
    }
    DataKey::from_bytes(k)
}

#[test]
fn decrypts_every_committed_tink_vector_whole_and_by_range() {
    let aad = std::fs::read(vectors().join("aad.bin")).expect("aad");
    // The associated data is a real callvault v1 header.
    let header = EnvelopeHeader::decode(&aad).expect("header");
    assert_eq!(header.segment_size, SEGMENT_SIZE);
    for n in [0usize, 1, 65_480, 65_481, 196_520, 200_000] {
        let ct = std::fs::read(vectors().join(format!("pt{n}.ct"))).expect("vector");
        let want = pattern(n);
        let got =
            stream::decrypt_to_vec(&ct[..], &vector_key(), &aad, SEGMENT_SIZE).expect("decrypt");
        assert_eq!(got, want, "vector pt{n}");
        let d = DecryptingStream::open(&ct[..], &vector_key(), &aad, SEGMENT_SIZE).expect("open");
        for (a, b) in [
            (0, n / 3),
            (n / 2, n),
            (n.saturating_sub(1), n),
            (65_479.min(n), 65_482.min(n)),
        ] {
            let mut part = Vec::new();
            d.decrypt_range(a as u64..b as u64, |p| {
                part.extend_from_slice(p);
                Ok(())
            })
            .expect("range");
            assert_eq!(part, want[a..b], "pt{n} range {a}..{b}");
        }
    }
}

fn python_tink(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tink_interop.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed for the Tink interoperability test");
    assert!(
        out.status.success(),
        "Tink (Python package `tink`, installed by scripts/test) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tampered_empty_tink_stream_is_refused() {
    let aad = std::fs::read(vectors().join("aad.bin")).expect("aad");
    let mut ct = std::fs::read(vectors().join("pt0.ct")).expect("vector");
    assert!(stream::decrypt_to_vec(&ct[..], &vector_key(), &aad, SEGMENT_SIZE).is_ok());
    let last = ct.len() - 1;
    ct[last] ^= 1;
    assert!(stream::decrypt_to_vec(&ct[..], &vector_key(), &aad, SEGMENT_SIZE).is_err());
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn tink_decrypts_callvault_blobs_and_callvault_decrypts_tink() {
    // Boundary lengths: empty, one byte, exactly the first segment, one more, exactly three
    // segments, and a long odd length.
    for n in [0usize, 1, 65_480, 65_481, 196_520, 300_001] {
        round_trip_with_tink(n);
    }
}

fn round_trip_with_tink(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dek = DataKey::generate().expect("dek");
    let key_hex = hex::encode(dek.expose_bytes());
    let header = EnvelopeHeader::v1(RecordingId::new_random(), DekId::generate().expect("id"));
    let aad = header.encode();
    let aad_path = dir.path().join("aad");
    std::fs::write(&aad_path, aad).expect("write");
    let pt: Vec<u8> = (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    // callvault → Tink: strip the 42-byte envelope, hand the rest to Tink.
    let mut enc = header.encryptor(&pt[..], &dek).expect("encryptor");
    let mut blob = Vec::new();
    while let Some(c) = enc.next_chunk().expect("chunk") {
        blob.extend_from_slice(&c);
    }
    let ct_path = dir.path().join("cv.ct");
    std::fs::write(&ct_path, &blob[ENVELOPE_LEN..]).expect("write");
    let out_path = dir.path().join("cv.pt");
    python_tink(&[
        "decrypt",
        &key_hex,
        path(&aad_path),
        path(&ct_path),
        path(&out_path),
    ]);
    let tink_pt = std::fs::read(&out_path).expect("read");
    assert_eq!(
        tink_pt, pt,
        "Tink decryption of a callvault blob of {n} bytes"
    );

    // A range decrypted by callvault equals the same bytes of Tink's decryption. (Python
    // Tink has no random-access decryption; the range is checked against its whole output.)
    let opened = open_blob(&blob[..], &header, &dek).expect("open");
    let (a, b) = (n / 3, n - n / 5);
    let mut part = Vec::new();
    opened
        .decrypt_range(a as u64..b as u64, |p| {
            part.extend_from_slice(p);
            Ok(())
        })
        .expect("range");
    assert_eq!(part, tink_pt[a..b], "range {a}..{b} of {n}");

    // Tink → callvault.
    let pt_path = dir.path().join("t.pt");
    std::fs::write(&pt_path, &pt).expect("write");
    let tct_path = dir.path().join("t.ct");
    python_tink(&[
        "encrypt",
        &key_hex,
        path(&aad_path),
        path(&pt_path),
        path(&tct_path),
    ]);
    let tct = std::fs::read(&tct_path).expect("read");
    assert_eq!(
        tct.len(),
        blob.len() - ENVELOPE_LEN,
        "same layout as callvault's for {n} bytes"
    );
    let mut wrapped = aad.to_vec();
    wrapped.extend_from_slice(&tct);
    let opened =
        open_blob(&wrapped[..], &header, &dek).expect("open Tink output as a callvault blob");
    assert_eq!(opened.plaintext_len(), pt.len() as u64);
    let mut all = Vec::new();
    opened
        .decrypt_range(0..pt.len() as u64, |p| {
            all.extend_from_slice(p);
            Ok(())
        })
        .expect("decrypt");
    assert_eq!(all, pt, "callvault decryption of Tink output of {n} bytes");
}
