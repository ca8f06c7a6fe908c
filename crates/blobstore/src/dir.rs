//! The embedded backend: a directory per site.
//!
//! Layout: `<root>/objects/<key>` for objects, `<root>/tmp/` for uploads in progress.
//! A put writes a temporary file, fsyncs it, hard-links it to its final name (which fails
//! if the name exists: put-if-absent without a race), fsyncs the object's directory (and any
//! directory it had to create), then removes the temporary name. A crash leaves at most a
//! temporary file of ciphertext, which `open` removes. Directories are created mode 0700.
//!
//! A site directory carries a marker file, `callvault-site`, naming the site. `create` writes
//! it; `open` requires it, so that an unmounted disk (an empty mount point) is refused
//! instead of silently becoming an empty site.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{BlobError, BlobKey, BlobStore, PutHandle, PutOutcome, SiteId};

/// Name of the marker file in a site's root. Do not change.
pub const SITE_MARKER: &str = "callvault-site";

/// A site stored in a local directory.
#[derive(Debug)]
pub struct DirStore {
    site: SiteId,
    root: PathBuf,
    write_timeout: std::time::Duration,
    /// Object directories whose entries (and ancestors' entries) are known to be durable.
    durable_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl DirStore {
    /// Creates a new site directory with its marker (or opens an existing one of the same
    /// name).
    pub fn create(site: SiteId, root: &Path) -> Result<Self, BlobError> {
        let marker = root.join(SITE_MARKER);
        if !marker.exists() {
            let s = Self::unchecked(site.clone(), root);
            for d in [root.to_owned(), s.objects(), s.tmp()] {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&d)
                    .map_err(|e| s.io("create directory", &d, e))?;
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&marker)
                .map_err(|e| s.io("create", &marker, e))?;
            f.write_all(format!("{site}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| s.io("write", &marker, e))?;
            for d in [root.to_owned(), s.objects(), s.tmp()] {
                sync_dir(&d).map_err(|e| s.io("fsync directory", &d, e))?;
            }
            if let Some(parent) = root.parent() {
                sync_dir(parent).map_err(|e| s.io("fsync directory", parent, e))?;
            }
        }
        Self::open(site, root)
    }

    /// Opens an existing site directory, checks its marker, and removes leftover temporary
    /// uploads.
    pub fn open(site: SiteId, root: &Path) -> Result<Self, BlobError> {
        let s = Self::open_beside(site, root)?;
        let tmp = s.tmp();
        let entries = fs::read_dir(&tmp).map_err(|e| s.io("list", &tmp, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| s.io("list", &tmp, e))?;
            fs::remove_file(entry.path())
                .map_err(|e| s.io("remove stale upload", &entry.path(), e))?;
        }
        Ok(s)
    }

    /// Opens an existing site directory beside the process that owns it (a reading command
    /// while the server runs): checks its marker and leaves `tmp/` alone — what is there may
    /// be an upload in progress.
    pub fn open_beside(site: SiteId, root: &Path) -> Result<Self, BlobError> {
        let s = Self::unchecked(site, root);
        let marker = root.join(SITE_MARKER);
        match fs::read_to_string(&marker) {
            Ok(text) if text.trim() == s.site.as_str() => {}
            Ok(text) => {
                return Err(BlobError::WrongSite {
                    site: s.site.to_string(),
                    path: root.to_owned(),
                    found: text.trim().chars().take(40).collect(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotASite {
                    site: s.site.to_string(),
                    path: root.to_owned(),
                });
            }
            Err(e) => return Err(s.io("read", &marker, e)),
        }
        Ok(s)
    }

    fn unchecked(site: SiteId, root: &Path) -> Self {
        Self {
            site,
            root: root.to_owned(),
            write_timeout: crate::DEFAULT_WRITE_TIMEOUT,
            durable_dirs: Arc::default(),
        }
    }

    /// Sets how long a write may make no progress before the site is given up for that
    /// blob (a hung disk or network mount); see [`crate::replicate`].
    #[must_use]
    pub fn with_write_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The site's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Path of an object's file.
    pub fn object_path(&self, key: &BlobKey) -> PathBuf {
        self.objects().join(key.as_str())
    }

    fn io(&self, op: &'static str, path: &Path, source: io::Error) -> BlobError {
        BlobError::Io {
            site: self.site.to_string(),
            op,
            path: path.to_owned(),
            source,
        }
    }

    fn not_found(&self, key: &BlobKey) -> BlobError {
        BlobError::NotFound {
            site: self.site.to_string(),
            key: key.to_string(),
        }
    }
}

struct DirPut {
    site: String,
    tmp_path: PathBuf,
    final_path: PathBuf,
    objects_root: PathBuf,
    durable_dirs: Arc<Mutex<HashSet<PathBuf>>>,
    file: Option<File>,
    /// Set once the object is in place and the temporary name is gone.
    done: bool,
}

impl DirPut {
    fn io(&self, op: &'static str, path: &Path, source: io::Error) -> BlobError {
        BlobError::Io {
            site: self.site.clone(),
            op,
            path: path.to_owned(),
            source,
        }
    }
}

impl PutHandle for DirPut {
    fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let r = match self.file.as_mut() {
            Some(f) => f.write_all(chunk),
            None => return Err(BlobError::WriterGone(self.site.clone())),
        };
        r.map_err(|e| self.io("write", &self.tmp_path, e))
    }

    fn commit(mut self: Box<Self>) -> Result<PutOutcome, BlobError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| BlobError::WriterGone(self.site.clone()))?;
        file.sync_all()
            .map_err(|e| self.io("fsync", &self.tmp_path, e))?;
        drop(file);
        // Make sure the parent directories of the final name exist and their entries are
        // durable. Whoever first uses a directory in this process fsyncs its ancestors, even
        // if another thread created it, so no put is acknowledged through an entry that is
        // still only in memory.
        let parent = self
            .final_path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| self.objects_root.clone());
        let known = self
            .durable_dirs
            .lock()
            .map(|set| set.contains(&parent))
            .unwrap_or(false);
        if !known {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&parent)
                .map_err(|e| self.io("create directory", &parent, e))?;
            let mut p = parent.as_path();
            while p != self.objects_root {
                let Some(up) = p.parent() else { break };
                sync_dir(up).map_err(|e| self.io("fsync directory", up, e))?;
                p = up;
            }
            if let Ok(mut set) = self.durable_dirs.lock() {
                set.insert(parent.clone());
            }
        }
        let outcome = match fs::hard_link(&self.tmp_path, &self.final_path) {
            Ok(()) => PutOutcome::Created,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => PutOutcome::AlreadyExists,
            Err(e) => return Err(self.io("link", &self.final_path, e)),
        };
        // The object's name must be durable; the temporary name's removal need not be
        // (a leftover temporary file holds only ciphertext and is removed by `open`).
        sync_dir(&parent).map_err(|e| self.io("fsync directory", &parent, e))?;
        fs::remove_file(&self.tmp_path).map_err(|e| self.io("remove", &self.tmp_path, e))?;
        self.done = true;
        Ok(outcome)
    }
}

