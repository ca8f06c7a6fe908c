//! `S3Store`: a site that is a bucket of an S3-compatible object store (Garage, MinIO,
//! Ceph RGW, AWS S3), through the `object_store` crate.
//!
//! Layout in the bucket (under an optional prefix): `callvault-site` (the marker naming the
//! site, as in a site directory) and `objects/<key>`.
//!
//! * **Put-if-absent.** Every upload first checks with `HEAD` that the key is free. An
//!   object that fits in one part is then written with one `PutObject` carrying
//!   `If-None-Match: *`, so a store that implements conditional writes (AWS S3, MinIO,
//!   Ceph RGW, R2) refuses an overwrite atomically; Garage ignores the header, which the
//!   `HEAD` covers. A larger object is a multipart upload (parts of `part_size` bytes);
//!   `object_store` does not send the precondition on `CompleteMultipartUpload`. The `HEAD`
//!   leaves a window between check and write, which callvault never uses: keys are random
//!   per recording, one process owns a data directory, and only repair writes an existing
//!   recording's key, after the catalog says that site's copy is missing.
//! * **Durability.** A store acknowledges a `PutObject` or `CompleteMultipartUpload` only
//!   once the object is stored; nothing is visible before.
//! * **Abandoned uploads** (a dropped handle, a failed part) are aborted, so no parts are
//!   left behind.
//! * The trait is synchronous: every call runs on one process-wide Tokio runtime owned by
//!   this module and blocks the calling thread (callers are the vault's worker threads, or
//!   the server's blocking pool, never an async task).

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
};

use crate::{BlobError, BlobKey, BlobStore, PutHandle, PutOutcome, SITE_MARKER, SiteId};

/// Smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default part size of multipart uploads.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// How to reach one bucket.
#[derive(Clone)]
pub struct S3Settings {
    /// Endpoint URL, e.g. `https://s3.dc1.example:3900`.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Region (Garage: its `s3_region`, e.g. `garage`).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: zeroize::Zeroizing<String>,
    /// Key prefix inside the bucket (empty, or ending in `/`).
    pub prefix: String,
    /// Multipart part size in bytes (at least [`MIN_PART_SIZE`]).
    pub part_size: usize,
    /// Allow a plain-HTTP endpoint (only for loopback tests; production uses HTTPS).
    pub allow_http: bool,
    /// Seconds a request may take, retries included, before the site counts as failed.
    pub timeout_secs: u64,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// A site in an S3 bucket.
pub struct S3Store {
    site: SiteId,
    store: Arc<AmazonS3>,
    location: String,
    prefix: String,
    part_size: usize,
    timeout: std::time::Duration,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("site", &self.site)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The runtime all S3 stores of the process run their requests on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("callvault-s3")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the S3 client runtime: {e}"))
    })
}

fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

