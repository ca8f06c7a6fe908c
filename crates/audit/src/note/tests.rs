use super::*;
use crate::merkle;

// golang.org/x/mod/sumdb/note reference example (package documentation and tests).
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_SIG_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// Pinned known answers for seed = 32 bytes of 0x01 (also cross-checked against an
// independent Ed25519 implementation, Python `cryptography`).
const KAT_NAME: &str = "audit.callvault.example";
const KAT_VKEY: &str =
    "audit.callvault.example+74fb28a5+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
const KAT_SIG_LINE: &str = "\u{2014} audit.callvault.example dPsopYL3LVihtloTBAguJo0tpwXhAo86oYa3y7p3R3XkNSmhJp+qi4I0m7IhemUcGBO++44k34xTV96B8tOLt8JcvQ0=\n";
const KAT_CHECKPOINT_NOTE: &str = "audit.callvault.example\n\
    8\n\
    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
    \n\
    \u{2014} audit.callvault.example dPsopYCp3kJYRh/yCRTNis/BDU436NOMLtMUc970g4oaJyAf+9/BKiyYlrgAIxjsIjofRSPqBD11JJ2P6+T4ebIw4Qk=\n";
const ROOT8_HEX: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

fn peter_note() -> String {
    format!("{PETER_TEXT}\n{PETER_SIG_LINE}")
}

fn kat_signer() -> NoteSigner {
    NoteSigner::from_seed(KAT_NAME, &[0x01; 32]).expect("signer")
}

fn verifier_of(signer: &NoteSigner) -> NoteVerifier {
    NoteVerifier::from_verifier_key(&signer.verifier_key()).expect("verifier")
}

fn sample_checkpoint(origin: &str) -> Checkpoint {
    let leaves: Vec<Hash> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
    Checkpoint {
        origin: origin.to_owned(),
        size: 5,
        root_hash: merkle::root(&leaves),
        extensions: Vec::new(),
    }
}

/// A syntactically valid signature line from an unrelated key.
fn foreign_sig_line() -> String {
    let (other, _) = NoteSigner::generate("other.example/log").expect("generate");
    let note = other.sign("whatever\n").expect("signs");
    note["whatever\n\n".len()..].to_owned()
}

#[test]
fn go_reference_note_verifies() {
    let v = NoteVerifier::from_verifier_key(PETER_VKEY).expect("verifier");
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(v.verify(&peter_note()).expect("verifies"), PETER_TEXT);
}

#[test]
fn go_reference_signer_reproduces_note() {
    let s = NoteSigner::from_signer_key(PETER_SKEY).expect("signer");
    assert_eq!(s.name(), "PeterNeumann");
    assert_eq!(s.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(s.verifier_key(), PETER_VKEY);
    assert_eq!(s.sign(PETER_TEXT).expect("signs"), peter_note());
}

#[test]
fn known_answer_for_fixed_seed() {
    let s = kat_signer();
    assert_eq!(s.verifier_key(), KAT_VKEY);
    let note = s.sign("hello\n").expect("signs");
    assert_eq!(note, format!("hello\n\n{KAT_SIG_LINE}"));
    let v = NoteVerifier::from_verifier_key(KAT_VKEY).expect("verifier");
    assert_eq!(v.verify(&note).expect("verifies"), "hello\n");
}

#[test]
fn known_answer_checkpoint() {
    let root: Hash = hex::decode(ROOT8_HEX)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let cp = Checkpoint {
        origin: KAT_NAME.to_owned(),
        size: 8,
        root_hash: root,
        extensions: Vec::new(),
    };
    assert_eq!(
        sign_checkpoint(&kat_signer(), &cp).expect("signs"),
        KAT_CHECKPOINT_NOTE
    );
    let v = NoteVerifier::from_verifier_key(KAT_VKEY).expect("verifier");
    assert_eq!(verify_checkpoint(&v, KAT_CHECKPOINT_NOTE), Ok(cp));
}

#[test]
fn generated_key_round_trips_through_key_strings() {
    let (signer, skey) = NoteSigner::generate(KAT_NAME).expect("generate");
    assert!(skey.starts_with("PRIVATE+KEY+audit.callvault.example+"));
    let reparsed = NoteSigner::from_signer_key(&skey).expect("parse signer key");
    assert_eq!(reparsed.verifier_key(), signer.verifier_key());
    assert_eq!(reparsed.key_id(), signer.key_id());
    let v = verifier_of(&signer);
    assert_eq!(v.name(), KAT_NAME);
    assert_eq!(v.key_id(), signer.key_id());
    let note = reparsed.sign("x\n").expect("signs");
    assert_eq!(v.verify(&note).expect("verifies"), "x\n");
    // Two generated keys differ.
    let (other, _) = NoteSigner::generate(KAT_NAME).expect("generate");
    assert_ne!(other.verifier_key(), signer.verifier_key());
}

#[test]
fn signer_debug_is_redacted() {
    let (signer, skey) = NoteSigner::generate(KAT_NAME).expect("generate");
    let debug = format!("{signer:?}");
    // PRIVATE+KEY+<name>+<key id>+<base64 key>; the base64 itself may contain '+'.
    let secret = skey.splitn(5, '+').nth(4).expect("base64 part");
    assert!(secret.len() > 40, "{secret}");
    assert!(!debug.contains(secret));
    assert!(debug.contains("redacted"));
    assert!(debug.contains(KAT_NAME));
}

#[test]
fn checkpoint_sign_verify_round_trip() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let mut cp = sample_checkpoint(KAT_NAME);
    let note = sign_checkpoint(&signer, &cp).expect("signs");
    assert_eq!(verify_checkpoint(&v, &note), Ok(cp.clone()));

    cp.extensions = vec!["ext one".to_owned(), "two".to_owned()];
    let note = sign_checkpoint(&signer, &cp).expect("signs");
    assert_eq!(verify_checkpoint(&v, &note), Ok(cp));
}