impl Drop for DirPut {
    fn drop(&mut self) {
        if !self.done {
            // Abandoned, or the commit failed: discard the upload (ciphertext only).
            self.file.take();
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

impl BlobStore for DirStore {
    fn site(&self) -> &SiteId {
        &self.site
    }

    fn write_timeout(&self) -> std::time::Duration {
        self.write_timeout
    }

    fn begin_put(&self, key: &BlobKey) -> Result<Box<dyn PutHandle>, BlobError> {
        let mut name = [0u8; 12];
        getrandom_name(&mut name);
        let tmp_path = self.tmp().join(format!("{}.part", hex_lower(&name)));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)
            .map_err(|e| self.io("create", &tmp_path, e))?;
        Ok(Box::new(DirPut {
            site: self.site.to_string(),
            tmp_path,
            final_path: self.object_path(key),
            objects_root: self.objects(),
            durable_dirs: Arc::clone(&self.durable_dirs),
            file: Some(file),
            done: false,
        }))
    }

    fn get_range(&self, key: &BlobKey, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
        let path = self.object_path(key);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.not_found(key)),
            Err(e) => return Err(self.io("open", &path, e)),
        };
        let len = f.metadata().map_err(|e| self.io("stat", &path, e))?.len();
        if range.start > range.end || range.end > len {
            return Err(BlobError::RangeOutOfBounds {
                site: self.site.to_string(),
                key: key.to_string(),
                start: range.start,
                end: range.end,
                len,
            });
        }
        f.seek(SeekFrom::Start(range.start))
            .map_err(|e| self.io("seek", &path, e))?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        f.read_exact(&mut buf)
            .map_err(|e| self.io("read", &path, e))?;
        Ok(buf)
    }

    fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        let path = self.object_path(key);
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("stat", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<BlobKey>, BlobError> {
        let mut out = Vec::new();
        let mut stack = vec![self.objects()];
        let root = self.objects();
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| self.io("list", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| self.io("list", &dir, e))?;
                let path = entry.path();
                let ft = entry.file_type().map_err(|e| self.io("stat", &path, e))?;
                if ft.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&root)
                    && let Some(rel) = rel.to_str()
                    && let Ok(key) = BlobKey::parse(rel)
                {
                    out.push(key);
                }
            }
        }
        Ok(out)
    }

    fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.object_path(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io("remove", &path, e)),
        }
        if let Some(parent) = path.parent() {
            sync_dir(parent).map_err(|e| self.io("fsync directory", parent, e))?;
        }
        Ok(())
    }
}

fn getrandom_name(buf: &mut [u8]) {
    let u = uuid::Uuid::new_v4();
    let n = buf.len().min(16);
    buf[..n].copy_from_slice(&u.as_bytes()[..n]);
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
