//! C2SP [tlog-cosignature](https://c2sp.org/tlog-cosignature) v1 with Ed25519: a witness's
//! timestamped statement that a checkpoint is the largest consistent tree it has seen for
//! the log.
//!
//! A cosignature is a note signature line `— <name> base64(key id || u64 BE timestamp ||
//! Ed25519 signature)` whose key id is the first four bytes of `SHA-256(name || 0x0A || 0x04
//! || public key)`, over the message
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <checkpoint text, final newline included>
//! ```
//!
//! Key strings follow the note conventions with signature type `0x04`: verifier
//! `<name>+<8 hex key id>+<base64(0x04 || public key)>`, signer
//! `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x04 || seed)>`.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::note::{
    NoteError, SIG_PREFIX, decode_signer_key, encode_signer_key, has_control_character, hex_id,
    is_valid_name, key_id, split_key_string,
};

/// Signature type byte of Ed25519 cosignatures (v1). Do not change.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Header line of the signed message. Do not change.
pub const COSIGNATURE_V1: &str = "cosignature/v1";

fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut encoded = [0u8; 33];
    encoded[0] = ALG_COSIGNATURE_V1;
    encoded[1..].copy_from_slice(public_key);
    key_id(name, &encoded)
}

fn message(checkpoint_text: &str, time: u64) -> String {
    format!("{COSIGNATURE_V1}\ntime {time}\n{checkpoint_text}")
}

/// A witness's Ed25519 cosigning key with its name.
pub struct Cosigner {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; 32],
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &hex_id(self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// A new random key named `name`, and its (secret) signer key string.
    pub fn generate(name: &str) -> Result<(Self, String), NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| NoteError::Randomness)?;
        let c = Self::from_seed(name, &seed)?;
        let key = encode_signer_key(name, c.key_id, ALG_COSIGNATURE_V1, &seed);
        Ok((c, key))
    }

    /// Parses a signer key string with signature type `0x04`.
    pub fn from_signer_key(key: &str) -> Result<Self, NoteError> {
        let (name, id, seed) = decode_signer_key(key, ALG_COSIGNATURE_V1)?;
        let seed: &[u8; 32] = &seed;
        let c = Self::from_seed(name, seed)?;
        if c.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(c)
    }

    pub(crate) fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        let key_pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| NoteError::InvalidSeed)?;
        let public_key: [u8; 32] = key_pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::InvalidSeed)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, &public_key),
            public_key,
            key_pair,
        })
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string (`<name>+<key id>+<base64(0x04 || public key)>`).
    pub fn verifier_key(&self) -> String {
        let mut encoded = [0u8; 33];
        encoded[0] = ALG_COSIGNATURE_V1;
        encoded[1..].copy_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex_id(self.key_id),
            STANDARD.encode(encoded)
        )
    }

    /// The cosignature line (ending in a newline) over `checkpoint_text` (the note text,
    /// without signatures) at POSIX time `time`.
    pub fn cosign(&self, checkpoint_text: &str, time: u64) -> Result<String, NoteError> {
        if !checkpoint_text.ends_with('\n') || has_control_character(checkpoint_text) {
            return Err(NoteError::InvalidText);
        }
        if time > i64::MAX as u64 {
            return Err(NoteError::SigningFailed);
        }
        let sig = self
            .key_pair
            .try_sign(message(checkpoint_text, time).as_bytes())
            .map_err(|_| NoteError::SigningFailed)?;
        let mut blob = Vec::with_capacity(4 + 8 + 64);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(&blob)
        ))
    }
}

/// A witness's public cosigning key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; 32],
}

