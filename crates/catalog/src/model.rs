//! Rows and changes.

use callvault_audit::event::AuditEvent;
use callvault_audit::merkle::Hash;
use callvault_types::{CallId, CareProvider, CareUnit, HsaId, RecordingId};
use time::OffsetDateTime;

/// A sealed identifying field and its blind index.
pub type SealedField = (Vec<u8>, [u8; 32]);

/// How a recording entered the vault.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecordingSource {
    /// Bulk import of a legacy archive.
    Import,
    /// Live ingest from a recorder.
    Ingest,
}

impl RecordingSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Ingest => "ingest",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "import" => Some(Self::Import),
            "ingest" => Some(Self::Ingest),
            _ => None,
        }
    }
}

/// A recording to insert. Identifying fields are sealed; the key is wrapped.
#[derive(Clone, Debug)]
pub struct NewRecording {
    /// Id.
    pub id: RecordingId,
    /// Owner.
    pub care_provider: CareProvider,
    /// Care unit that took the call.
    pub care_unit: CareUnit,
    /// Telephony call id.
    pub call_id: CallId,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// Call end.
    pub ended_at: OffsetDateTime,
    /// Audio duration in milliseconds.
    pub duration_ms: u64,
    /// Codec, e.g. `pcm_s16le`, `pcm_alaw`, `pcm_mulaw`.
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
    /// Blob size in bytes.
    pub ciphertext_size: u64,
    /// SHA-256 of the blob (lets `verify` check sites without keys).
    pub ciphertext_sha256: [u8; 32],
    /// Id of the data key (as in the blob header).
    pub dek_id: [u8; 16],
    /// Wrapped data key.
    pub wrapped_dek: Vec<u8>,
    /// KEK version that wrapped it.
    pub kek_version: u32,
    /// Sealed patient id and its blind index.
    pub patient: Option<SealedField>,
    /// Sealed caller number and its blind index.
    pub caller: Option<SealedField>,
    /// The nurse who took the call.
    pub nurse: Option<HsaId>,
    /// Nothing deletes the recording before this instant.
    pub retention_until: OffsetDateTime,
    /// Import or ingest.
    pub source: RecordingSource,
    /// Why the recording is incomplete (cut off by a crash, a stream missing, …), as its
    /// producer said; `None` for a complete one (migration 9).
    pub incomplete: Option<String>,
}

/// A stored recording.
#[derive(Clone, Debug)]
pub struct RecordingRow {
    /// Everything inserted.
    pub rec: NewRecording,
    /// Under legal hold.
    pub legal_hold: bool,
    /// Lifecycle state (`active`).
    pub state: String,
    /// When it was catalogued.
    pub created_at: OffsetDateTime,
}

/// State of a recording's copy at one site.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlacementState {
    /// Written and durable.
    Ok,
    /// Not written, or found missing; a repair task exists.
    Missing,
    /// Found damaged; a repair task exists.
    Damaged,
}

impl PlacementState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Damaged => "damaged",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "missing" => Some(Self::Missing),
            "damaged" => Some(Self::Damaged),
            _ => None,
        }
    }
}

/// A recording's copy at one site.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Placement {
    /// Site name.
    pub site: String,
    /// State.
    pub state: PlacementState,
}

/// A durable instruction to copy a recording to a site from another.
#[derive(Clone, Debug)]
pub struct RepairTask {
    /// Task id.
    pub id: i64,
    /// Recording.
    pub recording_id: RecordingId,
    /// Site lacking a good copy.
    pub site: String,
    /// Why (non-identifying).
    pub reason: String,
    /// When recorded.
    pub created_at: OffsetDateTime,
}

/// One re-wrapped data key.
#[derive(Clone, Debug)]
pub struct Rewrap {
    /// Recording.
    pub recording_id: RecordingId,
    /// New wrapped key.
    pub wrapped_dek: Vec<u8>,
    /// New KEK version.
    pub kek_version: u32,
}

