use callvault_blobstore::BlobError;
use callvault_catalog::CatalogError;
use callvault_crypto::{CryptoError, KeyError};

use crate::config::ConfigError;

/// Errors of vault operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Key storage or use failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Encryption or decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A site failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A committed audit event came back without its leaf index (a catalog bug).
    #[error("the {0} event was not given a leaf index")]
    NoLeafIndex(&'static str),
    /// No checkpoint has been signed yet.
    #[error("no signed checkpoint yet; run `callvault audit checkpoint`")]
    NoCheckpoint,
    /// No signed checkpoint has this tree size.
    #[error("no signed checkpoint of size {0}")]
    NoCheckpointOfSize(u64),
    /// An audit event lies beyond the latest checkpoint.
    #[error(
        "event {index} is not covered by the latest checkpoint (size {size}); run `callvault audit checkpoint`"
    )]
    NotCovered {
        /// The event's leaf index.
        index: u64,
        /// The latest checkpoint's size.
        size: u64,
    },
    /// A Merkle proof could not be made, or did not verify against a signed root.
    #[error("proof: {0}")]
    Proof(#[from] callvault_audit::merkle::ProofError),
    /// Signing a note, or reading a signer or verifier key, failed.
    #[error("signed note: {0}")]
    Note(#[from] callvault_audit::note::NoteError),
    /// A stored audit event does not decode.
    #[error("audit event {index}: {source}")]
    BadEvent {
        /// Its leaf index.
        index: u64,
        /// Why.
        source: callvault_audit::event::EventError,
    },
    /// The audit log does not verify, so no checkpoint is signed.
    #[error("refusing to sign a checkpoint: the audit log does not verify: {}", .0.join("; "))]
    LogDoesNotVerify(Vec<String>),
    /// The audit signing key file is unusable or not the configured origin's.
    #[error("audit signing key: {0}")]
    SigningKey(String),
    /// A value the vault sealed does not open to what it stored (damage, not a client error).
    #[error("sealed {what}: {why}")]
    DamagedSealedValue {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A stored document or certificate differs from what its record says.
    #[error("{0}")]
    DamagedRecord(String),
    /// A deletion certificate is malformed or does not verify.
    #[error("deletion certificate: {0}")]
    Certificate(String),
    /// A witness's key is unusable, or its answer carries no valid cosignature.
    #[error("witness: {0}")]
    Witness(String),
    /// Writing a JSON document failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `init` found an existing data directory.
    #[error("{0} already holds a callvault data directory; refusing to overwrite it")]
    AlreadyInitialised(std::path::PathBuf),
    /// No site could store the recording; nothing was acknowledged.
    #[error("no site could store the recording: {0}")]
    NoSiteWritable(String),
    /// Reading the input failed.
    #[error("reading {path}: {source}")]
    Input {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// An authorization or audit receipt was presented for another action or resource (a
    /// programming error in the caller; no data is returned).
    #[error("refused: {0}")]
    CapabilityMismatch(String),
    /// The audio stream ended before the WAV header's promised size; nothing was kept.
    #[error("the WAV header promises at least {promised} bytes but the audio holds {got}")]
    Truncated {
        /// Bytes promised.
        promised: u64,
        /// Bytes received.
        got: u64,
    },
    /// An ingest session stopped taking bytes (its thread ended; the session's own error, if
    /// any, is returned instead); nothing was acknowledged.
    #[error("the ingest stopped; nothing was stored")]
    IngestStopped,
    /// A worker thread of an operation panicked (a bug); the operation did not complete.
    #[error("internal error: the {0} thread stopped unexpectedly")]
    WorkerPanicked(&'static str),
    /// The care provider has not been registered.
    #[error(
        "care provider {0} is not registered; register it with `callvault care-provider add --hsa-id {0}`"
    )]
    UnknownCareProvider(String),
    /// A registered care provider's keys are missing from the key backend.
    #[error(
        "care provider {0} is registered but its keys are missing; restore the key directory or the token from its backup (new keys would not open its recordings)"
    )]
    KeysMissing(String),
    /// Another process has the data directory open.
    #[error("{0} is in use by another callvault process (a running server holds it)")]
    InUse(std::path::PathBuf),
    /// The reader of a stream of audio went away; decryption stopped.
    #[error("the reader of the audio stopped")]
    SinkClosed,
    /// An assignment file is not acceptable (nothing was installed).
    #[error("assignments: {0}")]
    Assignments(String),
    /// The recording does not exist.
    #[error("recording {0} not found")]
    NotFound(String),
    /// A link to a patient cannot be made as asked (already linked, a correction without
    /// its reason); nothing was changed.
    #[error("{0}")]
    Link(crate::link::LinkRefusal),
    /// The policy refused the request on what the vault found (e.g. a link by someone who
    /// did not take the call); the refusal is recorded as a denied audit event.
    #[error("{denial}")]
    Denied {
        /// Why.
        denial: callvault_auth::Denial,
        /// The denied event's leaf index.
        leaf_index: u64,
    },
    /// A governance step is not possible in the current state (not awaiting a decision,
    /// already registered, unregistered holder, administrators already in force, …); nothing
    /// was changed. The message says why.
    #[error("{0}")]
    Refused(String),
    /// No deletion order has this id (at this care provider).
    #[error("no deletion order {0}")]
    NoSuchOrder(String),
    /// No such follow-up run, finding, or audit event (at this care provider).
    #[error("no {0}")]
    NoSuch(String),
    /// No assignment has this id.
    #[error("no assignment {0}")]
    NoSuchAssignment(String),
    /// The four-eyes rule: the requester or the holder tried to decide a request.
    #[error("{0}")]
    FourEyes(String),
    /// A request's values are not acceptable (empty justification, lifetime too long,
    /// care units of another care provider, …). The message names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// A file-system operation on the data directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Path.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}