impl S3Store {
    fn connect(site: SiteId, s: &S3Settings) -> Result<Self, BlobError> {
        let remote = |detail: String| BlobError::Remote {
            site: site.to_string(),
            op: "configure",
            detail,
        };
        if s.part_size < MIN_PART_SIZE {
            return Err(remote(format!(
                "part size {} is below S3's minimum of {MIN_PART_SIZE} bytes",
                s.part_size
            )));
        }
        if !(s.prefix.is_empty() || s.prefix.ends_with('/')) {
            return Err(remote(format!(
                "prefix {:?} must be empty or end in '/'",
                s.prefix
            )));
        }
        let timeout = std::time::Duration::from_secs(s.timeout_secs.max(1));
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: timeout,
            ..RetryConfig::default()
        };
        let options = object_store::ClientOptions::new()
            .with_allow_http(s.allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(std::time::Duration::from_secs(5).min(timeout));
        let store = AmazonS3Builder::new()
            .with_endpoint(&s.endpoint)
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.as_str())
            .with_virtual_hosted_style_request(false)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| remote(e.to_string()))?;
        Ok(Self {
            location: format!(
                "{}/{}/{}",
                s.endpoint.trim_end_matches('/'),
                s.bucket,
                s.prefix
            ),
            site,
            store: Arc::new(store),
            prefix: s.prefix.clone(),
            part_size: s.part_size,
            timeout,
        })
    }

    /// Makes a bucket a site: writes the marker naming it (if absent), then opens it.
    pub fn create(site: SiteId, settings: &S3Settings) -> Result<Self, BlobError> {
        let s = Self::connect(site, settings)?;
        let marker = s.marker();
        let body = PutPayload::from(format!("{}\n", s.site).into_bytes());
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match block_on(s.store.put_opts(&marker, body, opts)) {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(s.remote("write site marker to", &marker, e)),
        }
        Self::open(s.site.clone(), settings)
    }

    /// Opens a bucket site and checks its marker: a bucket without one, or naming another
    /// site, is refused.
    pub fn open(site: SiteId, settings: &S3Settings) -> Result<Self, BlobError> {
        let s = Self::connect(site, settings)?;
        let marker = s.marker();
        let text = match block_on(async { s.store.get(&marker).await?.bytes().await }) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::Remote {
                    site: s.site.to_string(),
                    op: "open",
                    detail: format!(
                        "{} is not a callvault site (no {SITE_MARKER} marker); run `callvault init` or `site recreate` for it",
                        s.location
                    ),
                });
            }
            Err(e) => return Err(s.remote("read site marker", &marker, e)),
        };
        if text.trim() != s.site.as_str() {
            return Err(BlobError::Remote {
                site: s.site.to_string(),
                op: "open",
                detail: format!(
                    "{} belongs to site {:?}",
                    s.location,
                    text.trim().chars().take(40).collect::<String>()
                ),
            });
        }
        Ok(s)
    }

    /// Whether the bucket (under the prefix) has a site marker, and whether it holds any
    /// object at all: `site recreate` makes a site only where there is nothing.
    pub fn probe(site: SiteId, settings: &S3Settings) -> Result<(bool, bool), BlobError> {
        use futures_util::StreamExt;
        let s = Self::connect(site, settings)?;
        let marker = s.marker();
        let has_marker = match block_on(s.store.head(&marker)) {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(s.remote("read site marker", &marker, e)),
        };
        let root = ObjectPath::from(s.prefix.trim_end_matches('/'));
        let root = (!s.prefix.is_empty()).then_some(root);
        let first = block_on(async { s.store.list(root.as_ref()).next().await });
        let has_objects = match first {
            None => false,
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                return Err(s.remote("list", root.as_ref().unwrap_or(&marker), e));
            }
        };
        Ok((has_marker, has_objects))
    }

    /// Endpoint, bucket and prefix, for messages and `status`.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn marker(&self) -> ObjectPath {
        ObjectPath::from(format!("{}{SITE_MARKER}", self.prefix))
    }

    fn object(&self, key: &BlobKey) -> ObjectPath {
        ObjectPath::from(format!("{}objects/{}", self.prefix, key.as_str()))
    }

    fn remote(&self, op: &'static str, path: &ObjectPath, e: object_store::Error) -> BlobError {
        BlobError::Remote {
            site: self.site.to_string(),
            op,
            detail: format!("{path}: {}", one_line(&e)),
        }
    }
}

/// An `object_store` error in one line, without its source chain's repetitions.
fn one_line(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

struct S3Put {
    store: Arc<AmazonS3>,
    site: SiteId,
    path: ObjectPath,
    part_size: usize,
    buf: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    /// The key was found taken before a multipart upload started.
    exists: bool,
}

impl S3Put {
    fn remote(&self, op: &'static str, e: object_store::Error) -> BlobError {
        BlobError::Remote {
            site: self.site.to_string(),
            op,
            detail: format!("{}: {}", self.path, one_line(&e)),
        }
    }

    /// Whether the key is taken (then nothing more is written).
    fn taken(&mut self) -> Result<bool, BlobError> {
        match block_on(self.store.head(&self.path)) {
            Ok(_) => {
                self.exists = true;
                self.buf = Vec::new();
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.remote("check", e)),
        }
    }

    fn flush_part(&mut self) -> Result<(), BlobError> {
        if self.upload.is_none() {
            if self.taken()? {
                return Ok(());
            }
            let upload = block_on(self.store.put_multipart(&self.path))
                .map_err(|e| self.remote("start multipart upload of", e))?;
            self.upload = Some(upload);
        }
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_size));
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        let fut = upload.put_part(PutPayload::from(part));
        block_on(fut).map_err(|e| self.remote("upload part of", e))
    }
}

