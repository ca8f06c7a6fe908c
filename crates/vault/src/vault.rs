//! Opening a data directory, ingest, key rotation, checkpoints and status.

use std::fs;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use callvault_audit::event::{Action, Actor, AuditEvent, Outcome, RecordingRef, SealedPatient};
use callvault_audit::note::{NoteSigner, NoteVerifier};
use callvault_blobstore::{BlobKey, BlobStore, PutOutcome, replicate};
use callvault_catalog::{
    Catalog, CatalogStats, Change, Mutation, NewRecording, Placement, PlacementState,
    RecordingSource, RepairTask, StoredCheckpoint,
};
use callvault_crypto::stream::CiphertextSource;
use callvault_crypto::{
    CryptoError, DataKey, DekId, EnvelopeHeader, FieldKind, KekInfo, KeyProvider, Sha256,
    WrapBinding, WrappedDek, read_secret_file, write_secret_file,
};
use callvault_types::{
    CallId, CallerNumber, CareProvider, CareUnit, HsaId, PatientId, RecordingId,
};
use time::OffsetDateTime;

use crate::VaultError;
use crate::config::{CONFIG_FILE, CatalogConfig, Config, KeysConfig};

/// Context bound into sealed patient ids inside audit events. Do not change.
pub(crate) const AUDIT_SEAL_CONTEXT: &[u8] = b"audit-event";

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

/// What is known about a call when its recording arrives. Patient data is typed and never
/// printed.
#[derive(Debug, Clone)]
pub struct CallMeta {
    /// Owner.
    pub care_provider: CareProvider,
    /// Care unit.
    pub care_unit: CareUnit,
    /// Telephony call id.
    pub call_id: CallId,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// Patient.
    pub patient: PatientId,
    /// Caller number.
    pub caller: Option<CallerNumber>,
    /// Nurse.
    pub nurse: Option<HsaId>,
    /// Codec name.
    pub codec: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The least number of audio bytes the stream must hold (the WAV header's promise: its
    /// header plus its data chunk); a shorter stream is refused and nothing is kept.
    pub min_len: u64,
}

/// Result of an ingest.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// New recording id.
    pub id: RecordingId,
    /// Sites holding a durable copy.
    pub sites_ok: Vec<String>,
    /// Sites that failed, with the error; each has a repair task.
    pub sites_failed: Vec<(String, String)>,
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
    /// Nothing deletes it before this instant.
    pub retention_until: OffsetDateTime,
    /// Leaf index of the ingest's audit event.
    pub leaf_index: u64,
}

/// What `encrypt_to_sites` produced.
struct Encrypted {
    outcomes: Vec<callvault_blobstore::SiteOutcome>,
    plaintext_size: u64,
    plaintext_sha256: [u8; 32],
    ciphertext_size: u64,
    ciphertext_sha256: [u8; 32],
}

/// Bytes handed between ingest threads at a time.
const BATCH_BYTES: usize = 1 << 20;

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

/// A reader that hands a copy of everything it reads to a hashing thread, about 1 MiB at a
/// time (in memory only; plaintext never touches disk).
struct Tee<R> {
    inner: R,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    pending: Vec<u8>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        if n == 0 || self.pending.len() >= BATCH_BYTES {
            let chunk = std::mem::take(&mut self.pending);
            if !chunk.is_empty()
                && let Some(tx) = &self.tx
                && tx.send(chunk).is_err()
            {
                return Err(std::io::Error::other("plaintext hasher stopped"));
            }
        }
        Ok(n)
    }
}

impl<R> Drop for Tee<R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let rest = std::mem::take(&mut self.pending);
            if !rest.is_empty() {
                let _ = tx.send(rest);
            }
        }
    }
}

