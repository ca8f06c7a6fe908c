//! Key-encryption keys (KEKs), catalog field keys and blind-index keys, per care provider.
//!
//! [`KeyProvider`] is the seam for key storage: the embedded backend [`KeyFileProvider`]
//! keeps keys in owner-only files; a PKCS#11 HSM backend implements the same trait with
//! non-extractable keys. No key material ever leaves a provider: callers hand in data keys
//! and field values and get back wrapped keys, sealed fields and index values.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use callvault_types::{CareProvider, RecordingId};
use zeroize::Zeroizing;

use crate::DataKey;
use crate::envelope::DekId;
use crate::secret::{read_secret_file, write_secret_file};

/// Format byte of a wrapped data key. Do not change.
pub const WRAPPED_DEK_V1: u8 = 1;
/// Format byte of a sealed catalog field. Do not change.
pub const SEALED_FIELD_V1: u8 = 1;
/// Domain label of data-key wrapping associated data. Do not change.
const WRAP_LABEL: &[u8] = b"callvault.dek-wrap.v1";
/// Domain label of field sealing associated data. Do not change.
const FIELD_LABEL: &[u8] = b"callvault.field.v1";
/// Domain label of blind-index input. Do not change.
const BIDX_LABEL: &[u8] = b"callvault.bidx.v1";
/// First line of every key file. Do not change.
const KEY_FILE_MAGIC: &str = "callvault-key v1";

/// Errors of key storage and key use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file can be read by group or others.
    #[error(
        "refusing to use key file {path}: mode {mode:04o} lets group or others access it; run `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file's content is not a callvault key.
    #[error("key file {0} is malformed")]
    Malformed(PathBuf),
    /// No keys exist for this care provider.
    #[error("no keys for care provider {0}")]
    UnknownCareProvider(String),
    /// The wrapped key names a KEK version that is not present.
    #[error("care provider {care_provider} has no key-encryption key version {version}")]
    UnknownKekVersion {
        /// Care provider.
        care_provider: String,
        /// Missing version.
        version: u32,
    },
    /// A wrapped key or sealed field failed authentication, or has a bad format.
    #[error("wrapped key or sealed field failed authentication")]
    Unwrap,
    /// The random generator or a primitive failed.
    #[error("cryptographic primitive failed")]
    Primitive,
    /// The PKCS#11 token refused or failed an operation.
    #[error("PKCS#11 {op}: {detail}")]
    Hsm {
        /// What was being done.
        op: &'static str,
        /// The token's answer.
        detail: String,
    },
    /// The current KEK version cannot be destroyed (new data keys are wrapped under it).
    #[error("KEK version {version} of care provider {care_provider} is current; rotate first")]
    CurrentKek {
        /// Care provider.
        care_provider: String,
        /// Version.
        version: u32,
    },
}

impl KeyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Version of a care provider's key-encryption key; increases by one on every rotation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct KekVersion(pub u32);

/// A data key wrapped under a KEK version.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WrappedDek {
    /// KEK version that wrapped it.
    pub kek_version: KekVersion,
    /// `0x01 ‖ nonce (12) ‖ AES-256-GCM(DEK) (32) ‖ tag (16)`.
    pub bytes: Vec<u8>,
}

/// What a wrapped data key is bound to (part of the wrapping's associated data).
#[derive(Clone, Copy, Debug)]
pub struct WrapBinding {
    /// The recording the key encrypts.
    pub recording_id: RecordingId,
    /// The key's id, as in the blob header.
    pub dek_id: DekId,
}

/// Catalog fields that are sealed and blind-indexed. Labels are stable: do not change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum FieldKind {
    /// A patient id in canonical form.
    PatientId,
    /// A caller's E.164 number.
    CallerNumber,
    /// Free text that may identify a patient (reasons, comments).
    FreeText,
}

impl FieldKind {
    fn label(self) -> &'static [u8] {
        match self {
            Self::PatientId => b"patient-id",
            Self::CallerNumber => b"caller-number",
            Self::FreeText => b"free-text",
        }
    }
}

/// A keyed blind index (HMAC-SHA-256) of a field value, for equality search.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlindIndex(pub [u8; 32]);