#[test]
fn tampered_checkpoints_fail() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let cp = sample_checkpoint(KAT_NAME);
    let note = sign_checkpoint(&signer, &cp).expect("signs");
    let root_b64 = STANDARD.encode(cp.root_hash);

    // Size changed.
    let bad = note.replacen("\n5\n", "\n6\n", 1);
    assert_ne!(bad, note);
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::InvalidSignature)
    );

    // Root changed.
    let mut other_root = cp.root_hash;
    other_root[0] ^= 1;
    let bad = note.replacen(&root_b64, &STANDARD.encode(other_root), 1);
    assert_ne!(bad, note);
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::InvalidSignature)
    );

    // Origin changed: the signature line still names the key, so it must fail.
    let bad = note.replacen("audit.callvault.example\n", "audit.callvault.exampl\n", 1);
    assert_ne!(bad, note);
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::InvalidSignature)
    );

    // Extension line added.
    let bad = note.replacen("=\n\n", "=\nextra\n\n", 1);
    assert_ne!(bad, note);
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::InvalidSignature)
    );

    // A byte of the signature changed (past the key id).
    let sig_start = note.rfind(' ').expect("space") + 1;
    let blob = STANDARD
        .decode(note[sig_start..].trim_end())
        .expect("base64");
    for pos in [4, 30, blob.len() - 1] {
        let mut bad_blob = blob.clone();
        bad_blob[pos] ^= 0x80;
        let bad = format!("{}{}\n", &note[..sig_start], STANDARD.encode(&bad_blob));
        assert_eq!(
            verify_checkpoint(&v, &bad),
            Err(NoteError::InvalidSignature),
            "byte {pos}"
        );
    }

    // A byte of the key id changed: the line no longer names this key.
    let mut bad_blob = blob.clone();
    bad_blob[0] ^= 1;
    let bad = format!("{}{}\n", &note[..sig_start], STANDARD.encode(&bad_blob));
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::NoMatchingSignature)
    );

    // Truncated signature (63 bytes).
    let bad = format!(
        "{}{}\n",
        &note[..sig_start],
        STANDARD.encode(&blob[..blob.len() - 1])
    );
    assert_eq!(
        verify_checkpoint(&v, &bad),
        Err(NoteError::InvalidSignature)
    );
}

#[test]
fn another_key_with_same_name_fails() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let imposter = NoteSigner::from_seed(KAT_NAME, &[0x02; 32]).expect("signer");
    assert_ne!(imposter.key_id(), signer.key_id());
    let cp = sample_checkpoint(KAT_NAME);
    let note = sign_checkpoint(&imposter, &cp).expect("signs");
    // Different key id: the line is from an unknown key and ignored.
    assert_eq!(
        verify_checkpoint(&v, &note),
        Err(NoteError::NoMatchingSignature)
    );

    // Same name and forged key id but the imposter's signature: must not verify.
    let sig_start = note.rfind(' ').expect("space") + 1;
    let mut blob = STANDARD
        .decode(note[sig_start..].trim_end())
        .expect("base64");
    blob[..4].copy_from_slice(&signer.key_id());
    let forged = format!("{}{}\n", &note[..sig_start], STANDARD.encode(&blob));
    assert_eq!(
        verify_checkpoint(&v, &forged),
        Err(NoteError::InvalidSignature)
    );

    // A verifier key string with the imposter's key under the signer's id is refused.
    let forged_vkey = format!(
        "{KAT_NAME}+{}+{}",
        hex_id(signer.key_id()),
        imposter
            .verifier_key()
            .rsplit('+')
            .next()
            .expect("key part")
    );
    assert_eq!(
        NoteVerifier::from_verifier_key(&forged_vkey),
        Err(NoteError::KeyIdMismatch)
    );
}

