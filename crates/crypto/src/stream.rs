//! Segmented streaming AEAD, byte-compatible with Tink's `AesGcmHkdfStreaming`.
//!
//! Layout of the Tink part (offsets from its first byte), for AES-256 / HKDF-SHA-256 and a
//! ciphertext segment size `S` (65,536 in format v1):
//!
//! ```text
//! header  = header_len (1 byte, = 40) ‖ salt (32 bytes) ‖ nonce_prefix (7 bytes)
//! key     = HKDF-SHA-256(ikm = data key, salt = salt, info = associated data, 32 bytes)
//! nonce_i = nonce_prefix ‖ u32_be(i) ‖ (1 if segment i is the last, else 0)
//! seg_0   = AES-256-GCM(key, nonce_0, plaintext[0 .. S-40-16]) with 16-byte tag, at offset 40
//! seg_i   = AES-256-GCM(key, nonce_i, next S-16 plaintext bytes), at offset i·S
//! ```
//!
//! GCM gets no associated data of its own: Tink binds the associated data through the key
//! derivation. The last segment is flagged in its nonce, so truncation at a segment boundary,
//! dropped, reordered or duplicated segments, and segments spliced from another stream (other
//! salt, so other key) all fail authentication.

use std::io::{self, Read};
use std::ops::Range;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use crate::{CryptoError, DataKey, Sha256};

/// Ciphertext segment size of format v1. Do not change: stored blobs depend on it.
pub const SEGMENT_SIZE: u32 = 65_536;
/// AES-256 key size, which is also Tink's salt size. Do not change.
pub const KEY_SIZE: usize = 32;
/// Tink's nonce prefix size. Do not change.
pub const NONCE_PREFIX_SIZE: usize = 7;
/// GCM tag size. Do not change.
pub const TAG_SIZE: usize = 16;
/// Tink header length: length byte, salt, nonce prefix. Do not change.
pub const STREAM_HEADER_LEN: usize = 1 + KEY_SIZE + NONCE_PREFIX_SIZE;

/// Geometry of one stream: where each segment lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    segment_size: u64,
}

impl Layout {
    /// The layout for a ciphertext segment size.
    pub fn new(segment_size: u32) -> Self {
        Self {
            segment_size: u64::from(segment_size),
        }
    }

    /// Plaintext bytes in segment 0.
    pub fn first_plaintext_len(&self) -> u64 {
        self.segment_size - (STREAM_HEADER_LEN + TAG_SIZE) as u64
    }

    /// Plaintext bytes in every later full segment.
    pub fn plaintext_len(&self) -> u64 {
        self.segment_size - TAG_SIZE as u64
    }

    /// Offset of ciphertext segment `i` from the start of the stream.
    pub fn segment_offset(&self, i: u64) -> u64 {
        if i == 0 {
            STREAM_HEADER_LEN as u64
        } else {
            i * self.segment_size
        }
    }

    /// Number of segments and plaintext length of a stream of `ct_len` bytes.
    pub fn shape(&self, ct_len: u64) -> Result<(u64, u64), CryptoError> {
        let min = (STREAM_HEADER_LEN + TAG_SIZE) as u64;
        if ct_len < min {
            return Err(CryptoError::BadLength(ct_len));
        }
        let full = ct_len / self.segment_size;
        let rem = ct_len % self.segment_size;
        let segments = if rem > 0 { full + 1 } else { full };
        // A partial last segment (other than segment 0) must hold at least a tag.
        if segments > 1 && rem > 0 && rem < TAG_SIZE as u64 {
            return Err(CryptoError::BadLength(ct_len));
        }
        if segments > u64::from(u32::MAX) {
            return Err(CryptoError::TooLarge);
        }
        let plaintext = ct_len - STREAM_HEADER_LEN as u64 - segments * TAG_SIZE as u64;
        Ok((segments, plaintext))
    }