impl CosignatureVerifier {
    /// Parses a verifier key string with signature type `0x04`.
    pub fn from_verifier_key(key: &str) -> Result<Self, NoteError> {
        let (name, id, b64) = split_key_string(key).ok_or(NoteError::MalformedVerifierKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let decoded = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        let (&alg, pk) = decoded
            .split_first()
            .ok_or(NoteError::MalformedVerifierKey)?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        if key_id(name, &decoded) != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: id,
            public_key: pk.try_into().map_err(|_| NoteError::MalformedVerifierKey)?,
        })
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies one signature line (with or without its newline) over `checkpoint_text`;
    /// returns the cosignature's timestamp. [`NoteError::NoMatchingSignature`] if the line is
    /// from another key.
    pub fn verify_line(&self, checkpoint_text: &str, line: &str) -> Result<u64, NoteError> {
        let malformed = NoteError::MalformedSignatureLine { line: 1 };
        let rest = line
            .trim_end_matches('\n')
            .strip_prefix(SIG_PREFIX)
            .ok_or(malformed.clone())?;
        let (name, b64) = rest.split_once(' ').ok_or(malformed.clone())?;
        let raw = STANDARD.decode(b64).map_err(|_| malformed.clone())?;
        if raw.len() != 4 + 8 + 64 {
            return Err(if name == self.name {
                malformed
            } else {
                NoteError::NoMatchingSignature
            });
        }
        if name != self.name || raw[..4] != self.key_id {
            return Err(NoteError::NoMatchingSignature);
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&raw[4..12]);
        let time = u64::from_be_bytes(t);
        if time > i64::MAX as u64 {
            return Err(NoteError::InvalidSignature);
        }
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(message(checkpoint_text, time).as_bytes(), &raw[12..])
            .map_err(|_| NoteError::InvalidSignature)?;
        Ok(time)
    }

    /// Finds and verifies this witness's cosignature among a note's signature lines;
    /// returns its timestamp.
    pub fn verify_note(&self, note: &str) -> Result<u64, NoteError> {
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let text = &note[..=split];
        for line in note[split + 2..].lines() {
            match self.verify_line(text, line) {
                Err(NoteError::NoMatchingSignature) => continue,
                other => return other,
            }
        }
        Err(NoteError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn known_answer_for_fixed_seed() {
        // Pins key id, key strings and the signed message layout: Ed25519 is
        // deterministic, so a fixed seed and time give one exact line.
        let c = Cosigner::from_seed("witness.example/w1", &[7u8; 32]).expect("key");
        let line = c.cosign(TEXT, 1_679_315_147).expect("cosign");
        // Pinned: a change to the key id, the key string, the message or the line layout
        // shows here. (The timestamp bytes `AAAAAGQYUMs` match the spec's own example.)
        assert_eq!(
            line,
            "\u{2014} witness.example/w1 qkoJ0QAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n"
        );
        assert_eq!(
            c.verifier_key(),
            "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
        );
        let v = CosignatureVerifier::from_verifier_key(&c.verifier_key()).expect("vkey");
        assert_eq!(v.verify_line(TEXT, &line), Ok(1_679_315_147));
        let raw = STANDARD
            .decode(line.trim_end().rsplit(' ').next().expect("b64"))
            .expect("b64");
        assert_eq!(raw.len(), 76);
        assert_eq!(&raw[..4], &c.key_id);
        assert_eq!(&raw[4..12], &1_679_315_147u64.to_be_bytes());
        // The signature is over exactly the documented message.
        UnparsedPublicKey::new(&ED25519, &c.public_key)
            .verify(
                format!("cosignature/v1\ntime 1679315147\n{TEXT}").as_bytes(),
                &raw[12..],
            )
            .expect("message layout");
        assert_eq!(
            c.verifier_key(),
            "witness.example/w1+".to_owned()
                + &hex_id(cosigner_key_id("witness.example/w1", &c.public_key))
                + "+"
                + &STANDARD.encode([&[0x04u8][..], &c.public_key].concat())
        );
    }

    #[test]
    fn tampering_and_foreign_keys_are_detected() {
        let (c, signer_key) = Cosigner::generate("w.example/1").expect("key");
        let again = Cosigner::from_signer_key(&signer_key).expect("parse");
        assert_eq!(again.verifier_key(), c.verifier_key());
        let v = CosignatureVerifier::from_verifier_key(&c.verifier_key()).expect("vkey");
        let line = c.cosign(TEXT, 5).expect("cosign");
        assert_eq!(v.verify_line(TEXT, &line), Ok(5));
        assert_eq!(
            v.verify_line(&TEXT.replace("20852163", "20852164"), &line),
            Err(NoteError::InvalidSignature)
        );
        let (other, _) = Cosigner::generate("w.example/2").expect("key");
        assert_eq!(
            v.verify_line(TEXT, &other.cosign(TEXT, 5).expect("cosign")),
            Err(NoteError::NoMatchingSignature)
        );
        // A note key (type 0x01) is not a cosigner key.
        let (note, _) = crate::note::NoteSigner::generate("w.example/1").expect("note key");
        assert_eq!(
            CosignatureVerifier::from_verifier_key(&note.verifier_key()),
            Err(NoteError::UnsupportedAlgorithm(0x01))
        );
        let note = format!("{TEXT}\n{line}");
        assert_eq!(v.verify_note(&note), Ok(5));
    }
}