/// `status` output.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Catalog counts.
    pub stats: CatalogStats,
    /// Sites: name, location (directory or S3 URL), objects present.
    pub sites: Vec<(String, String, usize)>,
    /// Open repair tasks.
    pub repair_tasks: Vec<RepairTask>,
    /// KEK versions.
    pub keks: Vec<KekInfo>,
    /// Newest checkpoint.
    pub latest_checkpoint: Option<StoredCheckpoint>,
    /// Key backend name.
    pub key_backend: &'static str,
    /// Progress and findings of the current or last scrub.
    pub scrub: Option<crate::scrub::ScrubState>,
}

/// An open data directory.
pub struct Vault {
    pub(crate) config: Config,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) stores: Vec<Arc<dyn BlobStore>>,
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) signer: NoteSigner,
    pub(crate) verifier: NoteVerifier,
    /// Exclusive lock on `<data dir>/callvault.lock`, held while the vault is open: one
    /// process at a time owns a data directory.
    _lock: fs::File,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
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

/// The operator running a CLI command, as an audit actor: `name(uid)@host`, with the name
/// looked up from the process's real uid in /etc/passwd (not from `$USER`).
pub fn operator() -> Actor {
    // The real uid: first field of the "Uid:" line of /proc/self/status.
    let uid = fs::read_to_string("/proc/self/status").ok().and_then(|st| {
        st.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u32>().ok())
    });
    let name = uid.and_then(|uid| {
        fs::read_to_string("/etc/passwd")
            .ok()?
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
    });
    let host = fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let uid = uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into());
    // Accounts outside /etc/passwd (LDAP, SSSD) show as unknown(uid).
    Actor::Operator(format!(
        "{}({uid})@{host}",
        name.as_deref().unwrap_or("unknown")
    ))
}

/// How much a [`SiteBlob`] reads at once beyond what is asked (16 ciphertext segments):
/// a remote site then answers a whole recording in a few requests rather than one per
/// 64 KiB segment.
const READ_AHEAD: u64 = 1 << 20;

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

impl Vault {
    /// Creates a data directory with the embedded default configuration: key files, two
    /// site directories, SQLite catalog and audit signing key; records the `init` event and
    /// a first signed checkpoint.
    pub fn init(
        data_dir: &Path,
        origin: &str,
        care_providers: &[CareProvider],
    ) -> Result<Self, VaultError> {
        Self::init_with_config(data_dir, &Config::default_toml(origin), care_providers)
    }