    /// The segment holding plaintext offset `p`, and the offset within it.
    pub fn locate(&self, p: u64) -> (u64, u64) {
        let first = self.first_plaintext_len();
        if p < first {
            (0, p)
        } else {
            let q = p - first;
            (1 + q / self.plaintext_len(), q % self.plaintext_len())
        }
    }

    /// Ciphertext byte range of segment `i` in a stream of `segments` segments and `ct_len`
    /// bytes.
    pub fn segment_range(&self, i: u64, segments: u64, ct_len: u64) -> Range<u64> {
        let start = self.segment_offset(i);
        let end = if i + 1 == segments {
            ct_len
        } else {
            (i + 1) * self.segment_size
        };
        start..end
    }
}

fn derive_key(dek: &DataKey, salt: &[u8], aad: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(dek.expose_bytes());
    let info = [aad];
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .map_err(|_| CryptoError::BadStreamHeader)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn nonce(prefix: &[u8; NONCE_PREFIX_SIZE], segment: u64, last: bool) -> Result<Nonce, CryptoError> {
    let seg = u32::try_from(segment).map_err(|_| CryptoError::TooLarge)?;
    let mut n = [0u8; 12];
    n[..NONCE_PREFIX_SIZE].copy_from_slice(prefix);
    n[NONCE_PREFIX_SIZE..11].copy_from_slice(&seg.to_be_bytes());
    n[11] = u8::from(last);
    Ok(Nonce::assume_unique_for_key(n))
}

/// Seals the segments of one stream in order: the header goes out with segment 0.
struct Sealer {
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_SIZE],
    layout: Layout,
    header: Option<Vec<u8>>,
    segment: u64,
}

impl Sealer {
    fn new(
        dek: &DataKey,
        aad: &[u8],
        segment_size: u32,
        salt: [u8; KEY_SIZE],
        prefix: [u8; NONCE_PREFIX_SIZE],
    ) -> Result<Self, CryptoError> {
        let key = derive_key(dek, &salt, aad)?;
        let mut header = Vec::with_capacity(STREAM_HEADER_LEN);
        header.push(STREAM_HEADER_LEN as u8);
        header.extend_from_slice(&salt);
        header.extend_from_slice(&prefix);
        Ok(Self {
            key,
            prefix,
            layout: Layout::new(segment_size),
            header: Some(header),
            segment: 0,
        })
    }

    fn lead(&mut self, bytes: &[u8]) {
        if let Some(h) = self.header.as_mut() {
            let mut v = bytes.to_vec();
            v.append(h);
            *h = v;
        }
    }

    /// The plaintext capacity of the segment to seal next.
    fn capacity(&self) -> usize {
        if self.segment == 0 {
            self.layout.first_plaintext_len() as usize
        } else {
            self.layout.plaintext_len() as usize
        }
    }

    fn seal(&mut self, mut seg: Vec<u8>, last: bool) -> Result<Vec<u8>, CryptoError> {
        let n = nonce(&self.prefix, self.segment, last)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(n, Aad::empty(), &mut seg)
            .map_err(|_| CryptoError::TooLarge)?;
        seg.extend_from_slice(tag.as_ref());
        self.segment += 1;
        Ok(match self.header.take() {
            Some(mut h) => {
                h.extend_from_slice(&seg);
                h
            }
            None => seg,
        })
    }
}

/// Encrypts plaintext pushed to it, for a producer that cannot be read from (a live call):
/// the same stream as [`EncryptingStream`], byte for byte. A segment is sealed as soon as
/// bytes beyond it have arrived (so it is known not to be the last); [`PushEncryptor::finish`]
/// seals the rest as the last segment. At most one segment of plaintext is held, in memory.
pub struct PushEncryptor {
    sealer: Sealer,
    buf: Vec<u8>,
    hasher: Sha256,
    plaintext_len: u64,
}

impl std::fmt::Debug for PushEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushEncryptor")
            .field("segment", &self.sealer.segment)
            .finish_non_exhaustive()
    }
}