#[test]
fn foreign_signature_lines_are_ignored() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let note = signer.sign("body\n").expect("signs");
    let foreign = foreign_sig_line();
    let (text, own_line) = note.split_at("body\n\n".len());

    let before = format!("{text}{foreign}{own_line}");
    assert_eq!(v.verify(&before).expect("verifies"), "body\n");
    let after = format!("{text}{own_line}{foreign}");
    assert_eq!(v.verify(&after).expect("verifies"), "body\n");

    // Foreign signatures alone are not enough.
    let only_foreign = format!("{text}{foreign}");
    assert_eq!(v.verify(&only_foreign), Err(NoteError::NoMatchingSignature));

    // The Go reference note is foreign to our key, and ours to it.
    let combined = format!("{}{own_line}", peter_note());
    assert_eq!(v.verify(&combined), Err(NoteError::InvalidSignature));
    let peter = NoteVerifier::from_verifier_key(PETER_VKEY).expect("verifier");
    assert_eq!(peter.verify(&combined).expect("verifies"), PETER_TEXT);
}

#[test]
fn repeated_own_signature_must_all_verify() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let note = signer.sign("body\n").expect("signs");
    let own_line = &note["body\n\n".len()..];
    let twice = format!("{note}{own_line}");
    assert_eq!(v.verify(&twice).expect("verifies"), "body\n");

    let other = signer.sign("other\n").expect("signs");
    let other_line = &other["other\n\n".len()..];
    let mixed = format!("{note}{other_line}");
    assert_eq!(v.verify(&mixed), Err(NoteError::InvalidSignature));
}

#[test]
fn text_may_contain_blank_lines() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let text = "first\n\nthird\n\n";
    let note = signer.sign(text).expect("signs");
    assert_eq!(v.verify(&note).expect("verifies"), text);
}

#[test]
fn malformed_notes_are_rejected() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let note = signer.sign("body\n").expect("signs");
    let own_line = &note["body\n\n".len()..];
    let sig_b64 = own_line.rsplit(' ').next().expect("sig").trim_end();

    // No blank line between text and signatures.
    let bad = note.replacen("body\n\n", "body\n", 1);
    assert_eq!(v.verify(&bad), Err(NoteError::MissingSeparator));
    // Signature block not newline-terminated.
    let bad = note.trim_end_matches('\n');
    assert_eq!(v.verify(bad), Err(NoteError::MalformedSignatureBlock));
    // Nothing after the blank line.
    assert_eq!(
        v.verify("body\n\n"),
        Err(NoteError::MalformedSignatureBlock)
    );
    // Wrong dash (ASCII hyphens / en dash) or missing space.
    for prefix in ["-- ", "- ", "\u{2013} ", "\u{2014}", " \u{2014} "] {
        let bad = format!("body\n\n{prefix}{KAT_NAME} {sig_b64}\n");
        assert_eq!(
            v.verify(&bad),
            Err(NoteError::MalformedSignatureLine { line: 1 }),
            "{prefix:?}"
        );
    }
    // Bad base64, empty signature, missing signature, too short (4 bytes).
    for sig in ["!!!!", "", "AAAA", "AAAAAA=="] {
        let bad = format!("body\n\n\u{2014} {KAT_NAME} {sig}\n");
        assert_eq!(
            v.verify(&bad),
            Err(NoteError::MalformedSignatureLine { line: 1 }),
            "{sig:?}"
        );
    }
    let bad = format!("body\n\n\u{2014} {KAT_NAME}\n");
    assert_eq!(
        v.verify(&bad),
        Err(NoteError::MalformedSignatureLine { line: 1 })
    );
    // Malformed line from an unknown key still rejects the note.
    let bad = format!("{note}\u{2014} someone.else bad!\n");
    assert_eq!(
        v.verify(&bad),
        Err(NoteError::MalformedSignatureLine { line: 2 })
    );
    // Empty key name.
    let bad = format!("body\n\n\u{2014}  {sig_b64}\n");
    assert_eq!(
        v.verify(&bad),
        Err(NoteError::MalformedSignatureLine { line: 1 })
    );
    // Control characters anywhere.
    let bad = note.replacen("body", "bo\rdy", 1);
    assert_eq!(v.verify(&bad), Err(NoteError::ControlCharacter));
    let bad = note.replacen("body", "bo\tdy", 1);
    assert_eq!(v.verify(&bad), Err(NoteError::ControlCharacter));
    // Trailing garbage after the last signature line.
    let bad = format!("{note}trailing\n");
    assert_eq!(
        v.verify(&bad),
        Err(NoteError::MalformedSignatureLine { line: 2 })
    );
}

