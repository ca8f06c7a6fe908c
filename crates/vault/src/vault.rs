//! Opening a data directory, ingest, key rotation, checkpoints and status.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use callvault_audit::event::{Action, Actor, AuditEvent};
use callvault_audit::note::{NoteSigner, NoteVerifier};
use callvault_blobstore::{BlobKey, BlobStore};
use callvault_catalog::{
    Catalog, CatalogStats, Change, Mutation, NewRecording, RepairTask, StoredCheckpoint,
};
use callvault_crypto::stream::CiphertextSource;
use callvault_crypto::{
    CryptoError, DataKey, DekId, FieldKind, KekInfo, KeyProvider, WrapBinding, WrappedDek,
    read_secret_file, write_secret_file,
};
use callvault_types::{CareProvider, PatientId, RecordingId};
use time::OffsetDateTime;

use crate::VaultError;
use crate::config::{CONFIG_FILE, CatalogConfig, Config, KeysConfig};

mod actors;
mod files;

pub use actors::{AuditReader, Maintainer, Operator, operator};
pub(crate) use files::{SiteBlob, io, truncate};
pub use files::{blob_key, recording_of_key, write_durably};

/// Context bound into sealed patient ids inside audit events. Do not change.
pub(crate) const AUDIT_SEAL_CONTEXT: &[u8] = b"audit-event";

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
    /// process at a time owns a data directory (`None` when opened beside the owner).
    _lock: Option<fs::File>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
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
            drop(crate::backends::open_key_provider(
                &config.keys,
                crate::backends::Opening::Owner,
            )?);
        }
        for site in &config.sites {
            crate::backends::create_site(site)?;
        }
        // The catalog too (a PostgreSQL server, its password and TLS are checked here), and
        // it must be empty: a new vault never continues another vault's audit log.
        {
            let catalog =
                crate::backends::open_catalog(&config.catalog, crate::backends::Opening::Owner)?;
            let events = catalog.audit_size()?;
            if events > 0 {
                return Err(VaultError::Refused(format!(
                    "the configured catalog already holds {events} audit events; a new vault needs an empty catalog"
                )));
            }
        }
        write_durably(&data_dir.join(CONFIG_FILE), text.as_bytes())?;
        let vault = Self::open(data_dir)?;
        let mut e = AuditEvent::new(operator().actor().clone(), Action::Init, "cli");
        e = e
            .detail("origin", origin)
            .detail("verifier_key", vault.verifier_key())
            .detail("sites", vault.stores.len());
        vault.catalog.commit(Change::new(e))?;
        for cp in care_providers {
            vault.ensure_care_provider(cp, Maintainer::Operator(&operator()))?;
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
        let lock = Self::lock(data_dir)?;
        Self::assemble(config, crate::backends::Opening::Owner, Some(lock))
    }

    /// Opens a data directory beside the process that owns it — a reading command (status,
    /// verify, the audit log) while the server runs. Takes no lock and cleans up nothing
    /// (an upload in progress is not a crash's leftover); creates and migrates nothing. Its
    /// writes — the audit events recording its reads — take turns with the owner's through
    /// the catalog's own locking (SQLite's write lock; a PostgreSQL advisory lock per
    /// transaction), each reading the next leaf index inside its transaction.
    pub fn open_beside(data_dir: &Path) -> Result<Self, VaultError> {
        let config = Config::load(data_dir)?;
        Self::assemble(config, crate::backends::Opening::Beside, None)
    }

    fn lock(data_dir: &Path) -> Result<fs::File, VaultError> {
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
        Ok(lock)
    }

    fn assemble(
        config: Config,
        how: crate::backends::Opening,
        lock: Option<fs::File>,
    ) -> Result<Self, VaultError> {
        let keys = crate::backends::open_key_provider(&config.keys, how)?;
        let signer = load_signer(&config)?;
        let verifier = NoteVerifier::from_verifier_key(&signer.verifier_key())?;
        let mut stores: Vec<Arc<dyn BlobStore>> = Vec::new();
        for s in &config.sites {
            stores.push(crate::backends::open_site(s, how)?);
        }
        let catalog = crate::backends::open_catalog(&config.catalog, how)?;
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

    /// The catalog, read only: changes go through the vault's operations, each with its
    /// checks and audit event (a [`callvault_catalog::CatalogRead`] has no `commit`):
    ///
    /// ```no_run
    /// fn read(v: &callvault_vault::Vault, _unused: callvault_catalog::Change) -> u64 {
    ///     v.catalog().audit_size().unwrap_or(0)
    /// }
    /// ```
    ///
    /// ```compile_fail,E0599
    /// fn approve_behind_the_vaults_back(v: &callvault_vault::Vault, c: callvault_catalog::Change) {
    ///     v.catalog().commit(c);
    /// }
    /// ```
    pub fn catalog(&self) -> &dyn callvault_catalog::CatalogRead {
        &*self.catalog
    }

    /// The catalog with write access, for tests and benchmarks that forge rows or events
    /// (feature `test-support`; no production crate enables it, `layers.rs` checks).
    #[cfg(feature = "test-support")]
    pub fn catalog_writer(&self) -> &dyn Catalog {
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
    pub fn ensure_care_provider<'m>(
        &self,
        cp: &CareProvider,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<(), VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
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

    pub(crate) fn retention_until(
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

    /// Records that someone read the audit log's verification material (proofs,
    /// checkpoints, latest events).
    pub fn record_audit_read<'m>(
        &self,
        by: impl Into<AuditReader<'m>>,
        what: &str,
    ) -> Result<(), VaultError> {
        let (actor, source) = match by.into() {
            AuditReader::Principal(p) => (
                crate::access::audit_actor(p),
                crate::access::audit_source(p),
            ),
            AuditReader::Operator(o) => (o.actor().clone(), "cli".to_owned()),
        };
        let e = AuditEvent::new(actor, Action::AuditRead, source).detail("what", what);
        self.catalog.commit(Change::new(e))?;
        Ok(())
    }

    /// The verifier for this log's checkpoints.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }
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
