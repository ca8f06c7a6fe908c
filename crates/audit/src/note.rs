//! C2SP [signed notes](https://c2sp.org/signed-note) and
//! [checkpoints](https://c2sp.org/tlog-checkpoint) with Ed25519 keys.
//!
//! A signed note is a text ending in a newline, a blank line, and one or more signature
//! lines `— <key name> <base64(4-byte key id || signature)>` (U+2014 EM DASH, space). The
//! signature covers the text including its final newline but not the blank line. Key
//! strings use the `golang.org/x/mod/sumdb/note` encodings:
//!
//! * verifier key: `<name>+<8 hex digits key id>+<base64(0x01 || 32-byte public key)>`
//! * signer key: `PRIVATE+KEY+<name>+<8 hex digits key id>+<base64(0x01 || 32-byte seed)>`
//!
//! where the key id is the first four bytes of
//! `SHA-256(name || 0x0A || 0x01 || public key)`.
//!
//! A checkpoint is a note whose text is `<origin>\n<tree size>\n<base64 root hash>\n`
//! followed by optional non-empty extension lines.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::merkle::Hash;

/// Signature type byte of Ed25519 in key ids and key strings.
const ALG_ED25519: u8 = 0x01;
/// Prefix of every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Prefix of a signer (private) key string.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// Most signature lines accepted in one note (the Go reference limit).
pub const MAX_SIGNATURES: usize = 100;
/// Length of an Ed25519 seed and public key.
const ED25519_KEY_LEN: usize = 32;

/// Why a key, note or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The key name is empty or contains a Unicode space, `+` or a control character.
    #[error("key name must be non-empty without spaces, '+' or control characters")]
    InvalidKeyName,
    /// The verifier key string is not `<name>+<8 hex>+<base64 key>` with a 33-byte key.
    #[error("malformed verifier key")]
    MalformedVerifierKey,
    /// The signer key string is not `PRIVATE+KEY+<name>+<8 hex>+<base64 key>` with a
    /// 33-byte key.
    #[error("malformed signer key")]
    MalformedSignerKey,
    /// The key uses a signature type other than Ed25519 (`0x01`).
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedAlgorithm(u8),
    /// The key id in the key string is not the one derived from the name and key.
    #[error("key id does not match the key name and key")]
    KeyIdMismatch,
    /// The Ed25519 seed was rejected by the crypto library.
    #[error("Ed25519 seed rejected")]
    InvalidSeed,
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Randomness,
    /// The Ed25519 signing operation failed.
    #[error("Ed25519 signing failed")]
    SigningFailed,
    /// The text to sign is empty, does not end in a newline, or has a control character.
    #[error("note text must be non-empty, end in a newline and have no control characters")]
    InvalidText,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains a control character")]
    ControlCharacter,
    /// The note has no blank line separating the text from the signatures.
    #[error("note has no blank line before its signatures")]
    MissingSeparator,
    /// The signature block is empty or does not end in a newline.
    #[error("note has no newline-terminated signature block")]
    MalformedSignatureBlock,
    /// A signature line is malformed: no `— ` prefix, bad key name, bad base64, or fewer
    /// than 5 decoded bytes.
    #[error("malformed signature line {line}")]
    MalformedSignatureLine {
        /// 1-based position of the line within the signature block.
        line: usize,
    },
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature line names this verifier's key (name and key id) but does not verify.
    #[error("invalid signature by the verifier's key")]
    InvalidSignature,
    /// No signature line is from this verifier's key.
    #[error("note has no signature from the verifier's key")]
    NoMatchingSignature,
    /// The checkpoint text does not end in a newline or has fewer than three lines.
    #[error("checkpoint must have at least three newline-terminated lines")]
    CheckpointTruncated,
    /// The checkpoint origin line is empty or only whitespace.
    #[error("checkpoint origin is empty")]
    InvalidOrigin,
    /// The tree size is not a decimal `u64` without sign or leading zeros.
    #[error("checkpoint tree size is not a canonical decimal number")]
    InvalidTreeSize,
    /// The root hash is not the canonical base64 of exactly 32 bytes.
    #[error("checkpoint root hash is not base64 of 32 bytes")]
    InvalidRootHash,
    /// An extension line is empty or contains a newline.
    #[error("checkpoint extension line is empty or contains a newline")]
    InvalidExtension,
    /// The checkpoint origin is not the signing or verifying key's name.
    #[error("checkpoint origin does not match the key name")]
    OriginMismatch,
}