impl PushEncryptor {
    /// Starts a stream with a fresh random salt and nonce prefix.
    pub fn new(dek: &DataKey, aad: &[u8], segment_size: u32) -> Result<Self, CryptoError> {
        let mut salt = [0u8; KEY_SIZE];
        let mut prefix = [0u8; NONCE_PREFIX_SIZE];
        crate::random_bytes(&mut salt)?;
        crate::random_bytes(&mut prefix)?;
        Self::with_salt_and_prefix(dek, aad, segment_size, salt, prefix)
    }

    pub(crate) fn with_salt_and_prefix(
        dek: &DataKey,
        aad: &[u8],
        segment_size: u32,
        salt: [u8; KEY_SIZE],
        prefix: [u8; NONCE_PREFIX_SIZE],
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            sealer: Sealer::new(dek, aad, segment_size, salt, prefix)?,
            buf: Vec::new(),
            hasher: Sha256::default(),
            plaintext_len: 0,
        })
    }

    /// Emits `bytes` before the stream header in the first chunk (the callvault envelope).
    pub fn with_leading_bytes(mut self, bytes: &[u8]) -> Self {
        self.sealer.lead(bytes);
        self
    }

    /// Takes plaintext; returns the ciphertext of every segment now complete and known not
    /// to be the last (the first one with the header).
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        self.hasher.update(data);
        self.plaintext_len += data.len() as u64;
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() > self.sealer.capacity() {
            let rest = self.buf.split_off(self.sealer.capacity());
            let seg = std::mem::replace(&mut self.buf, rest);
            out.push(self.sealer.seal(seg, false)?);
        }
        Ok(out)
    }

    /// Seals what is left as the last segment; returns it with the plaintext's length and
    /// SHA-256.
    pub fn finish(mut self) -> Result<(Vec<u8>, u64, [u8; 32]), CryptoError> {
        let last = self.sealer.seal(std::mem::take(&mut self.buf), true)?;
        Ok((last, self.plaintext_len, self.hasher.finish()))
    }
}

/// Encrypts a plaintext stream as it is read, one segment at a time.
///
/// Plaintext is held only in memory, one segment plus one segment of look-ahead (needed to
/// know which segment is the last). It also hashes and counts the plaintext.
pub struct EncryptingStream<R> {
    inner: R,
    sealer: Sealer,
    current: Vec<u8>,
    lookahead: Vec<u8>,
    done: bool,
    started: bool,
    hasher: Option<Sha256>,
    plaintext_len: u64,
}

impl<R> std::fmt::Debug for EncryptingStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingStream")
            .field("segment", &self.sealer.segment)
            .finish_non_exhaustive()
    }
}

impl<R: Read> EncryptingStream<R> {
    /// Starts a stream with a fresh random salt and nonce prefix.
    pub fn new(
        inner: R,
        dek: &DataKey,
        aad: &[u8],
        segment_size: u32,
    ) -> Result<Self, CryptoError> {
        let mut salt = [0u8; KEY_SIZE];
        let mut prefix = [0u8; NONCE_PREFIX_SIZE];
        crate::random_bytes(&mut salt)?;
        crate::random_bytes(&mut prefix)?;
        Self::with_salt_and_prefix(inner, dek, aad, segment_size, salt, prefix)
    }

