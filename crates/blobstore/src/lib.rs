//! Blob storage at sites: the [`BlobStore`] trait, its embedded directory backend, and the
//! replicator that writes one blob to every site at once.
//!
//! A store holds only ciphertext (recording blobs) and never overwrites an object:
//! `put` is put-if-absent. The trait is synchronous and streaming (`begin_put` →
//! `write` … → `commit`) so that an S3 backend can map it onto multipart upload.

mod dir;
mod error;
mod replicate;
pub mod s3;

pub use dir::{DirStore, SITE_MARKER};
pub use error::BlobError;
pub use replicate::{ChunkObserver, SiteOutcome, replicate};
pub use s3::{S3Settings, S3Store};

use std::fmt;
use std::ops::Range;

/// Name of a site (a data centre), e.g. `a`, `b`, `sthlm-1`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SiteId(String);

impl SiteId {
    /// Validates a site name: 1–32 characters of `a-z`, `0-9` and `-`.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        if s.is_empty()
            || s.len() > 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(BlobError::InvalidSiteName(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Name of an object in a store: `[a-z0-9-]` segments joined by `/`, ending in a file
/// name that may contain `.`; no empty, `.` or `..` segments.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BlobKey(String);

impl BlobKey {
    /// Validates a key.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    })
            });
        if !ok {
            return Err(BlobError::InvalidKey(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result of committing a put.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PutOutcome {
    /// The object was created and is durable.
    Created,
    /// An object with this key already existed; nothing was written.
    AlreadyExists,
}

/// An upload in progress. Dropping it without `commit` discards everything written.
pub trait PutHandle: Send {
    /// Appends bytes.
    fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Makes the object durable and visible, unless the key already exists.
    fn commit(self: Box<Self>) -> Result<PutOutcome, BlobError>;
}

/// Default [`BlobStore::write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One site's object store. Implementations must be safe to share between threads.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// The site this store is.
    fn site(&self) -> &SiteId;
    /// How long a write to this site may make no progress before [`replicate`] gives the
    /// site up for that blob (the others go on).
    fn write_timeout(&self) -> std::time::Duration {
        DEFAULT_WRITE_TIMEOUT
    }
    /// Starts a put-if-absent upload.
    fn begin_put(&self, key: &BlobKey) -> Result<Box<dyn PutHandle>, BlobError>;
    /// Reads exactly `range` of an object.
    fn get_range(&self, key: &BlobKey, range: Range<u64>) -> Result<Vec<u8>, BlobError>;
    /// The object's size, or `None` if it does not exist.
    fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;
    /// Every object key, in no particular order.
    fn list(&self) -> Result<Vec<BlobKey>, BlobError>;
    /// Deletes an object (missing is not an error).
    fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}

/// Convenience: puts a whole buffer.
pub fn put_bytes(
    store: &dyn BlobStore,
    key: &BlobKey,
    data: &[u8],
) -> Result<PutOutcome, BlobError> {
    let mut h = store.begin_put(key)?;
    h.write(data)?;
    h.commit()
}