/// Whether `name` is a valid key name: non-empty, no Unicode spaces, no `+`, and (so that
/// notes stay valid) no ASCII control characters.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

/// Whether `text` contains an ASCII control character other than newline.
fn has_control_character(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// First four bytes of `SHA-256(name || 0x0A || encoded_key)`, where `encoded_key` is the
/// signature type byte followed by the public key.
fn key_id(name: &str, encoded_key: &[u8]) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(encoded_key);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

fn ed25519_key_id(name: &str, public_key: &[u8; ED25519_KEY_LEN]) -> [u8; 4] {
    let mut encoded = [0u8; 1 + ED25519_KEY_LEN];
    encoded[0] = ALG_ED25519;
    encoded[1..].copy_from_slice(public_key);
    key_id(name, &encoded)
}

/// Parses `<name>+<8 hex digits>+<base64>` into its parts, the key id decoded.
fn split_key_string(s: &str) -> Option<(&str, [u8; 4], &str)> {
    let (name, rest) = s.split_once('+')?;
    let (id_hex, key_b64) = rest.split_once('+')?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = u32::from_str_radix(id_hex, 16).ok()?.to_be_bytes();
    Some((name, id, key_b64))
}

fn hex_id(id: [u8; 4]) -> String {
    format!("{:08x}", u32::from_be_bytes(id))
}

/// An Ed25519 note signing key with its name.
///
/// The seed is never stored outside the crypto library's key object; temporary copies are
/// zeroized. `Debug` shows only the name and key id.
pub struct NoteSigner {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; ED25519_KEY_LEN],
    key_pair: Ed25519KeyPair,
}

impl NoteSigner {
    /// Generates a new random key named `name`, returning the signer and its signer key
    /// string (`PRIVATE+KEY+...`), which is secret.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidKeyName`] for an invalid name, [`NoteError::Randomness`] if the
    /// system RNG fails, [`NoteError::InvalidSeed`] if the key cannot be built.
    pub fn generate(name: &str) -> Result<(Self, String), NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let mut seed = Zeroizing::new([0u8; ED25519_KEY_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| NoteError::Randomness)?;
        let signer = Self::from_seed(name, &seed)?;
        let mut encoded = Zeroizing::new([0u8; 1 + ED25519_KEY_LEN]);
        encoded[0] = ALG_ED25519;
        encoded[1..].copy_from_slice(seed.as_ref());
        let b64 = Zeroizing::new(STANDARD.encode(encoded.as_ref()));
        let key = format!(
            "{SIGNER_KEY_PREFIX}{}+{}+{}",
            signer.name,
            hex_id(signer.key_id),
            b64.as_str()
        );
        Ok((signer, key))
    }