    /// Starts a stream with a given salt and nonce prefix: for known-answer tests only.
    /// Reusing a salt and prefix with the same key and associated data is catastrophic.
    pub(crate) fn with_salt_and_prefix(
        inner: R,
        dek: &DataKey,
        aad: &[u8],
        segment_size: u32,
        salt: [u8; KEY_SIZE],
        prefix: [u8; NONCE_PREFIX_SIZE],
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            inner,
            sealer: Sealer::new(dek, aad, segment_size, salt, prefix)?,
            current: Vec::new(),
            lookahead: Vec::new(),
            done: false,
            started: false,
            hasher: Some(Sha256::default()),
            plaintext_len: 0,
        })
    }

    /// Emits `bytes` before the stream header in the first chunk (the callvault envelope).
    pub fn with_leading_bytes(mut self, bytes: &[u8]) -> Self {
        self.sealer.lead(bytes);
        self
    }

    fn fill(&mut self, want: u64) -> io::Result<Vec<u8>> {
        // Read until the segment is full or the input ends; room is left for the tag.
        let mut buf = Vec::with_capacity(want as usize + TAG_SIZE);
        buf.resize(want as usize, 0);
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf);
        }
        self.plaintext_len += buf.len() as u64;
        Ok(buf)
    }

    /// The next piece of ciphertext (the header with segment 0, then one segment each), or
    /// `None` once the last segment has been returned.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, CryptoError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            self.current = self.fill(self.sealer.layout.first_plaintext_len())?;
            self.lookahead = self.fill(self.sealer.layout.plaintext_len())?;
        }
        let last = self.lookahead.is_empty();
        let out = self.sealer.seal(std::mem::take(&mut self.current), last)?;
        if last {
            self.done = true;
        } else {
            self.current = std::mem::take(&mut self.lookahead);
            self.lookahead = self.fill(self.sealer.layout.plaintext_len())?;
        }
        Ok(Some(out))
    }

    /// Leaves plaintext hashing to the caller (who may do it on another thread);
    /// [`EncryptingStream::finish`] then returns no digest.
    pub fn without_plaintext_hash(mut self) -> Self {
        self.hasher = None;
        self
    }

    /// Plaintext length and SHA-256 (unless hashing was turned off), after the last chunk.
    pub fn finish(mut self) -> (u64, Option<[u8; 32]>) {
        (self.plaintext_len, self.hasher.take().map(Sha256::finish))
    }
}

/// Random-access reads of ciphertext (a blob at one site, a file, a buffer).
pub trait CiphertextSource {
    /// Total length of the source in bytes.
    fn len(&self) -> Result<u64, CryptoError>;
    /// Whether the source is empty.
    fn is_empty(&self) -> Result<bool, CryptoError> {
        Ok(self.len()? == 0)
    }
    /// Exactly the bytes in `range`.
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, CryptoError>;
}

impl CiphertextSource for [u8] {
    fn len(&self) -> Result<u64, CryptoError> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, CryptoError> {
        self.get(range.start as usize..range.end as usize)
            .map(<[u8]>::to_vec)
            .ok_or(CryptoError::BadLength(<[u8]>::len(self) as u64))
    }
}

impl<T: CiphertextSource + ?Sized> CiphertextSource for &T {
    fn len(&self) -> Result<u64, CryptoError> {
        (**self).len()
    }
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, CryptoError> {
        (**self).read_range(range)
    }
}

/// A source seen from an offset: the Tink stream inside a callvault blob.
#[derive(Debug)]
pub struct Offset<S> {
    /// The whole source.
    pub inner: S,
    /// Where the stream begins.
    pub offset: u64,
}

impl<S: CiphertextSource> CiphertextSource for Offset<S> {
    fn len(&self) -> Result<u64, CryptoError> {
        let l = self.inner.len()?;
        l.checked_sub(self.offset).ok_or(CryptoError::BadLength(l))
    }
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, CryptoError> {
        self.inner
            .read_range(range.start + self.offset..range.end + self.offset)
    }
}

/// Decrypts segments of one stream on demand; reads only the segments it is asked for.
pub struct DecryptingStream<S> {
    source: S,
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_SIZE],
    layout: Layout,
    ct_len: u64,
    segments: u64,
    plaintext_len: u64,
}

impl<S> std::fmt::Debug for DecryptingStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingStream")
            .field("segments", &self.segments)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

impl<S: CiphertextSource> DecryptingStream<S> {
    /// Reads the stream header and derives the segment key.
    pub fn open(
        source: S,
        dek: &DataKey,
        aad: &[u8],
        segment_size: u32,
    ) -> Result<Self, CryptoError> {
        let layout = Layout::new(segment_size);
        let ct_len = source.len()?;
        let (segments, plaintext_len) = layout.shape(ct_len)?;
        let header = source.read_range(0..STREAM_HEADER_LEN as u64)?;
        if header[0] as usize != STREAM_HEADER_LEN {
            return Err(CryptoError::BadStreamHeader);
        }
        let key = derive_key(dek, &header[1..1 + KEY_SIZE], aad)?;
        let mut prefix = [0u8; NONCE_PREFIX_SIZE];
        prefix.copy_from_slice(&header[1 + KEY_SIZE..]);
        Ok(Self {
            source,
            key,
            prefix,
            layout,
            ct_len,
            segments,
            plaintext_len,
        })
    }

