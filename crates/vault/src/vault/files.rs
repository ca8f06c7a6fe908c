//! File and object I/O of the data directory: durable writes, object keys of recordings,
//! and reading a blob from a site in ranges.

use super::*;

/// How much a [`SiteBlob`] reads at once beyond what is asked (16 ciphertext segments):
/// a remote site then answers a whole recording in a few requests rather than one per
/// 64 KiB segment.
pub(crate) const READ_AHEAD: u64 = 1 << 20;

/// The object key of a recording's blob: `rec/<first two hex digits>/<uuid>.cvr1`.
pub fn blob_key(id: &RecordingId) -> Result<BlobKey, VaultError> {
    let s = id.to_string();
    Ok(BlobKey::parse(&format!("rec/{}/{s}.cvr1", &s[..2]))?)
}

/// The recording whose blob `key` names (the inverse of [`blob_key`]); `None` for any other
/// object.
pub fn recording_of_key(key: &BlobKey) -> Option<RecordingId> {
    key.as_str()
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".cvr1"))
        .and_then(|id| RecordingId::parse(id).ok())
}

/// Writes a file atomically and durably: temporary name, fsync, rename, fsync directory.
pub fn write_durably(path: &Path, data: &[u8]) -> Result<(), VaultError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename", path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", dir))?;
    }
    Ok(())
}

pub(crate) fn io<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> VaultError + 'a {
    move |source| VaultError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A blob at one site, read on demand by the decryptor, with read-ahead.
pub(crate) struct SiteBlob<'a> {
    pub(crate) store: &'a dyn BlobStore,
    pub(crate) key: BlobKey,
    pub(crate) len: u64,
    /// The last bytes read: their offset and the bytes.
    window: std::cell::RefCell<(u64, Vec<u8>)>,
}

impl<'a> SiteBlob<'a> {
    pub(crate) fn new(store: &'a dyn BlobStore, key: BlobKey, len: u64) -> Self {
        Self {
            store,
            key,
            len,
            window: std::cell::RefCell::new((0, Vec::new())),
        }
    }
}

impl CiphertextSource for SiteBlob<'_> {
    fn len(&self) -> Result<u64, CryptoError> {
        Ok(self.len)
    }
    fn read_range(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>, CryptoError> {
        let mut window = self.window.borrow_mut();
        let (start, bytes) = &*window;
        let covered = range.start >= *start && range.end <= *start + bytes.len() as u64;
        if !covered {
            let end = range
                .end
                .max(range.start.saturating_add(READ_AHEAD))
                .min(self.len.max(range.end));
            let fetched = self
                .store
                .get_range(&self.key, range.start..end)
                .map_err(|e| CryptoError::Io(std::io::Error::other(e.to_string())))?;
            *window = (range.start, fetched);
        }
        let (start, bytes) = &*window;
        let from = (range.start - start) as usize;
        let to = (range.end - start) as usize;
        bytes
            .get(from..to)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| CryptoError::Io(std::io::Error::other("short read from site")))
    }
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