    /// Parses a signer key string `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedSignerKey`], [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedAlgorithm`], [`NoteError::InvalidSeed`], or
    /// [`NoteError::KeyIdMismatch`] if the key id is not the one of the derived public key.
    pub fn from_signer_key(key: &str) -> Result<Self, NoteError> {
        let rest = key
            .strip_prefix(SIGNER_KEY_PREFIX)
            .ok_or(NoteError::MalformedSignerKey)?;
        let (name, id, key_b64) = split_key_string(rest).ok_or(NoteError::MalformedSignerKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let decoded = Zeroizing::new(
            STANDARD
                .decode(key_b64)
                .map_err(|_| NoteError::MalformedSignerKey)?,
        );
        let (&alg, seed) = decoded.split_first().ok_or(NoteError::MalformedSignerKey)?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let seed: &[u8; ED25519_KEY_LEN] =
            seed.try_into().map_err(|_| NoteError::MalformedSignerKey)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    fn from_seed(name: &str, seed: &[u8; ED25519_KEY_LEN]) -> Result<Self, NoteError> {
        let key_pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| NoteError::InvalidSeed)?;
        let public_key: [u8; ED25519_KEY_LEN] = key_pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::InvalidSeed)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, &public_key),
            public_key,
            key_pair,
        })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id (big-endian).
    #[must_use]
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier key string `<name>+<key id>+<base64(0x01 || public key)>`.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        let mut encoded = [0u8; 1 + ED25519_KEY_LEN];
        encoded[0] = ALG_ED25519;
        encoded[1..].copy_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex_id(self.key_id),
            STANDARD.encode(encoded)
        )
    }

    /// Signs `text` and returns the complete signed note: the text, a blank line and one
    /// signature line.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidText`] if `text` is empty, does not end in a newline, or
    /// contains an ASCII control character other than newline;
    /// [`NoteError::SigningFailed`] if the crypto library fails.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || has_control_character(text) {
            return Err(NoteError::InvalidText);
        }
        let sig = self
            .key_pair
            .try_sign(text.as_bytes())
            .map_err(|_| NoteError::SigningFailed)?;
        let mut blob = Vec::with_capacity(4 + sig.as_ref().len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(&blob)
        ))
    }
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex_id(self.key_id))
            .field("key_pair", &"<redacted>")
            .finish()
    }
}

/// An Ed25519 note verification key with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; ED25519_KEY_LEN],
}

impl NoteVerifier {
    /// Parses a verifier key string `<name>+<key id>+<base64(0x01 || public key)>`.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedVerifierKey`], [`NoteError::InvalidKeyName`],
    /// [`NoteError::KeyIdMismatch`] if the key id is not derived from the name and key,
    /// [`NoteError::UnsupportedAlgorithm`] for a non-Ed25519 key.
    pub fn from_verifier_key(key: &str) -> Result<Self, NoteError> {
        let (name, id, key_b64) = split_key_string(key).ok_or(NoteError::MalformedVerifierKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let decoded = STANDARD
            .decode(key_b64)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        let (&alg, public_key) = decoded
            .split_first()
            .ok_or(NoteError::MalformedVerifierKey)?;
        if key_id(name, &decoded) != id {
            return Err(NoteError::KeyIdMismatch);
        }
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let public_key: [u8; ED25519_KEY_LEN] = public_key
            .try_into()
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: id,
            public_key,
        })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id (big-endian).
    #[must_use]
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// Parses a signed note and checks it is signed by this key; returns the note text
    /// (ending in a newline, without the blank line and signatures).
    ///
    /// Signature lines from other keys (different name or key id) are ignored, but must
    /// still be well-formed. Every line from this key must verify; at least one must exist.
    ///
    /// # Errors
    ///
    /// [`NoteError::ControlCharacter`], [`NoteError::MissingSeparator`],
    /// [`NoteError::MalformedSignatureBlock`], [`NoteError::MalformedSignatureLine`],
    /// [`NoteError::TooManySignatures`] for malformed notes;
    /// [`NoteError::InvalidSignature`] if a signature from this key does not verify;
    /// [`NoteError::NoMatchingSignature`] if no signature is from this key.
    pub fn verify(&self, note: &str) -> Result<String, NoteError> {
        if has_control_character(note) {
            return Err(NoteError::ControlCharacter);
        }
        // The text is separated from the signatures by the last blank line.
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let text = &note[..=split];
        let block = &note[split + 2..];
        let block = block
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedSignatureBlock)?;
        if block.split('\n').count() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }

        let public_key = UnparsedPublicKey::new(&ED25519, &self.public_key);
        let mut verified = false;
        for (i, line) in block.split('\n').enumerate() {
            let malformed = NoteError::MalformedSignatureLine { line: i + 1 };
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(malformed.clone())?;
            let (name, b64) = rest.split_once(' ').ok_or(malformed.clone())?;
            if !is_valid_name(name) || b64.is_empty() {
                return Err(malformed);
            }
            let raw = STANDARD.decode(b64).map_err(|_| malformed.clone())?;
            if raw.len() < 5 {
                return Err(malformed);
            }
            let (id, sig) = raw.split_at(4);
            if name != self.name || id != self.key_id {
                continue;
            }
            if public_key.verify(text.as_bytes(), sig).is_err() {
                return Err(NoteError::InvalidSignature);
            }
            verified = true;
        }
        if !verified {
            return Err(NoteError::NoMatchingSignature);
        }
        Ok(text.to_owned())
    }
}