#[test]
fn signature_count_is_limited() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let note = signer.sign("body\n").expect("signs");
    let foreign = foreign_sig_line();

    let mut at_limit = note.clone();
    for _ in 1..MAX_SIGNATURES {
        at_limit.push_str(&foreign);
    }
    assert_eq!(v.verify(&at_limit).expect("verifies"), "body\n");

    let over = format!("{at_limit}{foreign}");
    assert_eq!(v.verify(&over), Err(NoteError::TooManySignatures));
}

#[test]
fn signing_rejects_invalid_text() {
    let signer = kat_signer();
    for text in ["", "no newline", "a\tb\n", "nul\0\n"] {
        assert_eq!(signer.sign(text), Err(NoteError::InvalidText), "{text:?}");
    }
}

#[test]
fn invalid_key_names_are_rejected() {
    for name in ["", "a b", "a+b", "tab\there", "nbsp\u{a0}x", "ctl\u{1}x"] {
        assert_eq!(
            NoteSigner::generate(name).map(|_| ()),
            Err(NoteError::InvalidKeyName),
            "{name:?}"
        );
    }
}

#[test]
fn malformed_verifier_keys_are_rejected() {
    assert!(NoteVerifier::from_verifier_key(PETER_VKEY).is_ok());
    // Every strict prefix and every proper substring of a valid key is invalid.
    for end in 0..PETER_VKEY.len() {
        assert!(
            NoteVerifier::from_verifier_key(&PETER_VKEY[..end]).is_err(),
            "prefix {end}"
        );
    }
    for start in 1..PETER_VKEY.len() {
        assert!(
            NoteVerifier::from_verifier_key(&PETER_VKEY[start..]).is_err(),
            "suffix {start}"
        );
    }
    // Any single changed character is invalid (byte + 1, as in the Go reference tests).
    for i in 0..PETER_VKEY.len() {
        let mut bytes = PETER_VKEY.as_bytes().to_vec();
        bytes[i] += 1;
        let mangled = String::from_utf8(bytes).expect("ascii");
        assert!(
            NoteVerifier::from_verifier_key(&mangled).is_err(),
            "{mangled}"
        );
    }
    // Key id mismatch.
    assert_eq!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::KeyIdMismatch)
    );
    // Wrong key length and unknown algorithm, each with a matching key id (from the Go
    // reference tests).
    assert_eq!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(NoteError::MalformedVerifierKey)
    );
    assert_eq!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::UnsupportedAlgorithm(0x65))
    );
    // Bad hex id.
    assert_eq!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::MalformedVerifierKey)
    );
    // Uppercase hex is accepted, as by the Go reference.
    assert!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_ok()
    );
}

#[test]
fn malformed_signer_keys_are_rejected() {
    assert!(NoteSigner::from_signer_key(PETER_SKEY).is_ok());
    for end in 0..PETER_SKEY.len() {
        assert!(
            NoteSigner::from_signer_key(&PETER_SKEY[..end]).is_err(),
            "prefix {end}"
        );
    }
    for i in 0..PETER_SKEY.len() {
        let mut bytes = PETER_SKEY.as_bytes().to_vec();
        bytes[i] += 1;
        let mangled = String::from_utf8(bytes).expect("ascii");
        assert!(NoteSigner::from_signer_key(&mangled).is_err(), "{mangled}");
    }
    // The verifier key is not a signer key.
    assert_eq!(
        NoteSigner::from_signer_key(PETER_VKEY).map(|_| ()),
        Err(NoteError::MalformedSignerKey)
    );
    // Valid seed under the wrong name: key id no longer matches.
    assert_eq!(
        NoteSigner::from_signer_key(
            "PRIVATE+KEY+PeterNeumanm+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
        )
        .map(|_| ()),
        Err(NoteError::KeyIdMismatch)
    );
}