/// A KEK as listed by `keys list`: never the key itself.
#[derive(Clone, Debug)]
pub struct KekInfo {
    /// Owner.
    pub care_provider: CareProvider,
    /// Version.
    pub version: KekVersion,
    /// Whether this is the version new wraps use.
    pub current: bool,
}

/// A care provider's KEK versions, whatever holds them (in-memory keys or token handles):
/// the highest version is current.
#[derive(Clone, Debug)]
pub(crate) struct KekRing<K>(pub(crate) BTreeMap<u32, K>);

impl<K> Default for KekRing<K> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<K> KekRing<K> {
    /// The current version and its key.
    pub(crate) fn current(&self, cp: &CareProvider) -> Result<(KekVersion, &K), KeyError> {
        self.0
            .iter()
            .next_back()
            .map(|(v, k)| (KekVersion(*v), k))
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))
    }

    /// One version's key.
    pub(crate) fn get(&self, cp: &CareProvider, version: KekVersion) -> Result<&K, KeyError> {
        self.0
            .get(&version.0)
            .ok_or_else(|| KeyError::UnknownKekVersion {
                care_provider: cp.to_string(),
                version: version.0,
            })
    }

    /// The version a rotation adds (never a destroyed version's number).
    pub(crate) fn next(&self) -> u32 {
        self.0.keys().next_back().copied().unwrap_or(0) + 1
    }

    /// Refuses to destroy the current version.
    pub(crate) fn check_retired(&self, cp: &CareProvider, v: KekVersion) -> Result<(), KeyError> {
        if self.0.keys().next_back().copied() == Some(v.0) {
            return Err(KeyError::CurrentKek {
                care_provider: cp.to_string(),
                version: v.0,
            });
        }
        Ok(())
    }
}

/// Every KEK version of every care provider, sorted, the current ones marked.
pub(crate) fn list_rings<'a, K: 'a>(
    rings: impl Iterator<Item = (&'a CareProvider, &'a KekRing<K>)>,
) -> Vec<KekInfo> {
    let mut out = Vec::new();
    for (cp, ring) in rings {
        let current = ring.0.keys().next_back().copied();
        for v in ring.0.keys() {
            out.push(KekInfo {
                care_provider: cp.clone(),
                version: KekVersion(*v),
                current: Some(*v) == current,
            });
        }
    }
    out.sort_by(|a, b| (&a.care_provider, a.version).cmp(&(&b.care_provider, b.version)));
    out
}

/// Storage and use of per-care-provider keys. Implementations keep key material inside.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// Name of the backend, for `status`.
    fn backend(&self) -> &'static str;
    /// Creates the keys of a care provider if it has none (idempotent).
    fn ensure_care_provider(&self, cp: &CareProvider) -> Result<(), KeyError>;
    /// The KEK version new wraps use.
    fn current_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError>;
    /// Wraps a data key under the current KEK.
    fn wrap_dek(
        &self,
        cp: &CareProvider,
        dek: &DataKey,
        binding: &WrapBinding,
    ) -> Result<WrappedDek, KeyError>;
    /// Unwraps a data key; fails if the binding differs from the one it was wrapped with.
    fn unwrap_dek(
        &self,
        cp: &CareProvider,
        wrapped: &WrappedDek,
        binding: &WrapBinding,
    ) -> Result<DataKey, KeyError>;
    /// Adds a new KEK version and makes it current. Old versions stay for unwrapping.
    fn rotate_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError>;
    /// Every KEK of every care provider.
    fn list_keks(&self) -> Result<Vec<KekInfo>, KeyError>;
    /// Destroys a retired KEK version (never the current one); idempotent. The caller makes
    /// sure no wrapped data key uses it: whatever it wrapped can never be unwrapped again.
    fn destroy_kek(&self, cp: &CareProvider, version: KekVersion) -> Result<(), KeyError>;
    /// Encrypts a catalog field; `context` (e.g. the recording id) is bound as associated data.
    fn seal_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, KeyError>;
    /// Decrypts a catalog field sealed with the same kind and context.
    fn open_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>;
    /// The blind index of a field value.
    fn blind_index(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        value: &[u8],
    ) -> Result<BlindIndex, KeyError>;
}