    /// Plaintext length implied by the ciphertext length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Number of segments.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Reads and authenticates segment `i`, returning its plaintext.
    pub fn segment(&self, i: u64) -> Result<Vec<u8>, CryptoError> {
        let range = self.layout.segment_range(i, self.segments, self.ct_len);
        let mut buf = self.source.read_range(range)?;
        let n = nonce(&self.prefix, i, i + 1 == self.segments)?;
        let len = self
            .key
            .open_in_place(n, Aad::empty(), &mut buf)
            .map_err(|_| CryptoError::SegmentAuth { segment: i })?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Decrypts plaintext bytes `range`, reading only the segments that hold them, and hands
    /// each authenticated piece to `sink` in order.
    pub fn decrypt_range(
        &self,
        range: Range<u64>,
        mut sink: impl FnMut(&[u8]) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        if range.start > range.end || range.end > self.plaintext_len {
            return Err(CryptoError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len: self.plaintext_len,
            });
        }
        // A range that reaches the end always authenticates the last segment (the one with
        // the last-segment flag), even when it holds no requested byte: otherwise an empty
        // stream, or a trailing empty segment, would never be checked.
        let reaches_end = range.end == self.plaintext_len;
        if range.is_empty() && !reaches_end {
            return Ok(());
        }
        let last = self.segments - 1;
        let (first_seg, first_off) = if range.is_empty() {
            (last, 0)
        } else {
            self.layout.locate(range.start)
        };
        let last_seg = if reaches_end {
            last
        } else {
            self.layout.locate(range.end - 1).0
        };
        let mut remaining = range.end - range.start;
        for i in first_seg..=last_seg {
            let pt = self.segment(i)?;
            let start = if i == first_seg {
                first_off as usize
            } else {
                0
            };
            let take = pt.len().saturating_sub(start).min(remaining as usize);
            if take > 0 {
                sink(&pt[start..start + take])?;
                remaining -= take as u64;
            }
        }
        Ok(())
    }

    /// Decrypts everything and checks every segment, returning the plaintext's SHA-256
    /// without keeping the plaintext.
    pub fn hash_all(&self) -> Result<[u8; 32], CryptoError> {
        let mut h = Sha256::default();
        for i in 0..self.segments {
            h.update(&self.segment(i)?);
        }
        Ok(h.finish())
    }
}