/// A signed checkpoint as stored.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root_hash: Hash,
    /// The signed note text.
    pub note: String,
    /// When issued.
    pub created_at: OffsetDateTime,
    /// The tree's compact range at `size` (`callvault_audit::merkle::encode_compact_range`),
    /// from which the next checkpoint extends; `None` for checkpoints signed before it was
    /// kept (migration 8).
    pub compact_range: Option<Vec<u8>>,
}

/// One data change.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Mutation {
    /// Insert a recording with its placements; repair tasks for sites marked missing.
    InsertRecording {
        /// The recording.
        recording: Box<NewRecording>,
        /// Per-site state.
        placements: Vec<Placement>,
        /// Reason recorded on repair tasks for sites that are not `Ok`.
        repair_reason: String,
    },
    /// Set a placement's state; a non-`Ok` state adds a repair task, `Ok` closes open ones.
    SetPlacement {
        /// Recording.
        recording_id: RecordingId,
        /// New placement.
        placement: Placement,
        /// Reason for the repair task.
        reason: String,
    },
    /// Replace wrapped data keys after a KEK rotation.
    Rewrap(Vec<Rewrap>),
    /// Record a signed checkpoint.
    StoreCheckpoint(StoredCheckpoint),
    /// Register a user (fails if the HSA-ID is registered already).
    RegisterUser(crate::UserRow),
    /// Record a requested assignment, or (`approved`, bootstrap only) an approved one.
    InsertAssignment {
        /// The assignment.
        assignment: Box<crate::NewAssignment>,
        /// The approval of a bootstrap assignment; `None` for a request.
        approved: Option<crate::AssignmentDecision>,
    },
    /// Approve or reject a requested assignment (never by its requester or holder).
    DecideAssignment {
        /// Assignment id.
        id: String,
        /// Approve (`true`) or reject.
        approve: bool,
        /// Who, when, comment.
        decision: crate::AssignmentDecision,
    },
    /// Revoke an approved assignment.
    RevokeAssignment {
        /// Assignment id.
        id: String,
        /// Who, when, reason.
        revocation: crate::AssignmentDecision,
    },
    /// Set a legal hold over recordings of its care provider.
    SetLegalHold {
        /// The hold.
        hold: Box<crate::NewLegalHold>,
        /// Recordings it covers (at least one; all of the hold's care provider).
        recordings: Vec<RecordingId>,
    },
    /// Release a legal hold.
    ReleaseLegalHold {
        /// Hold id.
        id: String,
        /// Who (audit actor).
        by: String,
        /// When.
        at: OffsetDateTime,
        /// Reason, sealed.
        reason_sealed: Vec<u8>,
    },
    /// Register a deletion order with the recordings in its scope.
    RegisterDeletion {
        /// The order.
        order: Box<crate::NewDeletionOrder>,
        /// Its recordings (at least one; for a purge, all past retention).
        recordings: Vec<RecordingId>,
    },
    /// Approve or reject a registered deletion order (never by the person who registered it).
    DecideDeletion {
        /// Order id.
        id: String,
        /// Approve (`true`) or reject.
        approve: bool,
        /// Who (audit actor).
        by: String,
        /// When.
        at: OffsetDateTime,
        /// Comment.
        comment: Option<String>,
    },
    /// Start (or resume) executing an approved order.
    StartDeletion {
        /// Order id.
        id: String,
        /// Who (audit actor).
        by: String,
    },
    /// Destroy one recording of an executing order: tombstone, wrapped key and row.
    ShredRecording {
        /// Order id.
        order_id: String,
        /// Recording.
        recording_id: RecordingId,
        /// When.
        at: OffsetDateTime,
    },
    /// Every site's blob of a destroyed recording is deleted.
    BlobsDeleted(RecordingId),
    /// Mark an executing order executed (every recording destroyed).
    FinishDeletion {
        /// Order id.
        id: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Store the deletion certificate of an executed order (once).
    StoreCertificate {
        /// Order id.
        id: String,
        /// The certificate (JSON).
        text: String,
    },
    /// Store a witness's cosignature of a stored checkpoint (a second one for the same
    /// size and witness is ignored).
    StoreCosignature {
        /// Checkpoint size.
        size: u64,
        /// Witness name.
        witness: String,
        /// The signature line (without newline).
        line: String,
        /// The cosignature's timestamp (POSIX seconds).
        time: u64,
    },
    /// Record a log follow-up run with its findings.
    InsertFollowUp {
        /// The run.
        run: Box<crate::FollowUpRun>,
        /// Its findings (without reviews).
        findings: Vec<crate::Finding>,
    },
    /// Record (or replace) the review of a finding; never by the finding's actor.
    ReviewFinding {
        /// Run id.
        run_id: String,
        /// Finding number.
        n: u32,
        /// The review.
        review: crate::FindingReview,
    },
    /// Link a recording to its patient (the next link: the first, or a correction), and
    /// make it the recording's patient.
    LinkPatient(crate::PatientLinkRow),
    /// Mark a patient (by blind index) as having protected identity, or lift the mark.
    MarkProtected {
        /// Care provider whose blind index this is.
        care_provider: CareProvider,
        /// Patient blind index.
        patient_bidx: [u8; 32],
        /// Mark (`true`) or lift.
        protected: bool,
        /// Where the marking comes from (e.g. a population register reference).
        reference: String,
        /// Who (audit actor).
        by: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Store a registered user's own personal identity number, sealed and blind-indexed
    /// under their employing care provider's keys (for the own-records follow-up rule).
    SetUserPersonalId {
        /// The user.
        hsa_id: callvault_types::HsaId,
        /// Sealed personal identity number and its blind index.
        personal_id: SealedField,
    },
    /// Register a prune order of the audit log.
    RegisterAuditPrune(crate::NewAuditPrune),
    /// Approve a prune order for one care provider (never by the person who registered it).
    ApproveAuditPrune {
        /// Order id.
        id: String,
        /// The care provider the approval is for.
        care_provider: CareProvider,
        /// Who (audit actor).
        by: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Execute an order approved for every care provider: raise the minimum index and drop
    /// the event bytes below it.
    ExecuteAuditPrune {
        /// Order id.
        id: String,
        /// Who (audit actor).
        by: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Register a care provider and its retention period.
    AddCareProvider {
        /// Care provider.
        care_provider: CareProvider,
        /// Retention in years (at least 10).
        retention_years: u32,
    },
}

/// A change: mutations plus the audit events that record them. The constructor requires at
/// least one event, so an unaudited change cannot be built.
#[derive(Clone, Debug)]
pub struct Change {
    pub(crate) mutations: Vec<Mutation>,
    pub(crate) events: Vec<AuditEvent>,
}

impl Change {
    /// A change recorded by `event`.
    pub fn new(event: AuditEvent) -> Self {
        Self {
            mutations: Vec::new(),
            events: vec![event],
        }
    }
    /// Adds a mutation.
    pub fn with(mut self, m: Mutation) -> Self {
        self.mutations.push(m);
        self
    }
    /// Adds another event.
    pub fn and_event(mut self, e: AuditEvent) -> Self {
        self.events.push(e);
        self
    }
}

/// What a commit did.
#[derive(Clone, Debug)]
pub struct Committed {
    /// Leaf indexes of the change's events.
    pub leaf_indexes: Vec<u64>,
}

/// Counts for `status`.
#[derive(Clone, Debug, Default)]
pub struct CatalogStats {
    /// Recordings.
    pub recordings: u64,
    /// Recordings with a copy that is not `Ok`.
    pub under_replicated: u64,
    /// Open repair tasks.
    pub open_repair_tasks: u64,
    /// Plaintext bytes.
    pub plaintext_bytes: u64,
    /// Audit events.
    pub audit_events: u64,
    /// Recordings per care provider.
    pub per_care_provider: Vec<(String, u64)>,
    /// Recordings per KEK version: (care provider, version, count).
    pub per_kek_version: Vec<(String, u32, u64)>,
}