struct CareProviderKeys {
    keks: KekRing<LessSafeKey>,
    field: LessSafeKey,
    index: hmac::Key,
}

/// Embedded key backend: one directory per care provider under a key directory, each key in
/// its own owner-only (0600) file. Opening refuses any key file group or others can read.
pub struct KeyFileProvider {
    dir: PathBuf,
    keys: RwLock<HashMap<CareProvider, CareProviderKeys>>,
}

impl fmt::Debug for KeyFileProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileProvider")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn aes_key(bytes: &[u8]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Primitive)
}

fn seal(key: &LessSafeKey, version: u8, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::random_bytes(&mut nonce).map_err(|_| KeyError::Primitive)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
    out.push(version);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| KeyError::Primitive)?;
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn open(
    key: &LessSafeKey,
    version: u8,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != version {
        return Err(KeyError::Unwrap);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| KeyError::Unwrap)?
        .len();
    body.truncate(len);
    Ok(body)
}

pub(crate) fn wrap_aad(cp: &CareProvider, version: KekVersion, b: &WrapBinding) -> Vec<u8> {
    let mut aad = Vec::with_capacity(96);
    aad.extend_from_slice(WRAP_LABEL);
    aad.push(0);
    aad.extend_from_slice(cp.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.0.to_be_bytes());
    aad.extend_from_slice(b.recording_id.as_bytes());
    aad.extend_from_slice(&b.dek_id.0);
    aad
}

pub(crate) fn field_aad(kind: FieldKind, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + context.len());
    aad.extend_from_slice(FIELD_LABEL);
    aad.push(0);
    aad.extend_from_slice(kind.label());
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

/// The input of a blind index: domain label, field kind and value.
pub(crate) fn bidx_input(kind: FieldKind, value: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(BIDX_LABEL.len() + 16 + value.len());
    input.extend_from_slice(BIDX_LABEL);
    input.push(0);
    input.extend_from_slice(kind.label());
    input.push(0);
    input.extend_from_slice(value);
    input
}

fn kek_file_name(version: u32) -> String {
    format!("kek-v{version:06}.key")
}

fn write_key_file(path: &Path, kind: &str) -> Result<(), KeyError> {
    let mut raw = Zeroizing::new([0u8; 32]);
    crate::random_bytes(&mut *raw).map_err(|_| KeyError::Primitive)?;
    let text = Zeroizing::new(format!("{KEY_FILE_MAGIC} {kind}\n{}\n", hex::encode(*raw)));
    write_secret_file(path, text.as_bytes())
}

fn read_key_file(path: &Path, kind: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = read_secret_file(path)?;
    let text = std::str::from_utf8(&text).map_err(|_| KeyError::Malformed(path.to_owned()))?;
    let mut lines = text.lines();
    if lines.next() != Some(&format!("{KEY_FILE_MAGIC} {kind}")) {
        return Err(KeyError::Malformed(path.to_owned()));
    }
    let raw = lines
        .next()
        .and_then(|h| hex::decode(h.trim()).ok())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| KeyError::Malformed(path.to_owned()))?;
    Ok(Zeroizing::new(raw))
}

/// Prefix of a care provider's key directory while it is being created.
const TMP_PREFIX: &str = ".creating-";
/// Suffix of a new KEK version's file before it is linked into place.
const NEW_SUFFIX: &str = ".new";
/// Suffix of a retired KEK version's file while it is being destroyed.
const DESTROYING_SUFFIX: &str = ".destroying";

/// Overwrites a key file with zeros, then unlinks it and makes that durable. On journalling,
/// copy-on-write or flash storage the overwrite is best effort; the key file's backups must
/// be destroyed by the same routine.
fn shred_file(path: &Path) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |e| KeyError::io(path, e);
    let len = std::fs::metadata(path).map_err(io)?.len();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.write_all(&vec![0u8; len as usize]).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::remove_file(path).map_err(io)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| KeyError::io(dir, e))
}

/// Creates a directory (and missing parents) mode 0700 and makes its entry durable.
fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| KeyError::io(dir, e))?;
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

impl KeyFileProvider {
    /// Creates a key directory (mode 0700) if it does not exist, then opens it.
    pub fn create(dir: &Path) -> Result<Self, KeyError> {
        create_private_dir(dir)?;
        Self::open(dir)
    }

