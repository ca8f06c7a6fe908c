//! Cryptography of callvault: recording encryption, key wrapping, field sealing, blind indexes.
//!
//! * [`stream`] — segmented streaming AEAD, byte-compatible with Tink's
//!   `AesGcmHkdfStreaming` (AES-256-GCM, HKDF-SHA-256, 64 KiB ciphertext segments), with
//!   random access to plaintext ranges.
//! * [`envelope`] — callvault's own recording header (format v1) in front of the Tink
//!   ciphertext; the header bytes are the Tink associated data.
//! * [`keys`] — the [`KeyProvider`] trait (wrap/unwrap data keys, seal/open catalog fields,
//!   blind indexes) and its embedded backend, key files.
//! * [`secret`] — secret types that zeroize on drop and never print.
//!
//! All primitives come from aws-lc-rs; nothing here implements a cipher, MAC or KDF.

pub mod envelope;
pub mod keys;
pub mod pkcs11;
pub mod sealed_key;
pub mod secret;
pub mod stream;

mod error;

pub use envelope::{DekId, ENVELOPE_LEN, EnvelopeHeader};
pub use error::CryptoError;
pub use keys::{
    BlindIndex, FieldKind, KekInfo, KekVersion, KeyError, KeyFileProvider, KeyProvider,
    WrapBinding, WrappedDek,
};
pub use pkcs11::{Pkcs11Provider, Pkcs11Settings};
pub use secret::{DataKey, check_secret_file_mode, read_secret_file, write_secret_file};

/// SHA-256 of a byte string.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// An incremental SHA-256, for hashing plaintext while it streams through.
pub struct Sha256(aws_lc_rs::digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }
}

impl Sha256 {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Random)
}
