//! The catalog: what the vault holds, where, under which key — and the audit log.
//!
//! [`Catalog`] is the seam for the database. Every write is a [`Change`]: one or more
//! [`Mutation`]s plus at least one audit event, committed in one transaction — a change
//! without its audit event cannot be expressed, and cannot commit without it. Concurrent
//! changes are batched into shared transactions (group commit) by one writer thread.
//!
//! The catalog never sees plaintext patient data or keys: identifying fields arrive sealed
//! with their blind indexes, data keys arrive wrapped.

mod engine;
mod error;
mod followup;
mod governance;
mod links;
mod model;
mod pg_schema;
mod postgres;
mod pruning;
mod queries;
mod records;
mod schema;
mod sql;
mod sqlite;

pub use engine::Store;
pub use error::CatalogError;
pub use followup::{Finding, FindingReview, FollowUpRun, Verdict};
pub use governance::{
    AssignmentDecision, AssignmentOrigin, AssignmentRow, AssignmentState, NewAssignment, UserRow,
};
pub use links::PatientLinkRow;
pub use model::{
    CatalogStats, Change, Committed, Mutation, NewRecording, Placement, PlacementState,
    RecordingRow, RecordingSource, RepairTask, Rewrap, SealedField, StoredCheckpoint,
};
pub use postgres::{PostgresCatalog, PostgresEngine, PostgresSettings};
pub use pruning::{AuditPruneRow, NewAuditPrune};
pub use records::{
    DeletionKind, DeletionOrderRow, DeletionState, LegalHoldRow, NewDeletionOrder, NewLegalHold,
    Tombstone,
};
pub use sqlite::{SqliteCatalog, SqliteEngine, raw_connection};

use callvault_audit::merkle::Hash;
use callvault_types::{CallId, CareProvider, HsaId, RecordingId};
use time::OffsetDateTime;

/// Called with each audit leaf: index, encoded event, stored leaf hash.
pub type AuditLeafVisitor<'a> = dyn FnMut(u64, &[u8], &Hash) -> Result<(), CatalogError> + 'a;

/// A change queued by [`Catalog::submit`].
#[derive(Debug)]
pub struct PendingCommit(
    pub(crate) tokio::sync::oneshot::Receiver<Result<Committed, CatalogError>>,
);

impl PendingCommit {
    /// Resolves once the change is durable (with its leaf indexes) or has failed.
    pub async fn wait(self) -> Result<Committed, CatalogError> {
        self.0.await.map_err(|_| CatalogError::WriterStopped)?
    }
}

/// Changes to the catalog, implemented by SQLite (embedded) and PostgreSQL. Only the vault
/// holds this handle; everyone else gets a [`CatalogRead`], so that no mutation (an approved
/// assignment, a deleted hold) can be committed past the vault's checks.
pub trait Catalog: CatalogRead {
    /// Commits a change and its audit events atomically. Returns the events' leaf indexes.
    fn commit(&self, change: Change) -> Result<Committed, CatalogError>;
    /// Queues a change for commit without blocking the caller until it is durable: for
    /// async callers, which await [`PendingCommit::wait`]. Same guarantees as `commit`.
    fn submit(&self, change: Change) -> Result<PendingCommit, CatalogError>;
    /// Moves the write-ahead log into the database and truncates it to zero bytes, so that
    /// page images from before a deletion no longer exist in the log file.
    fn truncate_wal(&self) -> Result<(), CatalogError>;
}