    /// Opens an existing key directory and loads every care provider in it, removing what
    /// an interrupted creation left. Fails if any key file is readable by group or others.
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        Self::open_as(dir, true)
    }

    /// [`KeyFileProvider::open`] beside the process that owns the directory (a reading
    /// command while the server runs): a creation in progress is skipped, not removed.
    pub fn open_beside(dir: &Path) -> Result<Self, KeyError> {
        Self::open_as(dir, false)
    }

    fn open_as(dir: &Path, owner: bool) -> Result<Self, KeyError> {
        // Never created here: a missing key directory (an unmounted disk, a lost backup)
        // must not turn into an empty one in which new keys would be made.
        if !dir.is_dir() {
            return Err(KeyError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "key directory does not exist"),
            ));
        }
        crate::secret::check_secret_file_mode(dir)?;
        let mut keys = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| KeyError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| KeyError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                // An interrupted creation: no key in it was ever used. Beside the owner it
                // may be one in progress.
                if owner {
                    std::fs::remove_dir_all(entry.path())
                        .map_err(|e| KeyError::io(&entry.path(), e))?;
                }
                continue;
            }
            let Ok(cp) = CareProvider::parse(&name) else {
                continue;
            };
            keys.insert(cp, Self::load_care_provider(&entry.path())?);
        }
        Ok(Self {
            dir: dir.to_owned(),
            keys: RwLock::new(keys),
        })
    }

    fn load_care_provider(dir: &Path) -> Result<CareProviderKeys, KeyError> {
        crate::secret::check_secret_file_mode(dir)?;
        let mut keks = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| KeyError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| KeyError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".kek-v") && name.ends_with(NEW_SUFFIX) {
                // A rotation interrupted before its version was linked into place: never
                // used for anything.
                std::fs::remove_file(entry.path()).map_err(|e| KeyError::io(&entry.path(), e))?;
                continue;
            }
            if name.starts_with(".kek-v") && name.ends_with(DESTROYING_SUFFIX) {
                // A destruction interrupted after the version left the loaded names.
                shred_file(&entry.path())?;
                continue;
            }
            if let Some(v) = name
                .strip_prefix("kek-v")
                .and_then(|r| r.strip_suffix(".key"))
            {
                let version: u32 = v.parse().map_err(|_| KeyError::Malformed(entry.path()))?;
                let raw = read_key_file(&entry.path(), "kek")?;
                keks.insert(version, aes_key(&raw)?);
            }
        }
        if keks.is_empty() {
            return Err(KeyError::Malformed(dir.join(kek_file_name(1))));
        }
        let field = aes_key(&read_key_file(&dir.join("field.key"), "field")?)?;
        let index_raw = read_key_file(&dir.join("index.key"), "index")?;
        let index = hmac::Key::new(hmac::HMAC_SHA256, &index_raw);
        Ok(CareProviderKeys {
            keks: KekRing(keks),
            field,
            index,
        })
    }

    fn with_keys<T>(
        &self,
        cp: &CareProvider,
        f: impl FnOnce(&CareProviderKeys) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let guard = self.keys.read().map_err(|_| KeyError::Primitive)?;
        let keys = guard
            .get(cp)
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))?;
        f(keys)
    }
}

