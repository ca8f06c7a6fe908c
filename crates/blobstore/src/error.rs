use std::path::PathBuf;

/// Errors of blob stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// A site name is not valid.
    #[error("invalid site name {0:?}: use 1-32 characters of a-z, 0-9 and -")]
    InvalidSiteName(String),
    /// An object key is not valid.
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The object does not exist.
    #[error("site {site}: object {key} not found")]
    NotFound {
        /// Site.
        site: String,
        /// Key.
        key: String,
    },
    /// The requested range is outside the object.
    #[error("site {site}: range {start}..{end} outside object {key} of {len} bytes")]
    RangeOutOfBounds {
        /// Site.
        site: String,
        /// Key.
        key: String,
        /// Start.
        start: u64,
        /// End.
        end: u64,
        /// Object length.
        len: u64,
    },
    /// A file-system operation failed.
    #[error("site {site}: {op} {path}: {source}")]
    Io {
        /// Site.
        site: String,
        /// What was being done.
        op: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The directory has no site marker: not initialised, or a disk is not mounted.
    #[error(
        "site {site}: {path} is not a callvault site directory (no callvault-site marker); is its disk mounted?"
    )]
    NotASite {
        /// Site.
        site: String,
        /// Directory.
        path: PathBuf,
    },
    /// The directory's marker names another site.
    #[error("site {site}: {path} belongs to site {found:?}")]
    WrongSite {
        /// Site expected.
        site: String,
        /// Directory.
        path: PathBuf,
        /// Site named by the marker.
        found: String,
    },
    /// A remote object store (S3) refused or failed a request, or is not reachable.
    #[error("site {site}: {op} {detail}")]
    Remote {
        /// Site.
        site: String,
        /// What was being done.
        op: &'static str,
        /// The request and the store's answer.
        detail: String,
    },
    /// A site's writer stopped before the upload finished.
    #[error("site {0}: writer stopped unexpectedly")]
    WriterGone(String),
    /// A site made no progress for its write timeout (a hung disk, mount or network); it
    /// was given up for this blob, and the other sites went on.
    #[error("site {site}: no progress for {secs} s; given up for this blob")]
    Stalled {
        /// The site.
        site: String,
        /// Its write timeout, in seconds.
        secs: u64,
    },
    /// Earlier writes to the site were given up and are still stuck; the site was not tried
    /// for this blob.
    #[error("site {site}: {writers} earlier writes are still stuck; not tried for this blob")]
    StillStuck {
        /// The site.
        site: String,
        /// Writers still stuck.
        writers: usize,
    },
}