/// A transparency log checkpoint (c2sp.org/tlog-checkpoint): the note text of a signed
/// tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line; for our logs, the key name of the log's signing key.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 root hash of the tree.
    pub root_hash: Hash,
    /// Opaque extension lines, each non-empty and without the trailing newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root hash and extension lines, each followed by
    /// a newline.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root_hash)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint note text strictly.
    ///
    /// # Errors
    ///
    /// [`NoteError::ControlCharacter`], [`NoteError::CheckpointTruncated`],
    /// [`NoteError::InvalidOrigin`], [`NoteError::InvalidTreeSize`],
    /// [`NoteError::InvalidRootHash`] or [`NoteError::InvalidExtension`].
    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        if has_control_character(body) {
            return Err(NoteError::ControlCharacter);
        }
        let content = body
            .strip_suffix('\n')
            .ok_or(NoteError::CheckpointTruncated)?;
        let mut lines = content.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::CheckpointTruncated);
        };
        if origin.trim().is_empty() {
            return Err(NoteError::InvalidOrigin);
        }
        let size = parse_tree_size(size).ok_or(NoteError::InvalidTreeSize)?;
        let root_hash: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|raw| raw.try_into().ok())
            .ok_or(NoteError::InvalidRootHash)?;
        let extensions = lines
            .map(|line| {
                if line.is_empty() {
                    Err(NoteError::InvalidExtension)
                } else {
                    Ok(line.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions,
        })
    }
}

/// ASCII decimal without sign or leading zeros (except `0` itself), fitting in `u64`.
fn parse_tree_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Signs `checkpoint` with `signer`, returning the signed note.
///
/// # Errors
///
/// [`NoteError::OriginMismatch`] if the origin is not the signer's key name,
/// [`NoteError::InvalidExtension`] for an empty extension or one containing a newline, and
/// any error of [`NoteSigner::sign`].
pub fn sign_checkpoint(signer: &NoteSigner, checkpoint: &Checkpoint) -> Result<String, NoteError> {
    if checkpoint.origin != signer.name() {
        return Err(NoteError::OriginMismatch);
    }
    if checkpoint
        .extensions
        .iter()
        .any(|ext| ext.is_empty() || ext.contains('\n'))
    {
        return Err(NoteError::InvalidExtension);
    }
    signer.sign(&checkpoint.to_body())
}

/// Verifies a signed checkpoint note with `verifier` and parses its text; the origin must
/// equal the verifier's key name.
///
/// # Errors
///
/// Any error of [`NoteVerifier::verify`] or [`Checkpoint::parse_body`], and
/// [`NoteError::OriginMismatch`] if the origin is not the verifier's key name.
pub fn verify_checkpoint(verifier: &NoteVerifier, note: &str) -> Result<Checkpoint, NoteError> {
    let body = verifier.verify(note)?;
    let checkpoint = Checkpoint::parse_body(&body)?;
    if checkpoint.origin != verifier.name() {
        return Err(NoteError::OriginMismatch);
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
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
        let secret = skey.rsplit('+').next().expect("base64 part");
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
}