#[test]
fn checkpoint_body_round_trip_and_format() {
    let cp = sample_checkpoint("example.com/log");
    let body = cp.to_body();
    assert_eq!(
        body,
        format!("example.com/log\n5\n{}\n", STANDARD.encode(cp.root_hash))
    );
    assert_eq!(Checkpoint::parse_body(&body), Ok(cp.clone()));

    let with_ext = Checkpoint {
        extensions: vec!["a b c".to_owned(), "— d".to_owned()],
        ..cp
    };
    let body = with_ext.to_body();
    assert!(body.ends_with("\na b c\n— d\n"));
    assert_eq!(Checkpoint::parse_body(&body), Ok(with_ext));

    let empty = Checkpoint {
        origin: "o".to_owned(),
        size: 0,
        root_hash: merkle::empty_root(),
        extensions: Vec::new(),
    };
    assert_eq!(
        empty.to_body(),
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
    assert_eq!(Checkpoint::parse_body(&empty.to_body()), Ok(empty));
}

#[test]
fn checkpoint_spec_example_parses() {
    // The example from c2sp.org/tlog-checkpoint.
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse_body(body).expect("parses");
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20_852_163);
    assert_eq!(cp.to_body(), body);
}

#[test]
fn malformed_checkpoint_bodies_are_rejected() {
    let root = STANDARD.encode([7u8; 32]);
    let cases: Vec<(String, NoteError)> = vec![
        (format!("o\n1\n{root}"), NoteError::CheckpointTruncated),
        ("o\n1\n".to_owned(), NoteError::CheckpointTruncated),
        ("o\n".to_owned(), NoteError::CheckpointTruncated),
        (String::new(), NoteError::CheckpointTruncated),
        (format!("\n1\n{root}\n"), NoteError::InvalidOrigin),
        (format!("   \n1\n{root}\n"), NoteError::InvalidOrigin),
        (format!("o\n01\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n00\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n+1\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n-1\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n 1\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n\n{root}\n"), NoteError::InvalidTreeSize),
        (format!("o\n1e3\n{root}\n"), NoteError::InvalidTreeSize),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            NoteError::InvalidTreeSize,
        ),
        (
            format!("o\n1\n{}\n", STANDARD.encode([7u8; 31])),
            NoteError::InvalidRootHash,
        ),
        (
            format!("o\n1\n{}\n", STANDARD.encode([7u8; 33])),
            NoteError::InvalidRootHash,
        ),
        (
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            NoteError::InvalidRootHash,
        ),
        ("o\n1\nnot base64!\n".to_owned(), NoteError::InvalidRootHash),
        (format!("o\n1\n{root}\n\n"), NoteError::InvalidExtension),
        (
            format!("o\n1\n{root}\next\n\n"),
            NoteError::InvalidExtension,
        ),
        (format!("o\n1\r\n{root}\n"), NoteError::ControlCharacter),
    ];
    for (body, want) in cases {
        assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
    }
    assert_eq!(
        Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n")).map(|cp| cp.size),
        Ok(u64::MAX)
    );
}

#[test]
fn checkpoint_origin_must_match_key_name() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let cp = sample_checkpoint("some.other/log");
    assert_eq!(
        sign_checkpoint(&signer, &cp),
        Err(NoteError::OriginMismatch)
    );
    // A correctly signed note whose origin is not the key name.
    let note = signer.sign(&cp.to_body()).expect("signs");
    assert_eq!(verify_checkpoint(&v, &note), Err(NoteError::OriginMismatch));
}

#[test]
fn sign_checkpoint_rejects_bad_extensions() {
    let signer = kat_signer();
    for ext in ["", "two\nlines"] {
        let cp = Checkpoint {
            extensions: vec![ext.to_owned()],
            ..sample_checkpoint(KAT_NAME)
        };
        assert_eq!(
            sign_checkpoint(&signer, &cp),
            Err(NoteError::InvalidExtension),
            "{ext:?}"
        );
    }
}

#[test]
fn verify_checkpoint_rejects_signed_non_checkpoint() {
    let signer = kat_signer();
    let v = verifier_of(&signer);
    let note = signer
        .sign(&format!("{KAT_NAME}\nnot a size\n"))
        .expect("signs");
    assert_eq!(
        verify_checkpoint(&v, &note),
        Err(NoteError::CheckpointTruncated)
    );
}
