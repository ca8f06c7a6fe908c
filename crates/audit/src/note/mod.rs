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
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";
/// Prefix of a signer (private) key string.
pub(crate) const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";
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
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

/// Whether `text` contains an ASCII control character other than newline.
pub(crate) fn has_control_character(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// First four bytes of `SHA-256(name || 0x0A || encoded_key)`, where `encoded_key` is the
/// signature type byte followed by the public key.
pub(crate) fn key_id(name: &str, encoded_key: &[u8]) -> [u8; 4] {
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
pub(crate) fn split_key_string(s: &str) -> Option<(&str, [u8; 4], &str)> {
    let (name, rest) = s.split_once('+')?;
    let (id_hex, key_b64) = rest.split_once('+')?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = u32::from_str_radix(id_hex, 16).ok()?.to_be_bytes();
    Some((name, id, key_b64))
}

/// `PRIVATE+KEY+<name>+<key id>+<base64(alg || seed)>`: the secret key string of an
/// Ed25519 key of signature type `alg`.
pub(crate) fn encode_signer_key(name: &str, id: [u8; 4], alg: u8, seed: &[u8; 32]) -> String {
    let mut encoded = Zeroizing::new([0u8; 33]);
    encoded[0] = alg;
    encoded[1..].copy_from_slice(seed);
    let b64 = Zeroizing::new(STANDARD.encode(encoded.as_ref()));
    format!("{SIGNER_KEY_PREFIX}{name}+{}+{}", hex_id(id), b64.as_str())
}

/// A decoded secret key string: name, stated key id, seed.
pub(crate) type DecodedSignerKey<'a> = (&'a str, [u8; 4], Zeroizing<[u8; 32]>);

/// Parses a secret key string of signature type `alg`: its name, stated key id and seed
/// (the caller derives the key and checks the id).
pub(crate) fn decode_signer_key(key: &str, alg: u8) -> Result<DecodedSignerKey<'_>, NoteError> {
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
    let (&found, seed) = decoded.split_first().ok_or(NoteError::MalformedSignerKey)?;
    if found != alg {
        return Err(NoteError::UnsupportedAlgorithm(found));
    }
    let seed: [u8; 32] = seed.try_into().map_err(|_| NoteError::MalformedSignerKey)?;
    Ok((name, id, Zeroizing::new(seed)))
}

pub(crate) fn hex_id(id: [u8; 4]) -> String {
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
        let key = encode_signer_key(&signer.name, signer.key_id, ALG_ED25519, &seed);
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
        let (name, id, seed) = decode_signer_key(key, ALG_ED25519)?;
        let seed: &[u8; ED25519_KEY_LEN] = &seed;
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
mod tests;
