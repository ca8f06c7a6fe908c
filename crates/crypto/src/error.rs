/// Errors of recording encryption and decryption.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random generator failed.
    #[error("random number generator failed")]
    Random,
    /// The blob does not start with a callvault recording header.
    #[error("not a callvault recording (bad magic)")]
    BadMagic,
    /// The header names a format version this build does not know.
    #[error("unsupported recording format version {0}")]
    UnsupportedVersion(u8),
    /// The header's segment size differs from the only one format v1 allows.
    #[error("unsupported ciphertext segment size {0}")]
    UnsupportedSegmentSize(u32),
    /// The blob is shorter than a header plus one authentication tag, or a segment is cut.
    #[error("ciphertext is truncated or has an impossible length ({0} bytes)")]
    BadLength(u64),
    /// The Tink header inside the blob is malformed.
    #[error("malformed stream header")]
    BadStreamHeader,
    /// The header is for another recording or another data key than expected.
    #[error("recording header does not match the catalog (recording id or key id differs)")]
    HeaderMismatch,
    /// A segment failed authentication: tampered, reordered, truncated or spliced.
    #[error("segment {segment} failed authentication (tampered, reordered, truncated or spliced)")]
    SegmentAuth {
        /// Index of the segment that failed.
        segment: u64,
    },
    /// The requested plaintext range lies outside the recording.
    #[error("range {start}..{end} is outside the recording of {len} bytes")]
    RangeOutOfBounds {
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Plaintext length.
        len: u64,
    },
    /// More segments than the 32-bit segment counter allows.
    #[error("recording too large for the stream format")]
    TooLarge,
    /// Reading ciphertext or plaintext failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
