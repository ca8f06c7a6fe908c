//! Secret values: zeroized on drop, redacted in `Debug`, no `Display`, no `Serialize`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keys::KeyError;

/// A 256-bit data-encryption key (DEK) of one recording.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, crate::CryptoError> {
        let mut k = [0u8; 32];
        crate::random_bytes(&mut k)?;
        Ok(Self(k))
    }

    /// Wraps raw key bytes (from an unwrap, or a test vector).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key. Only the crypto layer and the Tink interoperability test touch this.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Refuses a secret file that group or others may read, write or execute.
pub fn check_secret_file_mode(path: &Path) -> Result<(), KeyError> {
    let meta = std::fs::metadata(path).map_err(|e| KeyError::io(path, e))?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Reads a secret file after checking that only its owner can access it.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    check_secret_file_mode(path)?;
    let mut f = File::open(path).map_err(|e| KeyError::io(path, e))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.read_to_end(&mut buf).map_err(|e| KeyError::io(path, e))?;
    Ok(buf)
}

/// Creates a new secret file with mode 0600 (never overwrites), writes it and fsyncs it and
/// its directory.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyError::io(path, e))?;
    f.write_all(contents).map_err(|e| KeyError::io(path, e))?;
    f.sync_all().map_err(|e| KeyError::io(path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| KeyError::io(dir, e))?;
    }
    Ok(())
}
