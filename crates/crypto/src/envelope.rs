//! The callvault recording envelope, format v1.
//!
//! ```text
//! offset size field
//!      0    5 magic "CVREC"                      (do not change)
//!      5    1 format version = 1                 (do not change)
//!      6   16 recording id (UUID bytes)
//!     22   16 key id: the id of this recording's data key (DEK)
//!     38    4 ciphertext segment size, u32 big-endian (65,536 in v1)
//!     42    … Tink AesGcmHkdfStreaming ciphertext (see `stream`)
//! ```
//!
//! The 42 header bytes are the Tink associated data, so the version, recording id, key id and
//! segment size are authenticated by every segment: a blob moved to another recording id, or
//! a header edited, fails to decrypt.

use callvault_types::RecordingId;

use crate::CryptoError;
use crate::DataKey;
use crate::stream::{self, CiphertextSource, DecryptingStream, EncryptingStream, Offset};

/// Magic bytes at the start of every recording blob. Do not change.
pub const MAGIC: &[u8; 5] = b"CVREC";
/// Format version written by this build. Do not change the meaning of 1.
pub const FORMAT_V1: u8 = 1;
/// Length of the envelope header. Do not change.
pub const ENVELOPE_LEN: usize = 42;

/// Identifier of a recording's data key, stored in the blob header and the catalog.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DekId(pub [u8; 16]);

impl DekId {
    /// A fresh random key id.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut b = [0u8; 16];
        crate::random_bytes(&mut b)?;
        Ok(Self(b))
    }
}

/// The parsed envelope header of a recording blob.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnvelopeHeader {
    /// The recording this blob belongs to.
    pub recording_id: RecordingId,
    /// The data key that encrypts it.
    pub dek_id: DekId,
    /// Ciphertext segment size.
    pub segment_size: u32,
}

impl EnvelopeHeader {
    /// A v1 header for a recording.
    pub fn v1(recording_id: RecordingId, dek_id: DekId) -> Self {
        Self {
            recording_id,
            dek_id,
            segment_size: stream::SEGMENT_SIZE,
        }
    }

    /// The 42 header bytes (also the Tink associated data).
    pub fn encode(&self) -> [u8; ENVELOPE_LEN] {
        let mut b = [0u8; ENVELOPE_LEN];
        b[..5].copy_from_slice(MAGIC);
        b[5] = FORMAT_V1;
        b[6..22].copy_from_slice(self.recording_id.as_bytes());
        b[22..38].copy_from_slice(&self.dek_id.0);
        b[38..42].copy_from_slice(&self.segment_size.to_be_bytes());
        b
    }

    /// Parses and checks a header.
    pub fn decode(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() < ENVELOPE_LEN {
            return Err(CryptoError::BadLength(b.len() as u64));
        }
        if &b[..5] != MAGIC {
            return Err(CryptoError::BadMagic);
        }
        if b[5] != FORMAT_V1 {
            return Err(CryptoError::UnsupportedVersion(b[5]));
        }
        let mut rid = [0u8; 16];
        rid.copy_from_slice(&b[6..22]);
        let mut kid = [0u8; 16];
        kid.copy_from_slice(&b[22..38]);
        let mut seg = [0u8; 4];
        seg.copy_from_slice(&b[38..42]);
        let segment_size = u32::from_be_bytes(seg);
        if segment_size != stream::SEGMENT_SIZE {
            return Err(CryptoError::UnsupportedSegmentSize(segment_size));
        }
        Ok(Self {
            recording_id: RecordingId::from_bytes(rid),
            dek_id: DekId(kid),
            segment_size,
        })
    }

    /// Starts encrypting `plaintext` into a blob; the first chunk starts with these 42 header
    /// bytes, followed by the Tink stream header and segment 0.
    pub fn encryptor<R: std::io::Read>(
        &self,
        plaintext: R,
        dek: &DataKey,
    ) -> Result<EncryptingStream<R>, CryptoError> {
        let head = self.encode();
        Ok(
            EncryptingStream::new(plaintext, dek, &head, self.segment_size)?
                .with_leading_bytes(&head),
        )
    }
}

impl EnvelopeHeader {
    /// The same blob as [`EnvelopeHeader::encryptor`], for a producer that pushes its
    /// plaintext (a live call): the header bytes lead the first segment.
    pub fn push_encryptor(&self, dek: &DataKey) -> Result<stream::PushEncryptor, CryptoError> {
        let head = self.encode();
        Ok(stream::PushEncryptor::new(dek, &head, self.segment_size)?.with_leading_bytes(&head))
    }
}

/// An opened recording blob: header checked against the catalog, segment key derived.
#[derive(Debug)]
pub struct OpenedBlob<S> {
    stream: DecryptingStream<Offset<S>>,
}

/// Opens a recording blob for random-access decryption, checking that its header names the
/// expected recording and data key.
pub fn open_blob<S: CiphertextSource>(
    source: S,
    expected: &EnvelopeHeader,
    dek: &DataKey,
) -> Result<OpenedBlob<S>, CryptoError> {
    let head = source.read_range(0..ENVELOPE_LEN as u64)?;
    let header = EnvelopeHeader::decode(&head)?;
    if header.recording_id != expected.recording_id || header.dek_id != expected.dek_id {
        return Err(CryptoError::HeaderMismatch);
    }
    let inner = Offset {
        inner: source,
        offset: ENVELOPE_LEN as u64,
    };
    let stream = DecryptingStream::open(inner, dek, &head, header.segment_size)?;
    Ok(OpenedBlob { stream })
}

impl<S: CiphertextSource> OpenedBlob<S> {
    /// Plaintext length.
    pub fn plaintext_len(&self) -> u64 {
        self.stream.plaintext_len()
    }
    /// Decrypts a plaintext range (see [`DecryptingStream::decrypt_range`]).
    pub fn decrypt_range(
        &self,
        range: std::ops::Range<u64>,
        sink: impl FnMut(&[u8]) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        self.stream.decrypt_range(range, sink)
    }
    /// Authenticates every segment and returns the plaintext SHA-256.
    pub fn hash_all(&self) -> Result<[u8; 32], CryptoError> {
        self.stream.hash_all()
    }
}