impl PutHandle for S3Put {
    fn write(&mut self, mut chunk: &[u8]) -> Result<(), BlobError> {
        while !chunk.is_empty() {
            if self.exists {
                return Ok(());
            }
            let room = self.part_size - self.buf.len();
            let n = room.min(chunk.len());
            self.buf.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.buf.len() == self.part_size && !chunk.is_empty() {
                // A full part with more to come; the last part is sent by `commit`.
                self.flush_part()?;
            }
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<PutOutcome, BlobError> {
        if self.exists {
            return Ok(PutOutcome::AlreadyExists);
        }
        if self.upload.is_none() {
            if self.taken()? {
                return Ok(PutOutcome::AlreadyExists);
            }
            let body = PutPayload::from(std::mem::take(&mut self.buf));
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return match block_on(self.store.put_opts(&self.path, body, opts)) {
                Ok(_) => Ok(PutOutcome::Created),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyExists),
                Err(e) => Err(self.remote("put", e)),
            };
        }
        if !self.buf.is_empty() {
            self.flush_part()?;
        }
        let mut upload = self.upload.take().ok_or_else(|| BlobError::Remote {
            site: self.site.to_string(),
            op: "complete",
            detail: "no multipart upload".into(),
        })?;
        match block_on(upload.complete()) {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) => {
                let _ = block_on(upload.abort());
                Err(self.remote("complete multipart upload of", e))
            }
        }
    }
}

impl Drop for S3Put {
    fn drop(&mut self) {
        // Abandoned (not committed): leave no parts behind.
        if let Some(mut upload) = self.upload.take() {
            let _ = block_on(upload.abort());
        }
    }
}

impl BlobStore for S3Store {
    fn site(&self) -> &SiteId {
        &self.site
    }

    fn write_timeout(&self) -> std::time::Duration {
        self.timeout
    }

    fn begin_put(&self, key: &BlobKey) -> Result<Box<dyn PutHandle>, BlobError> {
        Ok(Box::new(S3Put {
            store: Arc::clone(&self.store),
            site: self.site.clone(),
            path: self.object(key),
            part_size: self.part_size,
            buf: Vec::new(),
            upload: None,
            exists: false,
        }))
    }

    fn get_range(&self, key: &BlobKey, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
        let path = self.object(key);
        let out_of_bounds = |len: u64| BlobError::RangeOutOfBounds {
            site: self.site.to_string(),
            key: key.to_string(),
            start: range.start,
            end: range.end,
            len,
        };
        let not_found = || BlobError::NotFound {
            site: self.site.to_string(),
            key: key.to_string(),
        };
        if range.start >= range.end {
            // No bytes to fetch: only whether the object exists and holds the range.
            return match self.head(key)? {
                None => Err(not_found()),
                Some(len) if range.start > range.end || range.end > len => Err(out_of_bounds(len)),
                Some(_) => Ok(Vec::new()),
            };
        }
        // One request: the store answers a range beyond the object with an error (or a
        // shorter body), and only then is the object's length asked for the message.
        let want = range.end - range.start;
        match block_on(self.store.get_range(&path, range.clone())) {
            Ok(bytes) if bytes.len() as u64 == want => Ok(bytes.to_vec()),
            Ok(_) | Err(object_store::Error::Generic { .. }) => match self.head(key)? {
                None => Err(not_found()),
                Some(len) if range.end > len => Err(out_of_bounds(len)),
                Some(_) => Err(BlobError::Remote {
                    site: self.site.to_string(),
                    op: "read",
                    detail: format!("{path}: short or failed ranged read of {want} bytes"),
                }),
            },
            Err(object_store::Error::NotFound { .. }) => Err(not_found()),
            Err(e) => match self.head(key) {
                Ok(None) => Err(not_found()),
                Ok(Some(len)) if range.end > len => Err(out_of_bounds(len)),
                _ => Err(self.remote("read", &path, e)),
            },
        }
    }

    fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        let path = self.object(key);
        match block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.remote("stat", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<BlobKey>, BlobError> {
        use futures_util::TryStreamExt;
        let root = ObjectPath::from(format!("{}objects", self.prefix));
        let metas: Vec<object_store::ObjectMeta> =
            block_on(self.store.list(Some(&root)).try_collect())
                .map_err(|e| self.remote("list", &root, e))?;
        let strip = format!("{}objects/", self.prefix);
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                m.location
                    .as_ref()
                    .strip_prefix(&strip)
                    .and_then(|k| BlobKey::parse(k).ok())
            })
            .collect())
    }

    fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.object(key);
        match block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.remote("delete", &path, e)),
        }
    }
}