/// Encrypts a whole buffer: convenience for tests and small inputs.
pub fn encrypt_to_vec(
    plaintext: &[u8],
    dek: &DataKey,
    aad: &[u8],
    segment_size: u32,
) -> Result<Vec<u8>, CryptoError> {
    let mut enc = EncryptingStream::new(plaintext, dek, aad, segment_size)?;
    let mut out = Vec::new();
    while let Some(c) = enc.next_chunk()? {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Decrypts a whole stream into a buffer: convenience for tests and small inputs.
pub fn decrypt_to_vec<S: CiphertextSource>(
    source: S,
    dek: &DataKey,
    aad: &[u8],
    segment_size: u32,
) -> Result<Vec<u8>, CryptoError> {
    let d = DecryptingStream::open(source, dek, aad, segment_size)?;
    let mut out = Vec::with_capacity(d.plaintext_len() as usize);
    d.decrypt_range(0..d.plaintext_len(), |p| {
        out.extend_from_slice(p);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dek() -> DataKey {
        DataKey::from_bytes([7u8; 32])
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 256) as u8).collect()
    }

    // A tiny segment size makes every boundary shape cheap to reach.
    const SMALL: u32 = (STREAM_HEADER_LEN + TAG_SIZE + 8) as u32;

    #[test]
    fn round_trip_at_every_length_around_boundaries() {
        let layout = Layout::new(SMALL);
        let (p0, p) = (layout.first_plaintext_len(), layout.plaintext_len());
        assert_eq!((p0, p), (8, 48));
        for n in 0..(p0 + 3 * p + 2) as usize {
            let pt = pattern(n);
            let ct = encrypt_to_vec(&pt, &dek(), b"ad", SMALL).expect("encrypt");
            let (segs, len) = layout.shape(ct.len() as u64).expect("shape");
            assert_eq!(len, n as u64);
            assert!(segs >= 1);
            assert_eq!(
                decrypt_to_vec(&ct[..], &dek(), b"ad", SMALL).expect("decrypt"),
                pt,
                "n={n}"
            );
        }
    }

    #[test]
    fn every_range_shape_decrypts_exactly_that_range() {
        let pt = pattern(8 + 48 * 3 + 5);
        let ct = encrypt_to_vec(&pt, &dek(), b"ad", SMALL).expect("encrypt");
        let d = DecryptingStream::open(&ct[..], &dek(), b"ad", SMALL).expect("open");
        let n = pt.len() as u64;
        for a in 0..=n {
            for b in a..=n {
                let mut got = Vec::new();
                d.decrypt_range(a..b, |p| {
                    got.extend_from_slice(p);
                    Ok(())
                })
                .expect("range");
                assert_eq!(got, pt[a as usize..b as usize], "{a}..{b}");
            }
        }
        assert!(matches!(
            d.decrypt_range(0..n + 1, |_| Ok(())),
            Err(CryptoError::RangeOutOfBounds { .. })
        ));
    }

    /// Counts which ciphertext bytes a range read touches.
    struct Counting<'a> {
        data: &'a [u8],
        reads: std::cell::RefCell<Vec<Range<u64>>>,
    }

    impl CiphertextSource for Counting<'_> {
        fn len(&self) -> Result<u64, CryptoError> {
            Ok(self.data.len() as u64)
        }
        fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, CryptoError> {
            self.reads.borrow_mut().push(range.clone());
            self.data.read_range(range)
        }
    }

    #[test]
    fn range_reads_only_the_segments_that_hold_it() {
        let pt = pattern(200_000);
        let ct = encrypt_to_vec(&pt, &dek(), b"ad", SEGMENT_SIZE).expect("encrypt");
        let src = Counting {
            data: &ct,
            reads: Default::default(),
        };
        let d = DecryptingStream::open(&src, &dek(), b"ad", SEGMENT_SIZE).expect("open");
        src.reads.borrow_mut().clear();
        // Bytes 70,000..70,010 lie in segment 1 only.
        d.decrypt_range(70_000..70_010, |_| Ok(())).expect("range");
        let reads = src.reads.borrow().clone();
        assert_eq!(reads, vec![65_536..131_072]);
    }

    fn segments_of(ct: &[u8], size: u32) -> Vec<Vec<u8>> {
        let layout = Layout::new(size);
        let (n, _) = layout.shape(ct.len() as u64).expect("shape");
        (0..n)
            .map(|i| {
                let r = layout.segment_range(i, n, ct.len() as u64);
                ct[r.start as usize..r.end as usize].to_vec()
            })
            .collect()
    }

    fn join(header: &[u8], segs: &[Vec<u8>]) -> Vec<u8> {
        let mut v = header.to_vec();
        for s in segs {
            v.extend_from_slice(s);
        }
        v
    }

    #[test]
    fn tampering_of_every_class_is_detected() {
        let pt = pattern(8 + 48 * 3 + 20);
        let ct = encrypt_to_vec(&pt, &dek(), b"ad", SMALL).expect("encrypt");
        let header = &ct[..STREAM_HEADER_LEN];
        let segs = segments_of(&ct, SMALL);
        assert_eq!(segs.len(), 5);
        let fails = |c: &[u8]| decrypt_to_vec(c, &dek(), b"ad", SMALL).is_err();

        // Truncation at a segment boundary: the new last segment was not flagged last.
        assert!(fails(&join(header, &segs[..4])), "truncated at boundary");
        // Truncation inside a segment.
        assert!(fails(&ct[..ct.len() - 5]), "truncated inside");
        // Reordering.
        let mut swapped = segs.clone();
        swapped.swap(1, 2);
        assert!(fails(&join(header, &swapped)), "reordered");
        // Dropped middle segment.
        let mut dropped = segs.clone();
        dropped.remove(2);
        assert!(fails(&join(header, &dropped)), "dropped");
        // Duplicated segment.
        let mut dup = segs.clone();
        dup.insert(2, segs[2].clone());
        assert!(fails(&join(header, &dup)), "duplicated");
        // Splicing a segment from another stream under the same key and associated data.
        let other = encrypt_to_vec(&pt, &dek(), b"ad", SMALL).expect("encrypt");
        let mut spliced = segs.clone();
        spliced[2] = segments_of(&other, SMALL)[2].clone();
        assert!(fails(&join(header, &spliced)), "spliced");
        // Any flipped bit, header included.
        for i in [0, 1, 20, 39, 40, 60, ct.len() - 1] {
            let mut c = ct.clone();
            c[i] ^= 1;
            assert!(fails(&c), "bit flip at {i}");
        }
        // Wrong associated data or key.
        assert!(decrypt_to_vec(&ct[..], &dek(), b"other", SMALL).is_err());
        assert!(decrypt_to_vec(&ct[..], &DataKey::from_bytes([8; 32]), b"ad", SMALL).is_err());
        // Appended garbage.
        let mut longer = ct.clone();
        longer.extend_from_slice(&[0u8; 20]);
        assert!(fails(&longer), "extended");
    }

    #[test]
    fn an_empty_stream_and_a_trailing_empty_segment_are_authenticated() {
        // Empty plaintext: the only segment holds just a tag and must still be checked.
        let ct = encrypt_to_vec(&[], &dek(), b"ad", SMALL).expect("encrypt");
        assert_eq!(ct.len(), STREAM_HEADER_LEN + TAG_SIZE);
        assert_eq!(
            decrypt_to_vec(&ct[..], &dek(), b"ad", SMALL).expect("decrypt"),
            b""
        );
        let mut forged = ct.clone();
        forged[STREAM_HEADER_LEN] ^= 1;
        assert!(decrypt_to_vec(&forged[..], &dek(), b"ad", SMALL).is_err());
        let mut junk = [0u8; STREAM_HEADER_LEN + TAG_SIZE];
        junk[0] = STREAM_HEADER_LEN as u8;
        assert!(decrypt_to_vec(&junk[..], &dek(), b"ad", SMALL).is_err());

        // A stream whose last segment is empty (the format allows it): build one by hand
        // with one full segment not flagged last, then a tag-only segment flagged last.
        let layout = Layout::new(SMALL);
        let salt = [3u8; KEY_SIZE];
        let prefix = [4u8; NONCE_PREFIX_SIZE];
        let key = derive_key(&dek(), &salt, b"ad").expect("key");
        let mut out = vec![STREAM_HEADER_LEN as u8];
        out.extend_from_slice(&salt);
        out.extend_from_slice(&prefix);
        let mut seg0 = pattern(layout.first_plaintext_len() as usize);
        let tag = key
            .seal_in_place_separate_tag(
                nonce(&prefix, 0, false).expect("n"),
                Aad::empty(),
                &mut seg0,
            )
            .expect("seal");
        out.extend_from_slice(&seg0);
        out.extend_from_slice(tag.as_ref());
        let mut seg1 = Vec::new();
        let tag = key
            .seal_in_place_separate_tag(
                nonce(&prefix, 1, true).expect("n"),
                Aad::empty(),
                &mut seg1,
            )
            .expect("seal");
        out.extend_from_slice(tag.as_ref());
        let d = DecryptingStream::open(&out[..], &dek(), b"ad", SMALL).expect("open");
        assert_eq!(d.segments(), 2);
        assert_eq!(
            decrypt_to_vec(&out[..], &dek(), b"ad", SMALL).expect("decrypt"),
            pattern(8)
        );
        let mut bad = out.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(
            decrypt_to_vec(&bad[..], &dek(), b"ad", SMALL).is_err(),
            "the empty last segment must be authenticated"
        );
        // Dropping the empty last segment is truncation.
        assert!(decrypt_to_vec(&out[..n - TAG_SIZE], &dek(), b"ad", SMALL).is_err());
    }

    #[test]
    fn pushed_plaintext_gives_the_same_stream_as_read_plaintext() {
        let dek = DataKey::from_bytes([0x42; 32]);
        let first = Layout::new(SEGMENT_SIZE).first_plaintext_len() as usize;
        let full = Layout::new(SEGMENT_SIZE).plaintext_len() as usize;
        for len in [
            0,
            1,
            first - 1,
            first,
            first + 1,
            first + full,
            first + 2 * full + 7,
            100_000,
        ] {
            let pt = pattern(len);
            let mut read = EncryptingStream::with_salt_and_prefix(
                &pt[..],
                &dek,
                b"ad",
                SEGMENT_SIZE,
                [0x11; KEY_SIZE],
                [0x22; NONCE_PREFIX_SIZE],
            )
            .expect("encrypt")
            .with_leading_bytes(b"LEAD");
            let mut want = Vec::new();
            while let Some(c) = read.next_chunk().expect("chunk") {
                want.extend_from_slice(&c);
            }
            for piece in [1usize, 160, 4096, 70_000] {
                let mut push = PushEncryptor::with_salt_and_prefix(
                    &dek,
                    b"ad",
                    SEGMENT_SIZE,
                    [0x11; KEY_SIZE],
                    [0x22; NONCE_PREFIX_SIZE],
                )
                .expect("encrypt")
                .with_leading_bytes(b"LEAD");
                let mut got = Vec::new();
                for chunk in pt.chunks(piece) {
                    for c in push.push(chunk).expect("push") {
                        got.extend_from_slice(&c);
                    }
                    // Never more than one segment of plaintext held back.
                    assert!(push.buf.len() <= full, "{len} {piece}");
                }
                let (last, n, digest) = push.finish().expect("finish");
                got.extend_from_slice(&last);
                assert_eq!(got, want, "length {len}, pieces of {piece}");
                assert_eq!(n, len as u64);
                assert_eq!(digest, crate::sha256(&pt));
            }
            assert_eq!(
                decrypt_to_vec(&want[4..], &dek, b"ad", SEGMENT_SIZE).expect("decrypts"),
                pt
            );
        }
    }

    #[test]
    fn known_answer_vector_pins_format_v1() {
        // Fixed key, salt, nonce prefix and associated data; the ciphertext digest is pinned
        // so that any change to format v1 fails here. (Compatibility with Tink itself is
        // proven separately in tests/it/tink.rs.) Do not change.
        let pt = pattern(100_000);
        let mut enc = EncryptingStream::with_salt_and_prefix(
            &pt[..],
            &DataKey::from_bytes([0x42; 32]),
            b"callvault known answer",
            SEGMENT_SIZE,
            [0x11; KEY_SIZE],
            [0x22; NONCE_PREFIX_SIZE],
        )
        .expect("encrypt");
        let mut ct = Vec::new();
        while let Some(c) = enc.next_chunk().expect("chunk") {
            ct.extend_from_slice(&c);
        }
        assert_eq!(ct.len(), 100_000 + STREAM_HEADER_LEN + 2 * TAG_SIZE);
        assert_eq!(&ct[..8], &[40, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11]);
        assert_eq!(
            hex::encode(crate::sha256(&ct)),
            KAT_SHA256,
            "format v1 ciphertext changed"
        );
    }

    const KAT_SHA256: &str = "f8b4b81dd9c4e1e409ac9a7db60f117d3a45da1c54a71e9420a898b58b876e36";
}