    /// Creates a data directory from a configuration text (validated first; written as
    /// `callvault.toml`), e.g. one with the catalog in PostgreSQL, keys in a PKCS#11 token or
    /// S3 sites. The file is validated, and the key backend, every site and the (empty)
    /// catalog reached, before `callvault.toml` is written.
    pub fn init_with_config(
        data_dir: &Path,
        text: &str,
        care_providers: &[CareProvider],
    ) -> Result<Self, VaultError> {
        if data_dir.join(CONFIG_FILE).exists() {
            return Err(VaultError::AlreadyInitialised(data_dir.to_owned()));
        }
        // Validated before anything is created: a bad configuration leaves nothing behind.
        let config = Config::parse(text, data_dir, &data_dir.join(CONFIG_FILE))?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(io("create", data_dir))?;
        // An existing, empty directory may have a wider mode: only the owner gets in.
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
                .map_err(io("chmod", data_dir))?;
        }
        let origin = config.audit_origin.as_str();
        let mut dirs = vec![
            config
                .audit_signing_key
                .parent()
                .map(Path::to_owned)
                .unwrap_or_default(),
        ];
        if let CatalogConfig::Sqlite { path } = &config.catalog {
            dirs.push(path.parent().map(Path::to_owned).unwrap_or_default());
        }
        if let KeysConfig::Files { dir } = &config.keys {
            dirs.push(dir.clone());
        }
        for dir in dirs {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("create", &dir))?;
        }
        if config.audit_signing_key.exists() {
            // Left by an `init` that stopped before writing the configuration: reuse it if it
            // is a valid key for this origin (no checkpoint was ever signed with it).
            let text = read_secret_file(&config.audit_signing_key)?;
            let ok = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| NoteSigner::from_signer_key(t.trim()).ok())
                .is_some_and(|s| s.name() == origin);
            if !ok {
                return Err(VaultError::SigningKey(format!(
                    "{} exists and is not a signing key for {origin:?}; remove it or choose another data directory",
                    config.audit_signing_key.display()
                )));
            }
        } else {
            let (_, signer_key) = NoteSigner::generate(origin)?;
            let signer_key = zeroize::Zeroizing::new(signer_key);
            write_secret_file(&config.audit_signing_key, signer_key.as_bytes())?;
        }
        // The key backend is reached before the configuration is written: a wrong PIN or
        // token label leaves a directory that `init` can be run on again.
        if !matches!(config.keys, KeysConfig::Files { .. }) {
            drop(crate::backends::open_key_provider(&config.keys)?);
        }
        for site in &config.sites {
            crate::backends::create_site(site)?;
        }
        // The catalog too (a PostgreSQL server, its password and TLS are checked here), and
        // it must be empty: a new vault never continues another vault's audit log.
        {
            let catalog = crate::backends::open_catalog(&config.catalog)?;
            let events = catalog.audit_size()?;
            if events > 0 {
                return Err(VaultError::Refused(format!(
                    "the configured catalog already holds {events} audit events; a new vault needs an empty catalog"
                )));
            }
        }
        write_durably(&data_dir.join(CONFIG_FILE), text.as_bytes())?;
        let vault = Self::open(data_dir)?;
        let mut e = AuditEvent::new(operator(), Action::Init, "cli");
        e = e
            .detail("origin", origin)
            .detail("verifier_key", vault.verifier_key())
            .detail("sites", vault.stores.len());
        vault.catalog.commit(Change::new(e))?;
        for cp in care_providers {
            vault.ensure_care_provider(cp, &operator())?;
        }
        vault.checkpoint()?;
        Ok(vault)
    }

    /// The audit log's public verifier key of an initialised data directory, read without
    /// the data directory's lock: it works beside a running server, which holds the lock.
    /// Reads only the configuration and the signing key file (refused if readable by
    /// others), and checks the key is for the configured origin.
    pub fn read_verifier_key(data_dir: &Path) -> Result<String, VaultError> {
        let config = Config::load(data_dir)?;
        let signer = load_signer(&config)?;
        Ok(signer.verifier_key())
    }

    /// Opens an initialised data directory. Refuses key files readable by others.
    pub fn open(data_dir: &Path) -> Result<Self, VaultError> {
        let config = Config::load(data_dir)?;
        let lock_path = data_dir.join("callvault.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(VaultError::InUse(data_dir.to_owned()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        let keys = crate::backends::open_key_provider(&config.keys)?;

        let signer = load_signer(&config)?;
        let verifier = NoteVerifier::from_verifier_key(&signer.verifier_key())?;
        let mut stores: Vec<Arc<dyn BlobStore>> = Vec::new();
        for s in &config.sites {
            stores.push(crate::backends::open_site(s)?);
        }
        let catalog = crate::backends::open_catalog(&config.catalog)?;
        Ok(Self {
            config,
            keys,
            stores,
            catalog,
            signer,
            verifier,
            _lock: lock,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The catalog (read access for reports).
    pub fn catalog(&self) -> &dyn Catalog {
        &*self.catalog
    }

    /// The sites.
    pub fn stores(&self) -> &[Arc<dyn BlobStore>] {
        &self.stores
    }

    /// The audit log's public verifier key (`name+keyid+base64`).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Registers a care provider: creates its keys (KEK, field key, blind-index key) and its
    /// catalog row with the audit event. Idempotent; finishes a registration a crash cut
    /// short. Only registered care providers can have recordings.
    pub fn ensure_care_provider(&self, cp: &CareProvider, actor: &Actor) -> Result<(), VaultError> {
        let registered = self.catalog.care_provider_retention(cp)?;
        let configured = self.config.retention_years(cp);
        if registered.is_some_and(|y| y >= configured) && self.keys.current_kek(cp).is_ok() {
            return Ok(());
        }
        if registered.is_some() && self.keys.current_kek(cp).is_err() {
            // Its data keys are wrapped under keys that are gone: making new ones would only
            // hide the loss. The key directory must be restored from its backup.
            return Err(VaultError::KeysMissing(cp.to_string()));
        }
        // Idempotent: creates the keys only if they do not exist (all or nothing).
        self.keys.ensure_care_provider(cp)?;
        // Registered (or its retention lengthened) with its audit event; a crash between the
        // keys and this commit is finished on the next call.
        let years = registered.map_or(configured, |y| y.max(configured));
        let mut e = AuditEvent::new(actor.clone(), Action::CareProviderAdded, "cli");
        e.care_provider = Some(cp.clone());
        e = e
            .detail("retention_years", years)
            .detail("key_backend", self.keys.backend());
        self.catalog
            .commit(Change::new(e).with(Mutation::AddCareProvider {
                care_provider: cp.clone(),
                retention_years: years,
            }))?;
        Ok(())
    }

    /// The sealed patient id and its blind index exactly as ingest stores them — in a
    /// recording row (`recording` = its id) or in an audit event (`None`) — for a bulk tool
    /// that writes the catalog itself: the scale benchmark's generator. The plaintext id
    /// goes no further than here, as in ingest.
    pub fn seal_patient_for_bulk_load(
        &self,
        cp: &CareProvider,
        p: &PatientId,
        recording: Option<&RecordingId>,
    ) -> Result<(Vec<u8>, [u8; 32]), VaultError> {
        match recording {
            Some(id) => self.seal_patient(cp, p, id.as_bytes()),
            None => self.seal_patient(cp, p, AUDIT_SEAL_CONTEXT),
        }
    }

    pub(crate) fn seal_patient(
        &self,
        cp: &CareProvider,
        p: &PatientId,
        context: &[u8],
    ) -> Result<(Vec<u8>, [u8; 32]), VaultError> {
        let canon = zeroize::Zeroizing::new(p.canonical());
        let sealed = self
            .keys
            .seal_field(cp, FieldKind::PatientId, context, canon.as_bytes())?;
        let bidx = self
            .keys
            .blind_index(cp, FieldKind::PatientId, canon.as_bytes())?;
        Ok((sealed, bidx.0))
    }

    fn retention_until(
        &self,
        cp: &CareProvider,
        started: OffsetDateTime,
    ) -> Result<OffsetDateTime, VaultError> {
        // The longest retention ever registered for the care provider, or configured now:
        // lowering the configuration never shortens new recordings' retention.
        let registered = self.catalog.care_provider_retention(cp)?.unwrap_or(0);
        let years = self.config.retention_years(cp).max(registered) as i32;
        let target = started.year() + years;
        // 29 February becomes 1 March in a non-leap target year: never earlier.
        Ok(started
            .replace_year(target)
            .or_else(|_| {
                started
                    .replace_day(28)
                    .and_then(|t| t.replace_year(target))
                    .map(|t| t + time::Duration::days(1))
            })
            .unwrap_or(started + time::Duration::days(366 * i64::from(years))))
    }

    /// Records that a recording already in the vault was delivered again with the same audio
    /// (an idempotent retry by a recorder): who delivered it, from where, and which recording
    /// it matched. Nothing else changes. Returns the event's leaf index.
    pub fn record_redelivery(
        &self,
        row: &callvault_catalog::RecordingRow,
        actor: &Actor,
        origin: &str,
    ) -> Result<u64, VaultError> {
        let mut e = AuditEvent::new(actor.clone(), Action::Redelivery, origin);
        e.recording = Some(RecordingRef {
            id: row.rec.id,
            plaintext_sha256: row.rec.plaintext_sha256,
        });
        e.care_provider = Some(row.rec.care_provider.clone());
        e.patient = self.audit_patient(row)?;
        let committed = self.catalog.commit(Change::new(e))?;
        committed
            .leaf_indexes
            .first()
            .copied()
            .ok_or(VaultError::NoLeafIndex("re-delivery"))
    }

    /// Encrypts `audio` while streaming it to every site at once, and catalogs it with its
    /// audit event in one transaction. Succeeds if at least one site holds a durable copy;
    /// failed sites get durable repair tasks. On any error nothing is catalogued and no
    /// blob is left behind.
    pub fn ingest(
        &self,
        meta: &CallMeta,
        audio: impl Read,
        source: RecordingSource,
        actor: &Actor,
        origin: &str,
    ) -> Result<IngestOutcome, VaultError> {
        let cp = &meta.care_provider;
        // A typo in a manifest must not create a new tenant with new keys.
        if self.catalog.care_provider_retention(cp)?.is_none() {
            return Err(VaultError::UnknownCareProvider(cp.to_string()));
        }
        if self.keys.current_kek(cp).is_err() {
            return Err(VaultError::KeysMissing(cp.to_string()));
        }
        let id = RecordingId::new_random();
        let dek_id = DekId::generate()?;
        let dek = DataKey::generate()?;
        let header = EnvelopeHeader::v1(id, dek_id);
        let key = blob_key(&id)?;
        let Encrypted {
            outcomes,
            plaintext_size,
            plaintext_sha256,
            ciphertext_size: ct_len,
            ciphertext_sha256,
        } = self.encrypt_to_sites(&key, &header, &dek, audio)?;

        let mut placements = Vec::new();
        let mut sites_ok = Vec::new();
        let mut sites_failed = Vec::new();
        for o in &outcomes {
            let site = o.site.to_string();
            match &o.result {
                Ok(PutOutcome::Created) => {
                    sites_ok.push(site.clone());
                    placements.push(Placement {
                        site,
                        state: PlacementState::Ok,
                    });
                }
                Ok(PutOutcome::AlreadyExists) => {
                    sites_failed.push((
                        site.clone(),
                        "an object with this id already existed".into(),
                    ));
                    placements.push(Placement {
                        site,
                        state: PlacementState::Damaged,
                    });
                }
                Err(e) => {
                    sites_failed.push((site.clone(), e.to_string()));
                    placements.push(Placement {
                        site,
                        state: PlacementState::Missing,
                    });
                }
            }
        }
        let cleanup = || {
            for (o, store) in outcomes.iter().zip(&self.stores) {
                if matches!(o.result, Ok(PutOutcome::Created)) {
                    let _ = store.delete(&key);
                }
            }
        };
        if plaintext_size < meta.min_len {
            cleanup();
            return Err(VaultError::Truncated {
                promised: meta.min_len,
                got: plaintext_size,
            });
        }
        if sites_ok.is_empty() {
            let why = sites_failed
                .iter()
                .map(|(s, e)| format!("{s}: {e}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(VaultError::NoSiteWritable(why));
        }
        let retention_until = self.retention_until(cp, meta.started_at)?;
        let result = (|| -> Result<u64, VaultError> {
            let binding = WrapBinding {
                recording_id: id,
                dek_id,
            };
            let wrapped = self.keys.wrap_dek(cp, &dek, &binding)?;
            let patient = self.seal_patient(cp, &meta.patient, id.as_bytes())?;
            let caller = match &meta.caller {
                None => None,
                Some(c) => {
                    let v = c.expose_value().as_bytes();
                    let sealed =
                        self.keys
                            .seal_field(cp, FieldKind::CallerNumber, id.as_bytes(), v)?;
                    Some((
                        sealed,
                        self.keys.blind_index(cp, FieldKind::CallerNumber, v)?.0,
                    ))
                }
            };
            let (audit_sealed, bidx) = self.seal_patient(cp, &meta.patient, AUDIT_SEAL_CONTEXT)?;
            let rec = NewRecording {
                id,
                care_provider: cp.clone(),
                care_unit: meta.care_unit.clone(),
                call_id: meta.call_id.clone(),
                started_at: meta.started_at,
                ended_at: meta.started_at + time::Duration::milliseconds(meta.duration_ms as i64),
                duration_ms: meta.duration_ms,
                codec: meta.codec.clone(),
                sample_rate: meta.sample_rate,
                channels: meta.channels,
                plaintext_size,
                plaintext_sha256,
                ciphertext_size: ct_len,
                ciphertext_sha256,
                dek_id: dek_id.0,
                wrapped_dek: wrapped.bytes,
                kek_version: wrapped.kek_version.0,
                patient: Some(patient),
                caller,
                nurse: meta.nurse.clone(),
                retention_until,
                source,
            };
            let action = match source {
                RecordingSource::Import => Action::Import,
                RecordingSource::Ingest => Action::Ingest,
            };
            let mut e = AuditEvent::new(actor.clone(), action, origin);
            e.recording = Some(RecordingRef {
                id,
                plaintext_sha256,
            });
            e.care_provider = Some(cp.clone());
            e.patient = Some(SealedPatient {
                sealed: audit_sealed,
                blind_index: bidx,
            });
            // The event fixes the catalog row's immutable fields, so that `verify` can tell
            // an edited row from the one that was acknowledged.
            e.details = crate::verify::fixed_fields(&rec);
            e = e.detail("sites_ok", sites_ok.join(","));
            let mut change = Change::new(e).with(Mutation::InsertRecording {
                recording: Box::new(rec),
                placements,
                // What went wrong at each failed site, for the operator (`status`).
                repair_reason: truncate(
                    &format!(
                        "write failed at ingest: {}",
                        sites_failed
                            .iter()
                            .map(|(s, e)| format!("{s}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    300,
                ),
            });
            for (site, err) in &sites_failed {
                let mut t = AuditEvent::new(Actor::Vault, Action::RepairTaskCreated, origin);
                t.recording = Some(RecordingRef {
                    id,
                    plaintext_sha256,
                });
                t.care_provider = Some(cp.clone());
                t.outcome = Outcome::Failed(truncate(err, 200));
                change = change.and_event(t.detail("site", site));
            }
            let committed = self.catalog.commit(change)?;
            committed
                .leaf_indexes
                .first()
                .copied()
                .ok_or(VaultError::NoLeafIndex("ingest"))
        })();
        let leaf_index = match result {
            Ok(i) => i,
            Err(e) => {
                // Delete the blobs only if the recording is really not catalogued (a commit that
                // reported failure is rolled back, but never trust that blindly).
                // Only a definite "not there" allows deleting; when unsure, keep the blobs (an
                // orphan is reported by verify; a lost acknowledged recording is not acceptable).
                if matches!(self.catalog.recording(&id), Ok(None)) {
                    cleanup();
                }
                return Err(e);
            }
        };
        Ok(IngestOutcome {
            id,
            sites_ok,
            sites_failed,
            plaintext_size,
            plaintext_sha256,
            retention_until,
            leaf_index,
        })
    }

    /// Encrypts `audio` and streams the ciphertext to every site at once. Four kinds of
    /// thread run together: this one reads and encrypts, one per site writes, one hashes the
    /// ciphertext, and one hashes the plaintext (which it receives in memory only).
    fn encrypt_to_sites(
        &self,
        key: &BlobKey,
        header: &EnvelopeHeader,
        dek: &DataKey,
        audio: impl Read,
    ) -> Result<Encrypted, VaultError> {
        let (pt_tx, pt_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        std::thread::scope(|scope| {
            let pt_hasher = scope.spawn(move || {
                let mut h = Sha256::default();
                for chunk in pt_rx {
                    h.update(&chunk);
                }
                h.finish()
            });
            let tee = Tee {
                inner: audio,
                tx: Some(pt_tx),
                pending: Vec::with_capacity(BATCH_BYTES + (1 << 16)),
            };
            let mut enc = header.encryptor(tee, dek)?.without_plaintext_hash();
            let mut ct_hash = Sha256::default();
            let mut ciphertext_size = 0u64;
            let mut observe = |c: &[u8]| {
                ct_hash.update(c);
                ciphertext_size += c.len() as u64;
            };
            // Hand sites about 1 MiB at a time: fewer wake-ups between threads.
            let mut next = || -> Result<Option<Vec<u8>>, CryptoError> {
                let Some(mut batch) = enc.next_chunk()? else {
                    return Ok(None);
                };
                while batch.len() < BATCH_BYTES {
                    match enc.next_chunk()? {
                        Some(c) => batch.extend_from_slice(&c),
                        None => break,
                    }
                }
                Ok(Some(batch))
            };
            let outcomes = replicate(&self.stores, key, &mut next, Some(&mut observe));
            // Dropping the encryptor closes the tee's channel and ends the hasher.
            let (plaintext_size, _) = enc.finish();
            let plaintext_sha256 = pt_hasher
                .join()
                .map_err(|_| VaultError::WorkerPanicked("plaintext hasher"))?;
            Ok(Encrypted {
                outcomes: outcomes?,
                plaintext_size,
                plaintext_sha256,
                ciphertext_size,
                ciphertext_sha256: ct_hash.finish(),
            })
        })
    }

    /// Unwraps a recording's data key (crate-internal: only verification decrypts here).
    pub(crate) fn data_key(&self, rec: &NewRecording) -> Result<DataKey, VaultError> {
        let wrapped = WrappedDek {
            kek_version: callvault_crypto::KekVersion(rec.kek_version),
            bytes: rec.wrapped_dek.clone(),
        };
        let binding = WrapBinding {
            recording_id: rec.id,
            dek_id: DekId(rec.dek_id),
        };
        Ok(self
            .keys
            .unwrap_dek(&rec.care_provider, &wrapped, &binding)?)
    }

    /// Counts, sites, repair tasks, key versions and the latest checkpoint.
    pub fn status(&self) -> Result<StatusReport, VaultError> {
        let mut sites = Vec::new();
        for (s, c) in self.stores.iter().zip(&self.config.sites) {
            let n = s.list().map(|l| l.len()).unwrap_or(0);
            sites.push((s.site().to_string(), c.location(), n));
        }
        Ok(StatusReport {
            stats: self.catalog.stats()?,
            sites,
            repair_tasks: self.catalog.open_repair_tasks()?,
            keks: self.keys.list_keks()?,
            latest_checkpoint: self.catalog.latest_checkpoint()?,
            key_backend: self.keys.backend(),
            scrub: self.scrub_state(),
        })
    }

    /// Records that an operator read the audit log (proofs, checkpoints).
    pub fn record_audit_read(&self, actor: &Actor, what: &str) -> Result<(), VaultError> {
        let e = AuditEvent::new(actor.clone(), Action::AuditRead, "cli").detail("what", what);
        self.catalog.commit(Change::new(e))?;
        Ok(())
    }

    /// The verifier for this log's checkpoints.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The audit signing key of a configuration, checked against its origin.
fn load_signer(config: &Config) -> Result<NoteSigner, VaultError> {
    let signer_text = read_secret_file(&config.audit_signing_key)?;
    let signer_text = std::str::from_utf8(&signer_text)
        .map_err(|_| VaultError::SigningKey("the key file is not text".into()))?;
    let signer = NoteSigner::from_signer_key(signer_text.trim())
        .map_err(|e| VaultError::SigningKey(e.to_string()))?;
    if signer.name() != config.audit_origin {
        return Err(VaultError::SigningKey(format!(
            "audit signing key is for {:?} but audit.origin is {:?}",
            signer.name(),
            config.audit_origin
        )));
    }
    Ok(signer)
}