impl KeyProvider for KeyFileProvider {
    fn backend(&self) -> &'static str {
        "key-files"
    }

    fn ensure_care_provider(&self, cp: &CareProvider) -> Result<(), KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        if guard.contains_key(cp) {
            return Ok(());
        }
        // All keys are written into a temporary directory, fsynced, and renamed into place
        // in one step: a crash leaves either no care provider or a complete one.
        let dir = self.dir.join(cp.as_str());
        let mut suffix = [0u8; 8];
        crate::random_bytes(&mut suffix).map_err(|_| KeyError::Primitive)?;
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{}-{}",
            cp.as_str(),
            hex::encode(suffix)
        ));
        create_private_dir(&tmp)?;
        for (file, kind) in [
            (kek_file_name(1), "kek"),
            ("field.key".to_owned(), "field"),
            ("index.key".to_owned(), "index"),
        ] {
            write_key_file(&tmp.join(file), kind)?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| KeyError::io(&dir, e))?;
        sync_dir(&self.dir)?;
        guard.insert(cp.clone(), Self::load_care_provider(&dir)?);
        Ok(())
    }

    fn current_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError> {
        self.with_keys(cp, |k| Ok(k.keks.current(cp)?.0))
    }

    fn wrap_dek(
        &self,
        cp: &CareProvider,
        dek: &DataKey,
        binding: &WrapBinding,
    ) -> Result<WrappedDek, KeyError> {
        self.with_keys(cp, |k| {
            let (version, kek) = k.keks.current(cp)?;
            let aad = wrap_aad(cp, version, binding);
            Ok(WrappedDek {
                kek_version: version,
                bytes: seal(kek, WRAPPED_DEK_V1, &aad, dek.expose_bytes())?,
            })
        })
    }

    fn unwrap_dek(
        &self,
        cp: &CareProvider,
        wrapped: &WrappedDek,
        binding: &WrapBinding,
    ) -> Result<DataKey, KeyError> {
        self.with_keys(cp, |k| {
            let kek = k.keks.get(cp, wrapped.kek_version)?;
            let aad = wrap_aad(cp, wrapped.kek_version, binding);
            let raw = open(kek, WRAPPED_DEK_V1, &aad, &wrapped.bytes)?;
            let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| KeyError::Unwrap)?;
            Ok(DataKey::from_bytes(bytes))
        })
    }

    fn rotate_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        let keys = guard
            .get_mut(cp)
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))?;
        let next = keys.keks.next();
        let dir = self.dir.join(cp.as_str());
        let path = dir.join(kek_file_name(next));
        // Written under a hidden name, then linked into place (never over an existing
        // file): a crash leaves either no new version or a complete one, never a torn file
        // that would stop the vault from opening.
        let tmp = dir.join(format!(".{}{NEW_SUFFIX}", kek_file_name(next)));
        let _ = std::fs::remove_file(&tmp);
        write_key_file(&tmp, "kek")?;
        std::fs::hard_link(&tmp, &path).map_err(|e| KeyError::io(&path, e))?;
        std::fs::remove_file(&tmp).map_err(|e| KeyError::io(&tmp, e))?;
        sync_dir(&dir)?;
        let raw = read_key_file(&path, "kek")?;
        keys.keks.0.insert(next, aes_key(&raw)?);
        Ok(KekVersion(next))
    }

    fn destroy_kek(&self, cp: &CareProvider, version: KekVersion) -> Result<(), KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        let keys = guard
            .get_mut(cp)
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))?;
        keys.keks.check_retired(cp, version)?;
        let dir = self.dir.join(cp.as_str());
        let path = dir.join(kek_file_name(version.0));
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::metadata(&path) {
            Ok(_) => {
                // First out of the loaded names (atomic), then overwritten and unlinked: a
                // crash in between leaves a hidden file that the next open finishes off,
                // never a torn key file that would stop the vault from opening.
                let doomed = dir.join(format!(".{}{DESTROYING_SUFFIX}", kek_file_name(version.0)));
                std::fs::rename(&path, &doomed).map_err(io)?;
                sync_dir(&dir)?;
                shred_file(&doomed)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        keys.keks.0.remove(&version.0);
        Ok(())
    }

    fn list_keks(&self) -> Result<Vec<KekInfo>, KeyError> {
        let guard = self.keys.read().map_err(|_| KeyError::Primitive)?;
        Ok(list_rings(guard.iter().map(|(cp, k)| (cp, &k.keks))))
    }

    fn seal_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.with_keys(cp, |k| {
            seal(&k.field, SEALED_FIELD_V1, &field_aad(kind, context), value)
        })
    }

    fn open_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.with_keys(cp, |k| {
            open(&k.field, SEALED_FIELD_V1, &field_aad(kind, context), sealed)
        })
    }

    fn blind_index(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        value: &[u8],
    ) -> Result<BlindIndex, KeyError> {
        self.with_keys(cp, |k| {
            let input = Zeroizing::new(bidx_input(kind, value));
            let mut out = [0u8; 32];
            out.copy_from_slice(hmac::sign(&k.index, &input).as_ref());
            Ok(BlindIndex(out))
        })
    }
}