/// Reads of the catalog: what the vault lends to the server, the CLI and reports.
pub trait CatalogRead: Send + Sync + std::fmt::Debug {
    /// One recording.
    fn recording(&self, id: &RecordingId) -> Result<Option<RecordingRow>, CatalogError>;
    /// A care provider's recording with a given telephony call id.
    fn recording_by_call(
        &self,
        cp: &CareProvider,
        call_id: &CallId,
    ) -> Result<Option<RecordingRow>, CatalogError>;
    /// Recordings of a care provider whose patient blind index matches.
    fn recordings_by_patient(
        &self,
        cp: &CareProvider,
        patient_bidx: &[u8; 32],
    ) -> Result<Vec<RecordingRow>, CatalogError>;
    /// Visits every recording in id order.
    fn for_each_recording(
        &self,
        f: &mut dyn FnMut(RecordingRow) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError>;
    /// Ids and wrapped keys of a care provider's recordings under an older KEK version.
    fn recordings_below_kek(
        &self,
        cp: &CareProvider,
        version: u32,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError>;
    /// Encoded audit events whose `recording_id` column names this recording and whose
    /// action is one of `actions` (every action if `actions` is empty), in log order.
    fn recording_events(
        &self,
        id: &RecordingId,
        actions: &[&str],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError>;
    /// A recording's links to patients, oldest first (empty if it was never linked after
    /// its ingest).
    fn patient_links(&self, id: &RecordingId) -> Result<Vec<PatientLinkRow>, CatalogError>;
    /// Where a recording is stored.
    fn placements(&self, id: &RecordingId) -> Result<Vec<Placement>, CatalogError>;
    /// Repair tasks not yet done.
    fn open_repair_tasks(&self) -> Result<Vec<RepairTask>, CatalogError>;
    /// Number of audit events (the Merkle tree size).
    fn audit_size(&self) -> Result<u64, CatalogError>;
    /// Visits audit leaves `start..end` in order: index, encoded event (empty below the
    /// minimum index of a pruned log), stored leaf hash.
    fn for_each_audit_leaf(
        &self,
        start: u64,
        end: u64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError>;
    /// Visits the audit leaves whose event time lies in `[from, to)`, in log order.
    fn for_each_audit_leaf_in_time(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError>;
    /// Index and encoded event of every audit event with one of these action codes, in log
    /// order (pruned leaves excluded).
    fn audit_events_by_action(&self, actions: &[&str])
    -> Result<Vec<(u64, Vec<u8>)>, CatalogError>;
    /// Prune orders of the audit log (or one), oldest first, with their approvals.
    fn audit_prunes(&self, id: Option<&str>) -> Result<Vec<AuditPruneRow>, CatalogError>;
    /// The minimum index (leaves below it keep only hash, time and action) and the time
    /// before which events were pruned; `None` if the log was never pruned.
    fn audit_min_index(&self) -> Result<Option<(u64, OffsetDateTime)>, CatalogError>;
    /// The first leaf whose time is at or after `t` (the log's size if none is).
    fn first_audit_leaf_since(&self, t: OffsetDateTime) -> Result<u64, CatalogError>;
    /// Every registered care provider.
    fn care_providers(&self) -> Result<Vec<CareProvider>, CatalogError>;
    /// The encoded event at one leaf index (empty if pruned).
    fn audit_event(&self, idx: u64) -> Result<Option<Vec<u8>>, CatalogError>;
    /// A care provider's follow-up runs (or one of them), oldest first.
    fn followup_runs(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<FollowUpRun>, CatalogError>;
    /// A run's findings with their reviews, by number.
    fn followup_findings(&self, run_id: &str) -> Result<Vec<Finding>, CatalogError>;
    /// Blind indexes of a care provider's patients marked as having protected identity.
    fn protected_patients(&self, cp: &CareProvider) -> Result<Vec<[u8; 32]>, CatalogError>;
    /// Users employed by a care provider whose own personal identity number is registered,
    /// with its blind index under the care provider's key.
    fn user_personal_ids(&self, cp: &CareProvider) -> Result<Vec<(HsaId, [u8; 32])>, CatalogError>;
    /// Index and encoded event of audit events whose patient blind index matches, oldest
    /// first (a patient's access log).
    fn audit_events_by_patient(
        &self,
        patient_bidx: &[u8; 32],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError>;
    /// Stored leaf hashes `0..end` (for proofs).
    fn audit_leaf_hashes(&self, end: u64) -> Result<Vec<Hash>, CatalogError>;
    /// The newest signed checkpoint.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, CatalogError>;
    /// Every stored checkpoint, oldest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, CatalogError>;
    /// A registered care provider's retention in years (the longest ever configured).
    fn care_provider_retention(&self, cp: &CareProvider) -> Result<Option<u32>, CatalogError>;
    /// Counts for `status`.
    fn stats(&self) -> Result<CatalogStats, CatalogError>;
    /// A registered user.
    fn user(&self, hsa_id: &HsaId) -> Result<Option<UserRow>, CatalogError>;
    /// Registered users, of one employing care provider or all.
    fn users(&self, cp: Option<&CareProvider>) -> Result<Vec<UserRow>, CatalogError>;
    /// One assignment with its history.
    fn assignment(&self, id: &str) -> Result<Option<AssignmentRow>, CatalogError>;
    /// Assignments, of one care provider or all, in one state or all; ordered by care
    /// provider and id.
    fn assignments(
        &self,
        cp: Option<&CareProvider>,
        state: Option<AssignmentState>,
    ) -> Result<Vec<AssignmentRow>, CatalogError>;
    /// Time of the newest audit event made under an assignment (its last use).
    fn assignment_last_use(&self, id: &str) -> Result<Option<OffsetDateTime>, CatalogError>;
    /// A care provider's legal holds (or one of them), oldest first.
    fn legal_holds(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<LegalHoldRow>, CatalogError>;
    /// Ids of the legal holds in force over a recording.
    fn active_holds_of(&self, id: &RecordingId) -> Result<Vec<String>, CatalogError>;
    /// Deletion orders, filtered by care provider, id and state; oldest first.
    fn deletion_orders(
        &self,
        cp: Option<&CareProvider>,
        id: Option<&str>,
        state: Option<DeletionState>,
    ) -> Result<Vec<DeletionOrderRow>, CatalogError>;
    /// The recordings of a deletion order and whether each is destroyed.
    fn deletion_items(&self, id: &str) -> Result<Vec<(RecordingId, bool)>, CatalogError>;
    /// Tombstones, filtered by order and recording; optionally only those whose blobs are
    /// not yet deleted at every site.
    fn tombstones(
        &self,
        order: Option<&str>,
        id: Option<&RecordingId>,
        pending_blobs_only: bool,
    ) -> Result<Vec<Tombstone>, CatalogError>;
    /// A care provider's recordings whose retention date is at or before `now`, by
    /// retention date, after the recording id `after` (paging), at most `limit`.
    fn recordings_past_retention(
        &self,
        cp: &CareProvider,
        now: OffsetDateTime,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError>;
    /// The stored certificate of an executed deletion order.
    fn deletion_certificate(&self, id: &str) -> Result<Option<String>, CatalogError>;
    /// Recordings in id order after `after`, at most `limit` (paging through the catalog
    /// without holding a read transaction open).
    fn recordings_page(
        &self,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError>;
    /// The cosignature lines stored for a checkpoint size, by witness name.
    fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, CatalogError>;
    /// The largest checkpoint size a witness has cosigned, if any.
    fn witness_size(&self, witness: &str) -> Result<Option<u64>, CatalogError>;
}
