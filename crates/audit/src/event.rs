//! Audit events and their canonical encoding, format v1.
//!
//! ```text
//! u8      version = 1                                   (do not change)
//! i64 BE  time, microseconds since the Unix epoch, UTC
//! str     actor kind: "person" | "system" | "operator" | "vault"
//! str     actor id (HSA-ID for person/system; user@host for operator; "callvault" for vault)
//! opt str actor's care provider HSA-ID
//! opt str actor's care unit HSA-ID
//! opt str assignment id
//! str     action code (see `Action`)
//! opt     recording: 16-byte recording id ‖ 32-byte plaintext SHA-256
//! opt str resource care provider HSA-ID
//! opt     patient: bytes (sealed patient id) ‖ 32-byte blind index
//! opt str purpose
//! u8      outcome: 1 granted, 2 denied (then str reason), 3 failed (then str reason)
//! str     source (certificate fingerprint, host, or "cli")
//! u16 BE  number of details, then each: str key ‖ str value
//!
//! str   = u16 BE length ‖ UTF-8;  bytes = u32 BE length ‖ bytes
//! opt X = 0x00 (absent) | 0x01 ‖ X
//! ```
//!
//! The encoding is the Merkle leaf data; decoding is strict (no trailing bytes, known tags
//! only) so that every event has exactly one encoding. Patient identifiers appear only
//! sealed and blind-indexed; details must never carry patient data.

use std::fmt;

use callvault_types::{CareProvider, CareUnit, HsaId, RecordingId};
use time::OffsetDateTime;

/// Encoding version written by this build. Do not change the meaning of 1.
pub const EVENT_V1: u8 = 1;

/// Why bytes are not a valid audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The data ended before the event did.
    #[error("audit event is truncated")]
    Truncated,
    /// Bytes remain after a complete event.
    #[error("audit event has {0} trailing bytes")]
    TrailingBytes(usize),
    /// Unknown encoding version.
    #[error("unsupported audit event version {0}")]
    UnsupportedVersion(u8),
    /// A string field is not UTF-8.
    #[error("audit event field is not UTF-8")]
    BadUtf8,
    /// An option or outcome tag has an unknown value.
    #[error("audit event has an unknown tag {0}")]
    BadTag(u8),
    /// A field does not parse as its type (HSA-ID, action code, actor kind, time).
    #[error("audit event field {0} is invalid")]
    BadField(&'static str),
    /// A field is longer than the encoding allows.
    #[error("audit event field {0} is too long to encode")]
    TooLong(&'static str),
}

/// Who acted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Actor {
    /// A person authenticated by a SITHS person certificate.
    Person(HsaId),
    /// A system (e.g. a recorder) authenticated by a SITHS function certificate.
    System(HsaId),
    /// An operator at the command line (`user@host`).
    Operator(String),
    /// callvault itself (background jobs).
    Vault,
}

impl Actor {
    fn kind(&self) -> &'static str {
        match self {
            Self::Person(_) => "person",
            Self::System(_) => "system",
            Self::Operator(_) => "operator",
            Self::Vault => "vault",
        }
    }
    fn id(&self) -> &str {
        match self {
            Self::Person(h) | Self::System(h) => h.as_str(),
            Self::Operator(s) => s,
            Self::Vault => "callvault",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// What was done. Codes are stable: do not change or reuse them.
        ///
        /// Deliberately not `#[non_exhaustive]`: the exports (FHIR, ATNA) match on it without
        /// a wildcard, so a new action fails to compile until someone decides how it is
        /// exported — a new action that reads patient data is never exported as generic
        /// activity by default.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action, in declaration order (for tests that must cover them all).
            pub const ALL: &'static [Action] = &[$(Self::$variant,)*];

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
            /// Parses a stable code.
            pub fn from_code(s: &str) -> Option<Self> {
                match s {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    /// Data directory, keys and catalog created.
    Init = "init",
    /// A care provider's keys were created.
    CareProviderAdded = "care-provider.add",
    /// A recording was ingested (live upload).
    Ingest = "recording.ingest",
    /// A recording already in the vault was delivered again with the same audio
    /// (idempotent: nothing new was stored).
    Redelivery = "recording.redeliver",
    /// A recording was imported from a legacy archive.
    Import = "recording.import",
    /// A search over recordings.
    Search = "recording.search",
    /// Metadata of a recording was viewed.
    View = "recording.view",
    /// Audio was played (byte range in details).
    Play = "recording.play",
    /// A recording was downloaded whole.
    Download = "recording.download",
    /// Data left the vault in an export.
    Export = "export",
    /// A key-encryption key was rotated (new version created).
    KeyRotation = "key.rotate",
    /// Data keys of a care provider were re-wrapped under a new KEK version.
    KeyRewrap = "key.rewrap",
    /// A retired KEK version that no data key used any more was destroyed.
    KeyDestroy = "key.destroy",
    /// An integrity verification ran.
    Verify = "verify",
    /// A site copy was found missing or damaged and a repair task recorded.
    RepairTaskCreated = "repair.task",
    /// A site copy was repaired from another site.
    Repaired = "repair.done",
    /// A signed checkpoint of the audit log was issued.
    Checkpoint = "audit.checkpoint",
    /// An assignment file was validated and installed (`callvault assignments import`).
    AssignmentsImport = "assignments.import",
    /// A server put an assignment file in force (at start or on reload). Written by
    /// releases before the governance workflow; no longer written.
    AssignmentsLoad = "assignments.load",
    /// A user was registered (HSA-ID, name, title, employing care provider).
    UserRegister = "user.register",
    /// An assignment was requested by a privilege administrator (or by a file import).
    AssignmentRequest = "assignment.request",
    /// A requested assignment was approved by a second administrator.
    AssignmentApprove = "assignment.approve",
    /// A requested assignment was rejected by a second administrator.
    AssignmentReject = "assignment.reject",
    /// An assignment was revoked; it stopped at once.
    AssignmentRevoke = "assignment.revoke",
    /// A care provider's first two privilege administrators were installed by an operator.
    GovernanceBootstrap = "governance.bootstrap",
    /// Users, assignments or an access review report were read.
    GovernanceRead = "governance.read",
    /// An attempt to manage privileges that the policy refused (granted steps are recorded
    /// with their own codes).
    ManagePrivileges = "privileges.manage",
    /// An attempt at records management that the policy refused.
    ManageRecords = "records.manage",
    /// A legal hold was set over recordings.
    HoldSet = "hold.set",
    /// A legal hold was released.
    HoldRelease = "hold.release",
    /// Legal holds, the retention report or deletion orders were read.
    RecordsRead = "records.read",
    /// A deletion order (IVO decision or retention purge) was registered.
    DeletionRegister = "deletion.register",
    /// A deletion order was approved by a second person.
    DeletionApprove = "deletion.approve",
    /// A deletion order was rejected by a second person.
    DeletionReject = "deletion.reject",
    /// Execution of an approved deletion order started.
    DeletionExecute = "deletion.execute",
    /// A recording's data key and catalog row were destroyed (crypto-shredding); a
    /// tombstone remains.
    Shred = "recording.shred",
    /// A destroyed recording's blobs were deleted at every site.
    BlobsDeleted = "recording.blobs-deleted",
    /// An object that no recording ever owned was deleted at a site: the ciphertext of an
    /// upload or import cut short (a crash) before it was acknowledged. No catalog row, no
    /// tombstone and no audit event named it, and its data key was never stored.
    OrphanRemoved = "recording.orphan-removed",
    /// Every recording of a deletion order is destroyed.
    DeletionDone = "deletion.done",
    /// The deletion certificate of an order was issued.
    DeletionCertificate = "deletion.certificate",
    /// A witness cosigned a checkpoint (its cosignature is stored with the checkpoint).
    Cosigned = "audit.cosigned",
    /// A witness refused a checkpoint (a fork, or an inconsistent proof): loud.
    WitnessRefused = "audit.witness-refused",
    /// An empty site directory was set up again (after the loss of a site's disk).
    SiteRecreate = "site.recreate",
    /// A scrub of every site started (or resumed).
    ScrubStart = "scrub.start",
    /// A scrub pass finished (counts in details).
    ScrubDone = "scrub.done",
    /// No site holds a good copy of a recording: it is lost unless a backup has one.
    Lost = "recording.lost",
    /// The audit log was read.
    AuditRead = "audit.read",
    /// A log follow-up ran over a care provider's events in a period (findings recorded).
    FollowUpRun = "followup.run",
    /// Follow-up runs, findings or a follow-up report were read.
    FollowUpRead = "followup.read",
    /// A log reviewer judged a finding justified or not.
    FollowUpReview = "followup.review",
    /// A patient was marked as having protected identity, or the mark was lifted.
    PatientProtect = "patient.protect",
    /// A patient's log extract (loggutdrag) was produced.
    LogExtract = "audit.extract",
    /// Audit events left the vault in an export (FHIR AuditEvent).
    AuditExport = "audit.export",
    /// A prune order of the audit log was registered.
    AuditPruneRegister = "audit.prune-register",
    /// A prune order of the audit log was approved for one care provider.
    AuditPruneApprove = "audit.prune-approve",
    /// The audit log was pruned below a new minimum index (hashes kept, proofs valid).
    AuditPrune = "audit.prune",
    /// The operational status (counts only) was read, or an attempt was refused.
    StatusRead = "status.read",
    /// A recording was linked to the patient the call was about (the event carries the
    /// patient), as its first link or as a correction of a wrong one (details `link`,
    /// `corrects`).
    PatientLink = "patient.link",
    /// A recording's wrong link to a patient was replaced by a correction (the event
    /// carries the patient it was linked to, so that it is in that patient's log extract).
    PatientUnlink = "patient.unlink",
}

impl Action {
    /// What the action is in words a log reviewer reads: Swedish, English. Beside the
    /// actions, with no wildcard: a new action does not compile until it has its words.
    pub fn labels(self) -> (&'static str, &'static str) {
        use Action::*;
        match self {
            Init => ("Valvet skapades", "Vault created"),
            CareProviderAdded => ("Vårdgivare registrerad", "Care provider registered"),
            Ingest => ("Inspelning levererad", "Recording delivered"),
            Redelivery => ("Inspelning levererad igen", "Recording delivered again"),
            Import => ("Inspelning importerad", "Recording imported"),
            Search => ("Sökning efter samtal", "Search for calls"),
            View => ("Uppgifter om samtal lästa", "Call details read"),
            Play => ("Inspelning uppspelad", "Recording played"),
            Download => ("Inspelning nedladdad", "Recording downloaded"),
            Export => ("Inspelning exporterad", "Recording exported"),
            KeyRotation => ("Nyckel roterad", "Key rotated"),
            KeyRewrap => ("Datanycklar omkrypterade", "Data keys re-wrapped"),
            KeyDestroy => ("Gammal nyckel förstörd", "Retired key destroyed"),
            Verify => ("Integritetskontroll", "Integrity check"),
            RepairTaskCreated => (
                "Kopia saknas – lagning registrerad",
                "Copy missing – repair registered",
            ),
            Repaired => ("Kopia lagad", "Copy repaired"),
            Checkpoint => ("Kontrollpunkt signerad", "Checkpoint signed"),
            AssignmentsImport => ("Uppdragsfil importerad", "Assignment file imported"),
            AssignmentsLoad => ("Uppdragsfil laddad", "Assignment file loaded"),
            UserRegister => ("Användare registrerad", "User registered"),
            AssignmentRequest => ("Uppdrag begärt", "Assignment requested"),
            AssignmentApprove => ("Uppdrag godkänt", "Assignment approved"),
            AssignmentReject => ("Uppdrag avslaget", "Assignment rejected"),
            AssignmentRevoke => ("Uppdrag återkallat", "Assignment revoked"),
            GovernanceBootstrap => (
                "Behörighetsadministratörer installerade",
                "Privilege administrators installed",
            ),
            GovernanceRead => ("Behörigheter lästa", "Privileges read"),
            ManagePrivileges => ("Behörighetsadministration", "Privilege administration"),
            ManageRecords => ("Arkivhantering", "Records management"),
            HoldSet => ("Rättslig spärr satt", "Legal hold set"),
            HoldRelease => ("Rättslig spärr hävd", "Legal hold released"),
            RecordsRead => ("Arkivuppgifter lästa", "Records read"),
            DeletionRegister => ("Raderingsbeslut registrerat", "Deletion order registered"),
            DeletionApprove => ("Raderingsbeslut godkänt", "Deletion order approved"),
            DeletionReject => ("Raderingsbeslut avslaget", "Deletion order rejected"),
            DeletionExecute => ("Radering påbörjad", "Deletion started"),
            Shred => ("Inspelning förstörd", "Recording destroyed"),
            BlobsDeleted => (
                "Förstörd inspelnings filer raderade",
                "Destroyed recording's files deleted",
            ),
            OrphanRemoved => (
                "Ofullständig uppladdning städad",
                "Unfinished upload removed",
            ),
            DeletionDone => ("Radering slutförd", "Deletion finished"),
            DeletionCertificate => ("Raderingsintyg utfärdat", "Deletion certificate issued"),
            Cosigned => ("Kontrollpunkt medsignerad", "Checkpoint cosigned"),
            WitnessRefused => (
                "Vittne vägrade kontrollpunkt",
                "Witness refused a checkpoint",
            ),
            SiteRecreate => ("Lagringsplats återskapad", "Site recreated"),
            ScrubStart => ("Genomsökning påbörjad", "Scrub started"),
            ScrubDone => ("Genomsökning klar", "Scrub finished"),
            Lost => ("Inspelning förlorad", "Recording lost"),
            AuditRead => ("Loggen läst", "Audit log read"),
            FollowUpRun => ("Loggranskning körd", "Log follow-up run"),
            FollowUpRead => ("Loggranskning läst", "Log follow-up read"),
            FollowUpReview => ("Fynd bedömt", "Finding judged"),
            PatientProtect => ("Skyddad identitet markerad", "Protected identity marked"),
            LogExtract => ("Loggutdrag framställt", "Log extract produced"),
            AuditExport => ("Logg exporterad", "Audit log exported"),
            AuditPruneRegister => ("Gallring av loggen registrerad", "Log pruning registered"),
            AuditPruneApprove => ("Gallring av loggen godkänd", "Log pruning approved"),
            AuditPrune => ("Loggen gallrad", "Log pruned"),
            StatusRead => ("Driftstatus läst", "Operational status read"),
            PatientLink => ("Samtal kopplat till patient", "Call linked to a patient"),
            PatientUnlink => (
                "Felaktig patientkoppling rättad",
                "Wrong patient link corrected",
            ),
        }
    }

    /// [`Action::labels`], in Swedish.
    pub fn label_sv(self) -> &'static str {
        self.labels().0
    }
}

/// What an action is, for the exports (FHIR BALP, DICOM audit messages): decided here, once,
/// beside the actions, with no wildcard, so that a new action does not compile until its
/// kind is chosen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ActionKind {
    /// A search for a patient's records.
    PatientQuery,
    /// A patient's record read (metadata, audio).
    PatientRead,
    /// A patient's record handed out whole.
    PatientExport,
    /// Audit events handed out (a patient's log extract, an export of the log).
    LogExport,
    /// A patient's record created (ingest, import, re-delivery).
    PatientCreate,
    /// A patient's record changed (a recording linked to its patient, or the link
    /// corrected).
    PatientUpdate,
    /// A patient's record destroyed (its keys shredded).
    PatientDelete,
    /// The ciphertext of a destroyed record removed from the sites.
    BlobsDeleted,
    /// Who may do what changed (users, assignments).
    SecurityRoles,
    /// Something an operator must look at (a witness refused, a recording lost).
    SecurityAlert,
    /// Operations, records management and log review that read no patient's record.
    Operation,
}

impl Action {
    /// The action's kind.
    pub fn kind(self) -> ActionKind {
        use Action::*;
        match self {
            Search => ActionKind::PatientQuery,
            View | Play | Download => ActionKind::PatientRead,
            Export => ActionKind::PatientExport,
            LogExtract | AuditExport => ActionKind::LogExport,
            Ingest | Import | Redelivery => ActionKind::PatientCreate,
            Shred => ActionKind::PatientDelete,
            PatientLink | PatientUnlink => ActionKind::PatientUpdate,
            BlobsDeleted => ActionKind::BlobsDeleted,
            AssignmentApprove | AssignmentRequest | AssignmentReject | AssignmentRevoke
            | GovernanceBootstrap | UserRegister => ActionKind::SecurityRoles,
            WitnessRefused | Lost => ActionKind::SecurityAlert,
            Init | CareProviderAdded | KeyRotation | KeyRewrap | KeyDestroy | Verify
            | RepairTaskCreated | Repaired | Checkpoint | AssignmentsImport | AssignmentsLoad
            | GovernanceRead | ManagePrivileges | ManageRecords | HoldSet | HoldRelease
            | RecordsRead | DeletionRegister | DeletionApprove | DeletionReject
            | DeletionExecute | OrphanRemoved | DeletionDone | DeletionCertificate | Cosigned
            | SiteRecreate | ScrubStart | ScrubDone | AuditRead | FollowUpRun | FollowUpRead
            | FollowUpReview | PatientProtect | AuditPruneRegister | AuditPruneApprove
            | AuditPrune | StatusRead => ActionKind::Operation,
        }
    }
}

/// How the action ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Allowed and done.
    Granted,
    /// Refused by policy, with the reason.
    Denied(String),
    /// Allowed but failed, with a non-identifying reason.
    Failed(String),
}

/// The recording an event concerns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordingRef {
    /// Recording id.
    pub id: RecordingId,
    /// SHA-256 of the recording's plaintext.
    pub plaintext_sha256: [u8; 32],
}

/// A patient as recorded in an event: sealed under the care provider's field key, plus
/// its blind index so that a patient's log extract can be found without plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPatient {
    /// Sealed canonical patient id.
    pub sealed: Vec<u8>,
    /// Blind index of the canonical patient id.
    pub blind_index: [u8; 32],
}

impl fmt::Debug for SealedPatient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedPatient(<sealed>)")
    }
}

/// One audit event: a leaf of the audit Merkle tree.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEvent {
    /// When (UTC, microsecond precision).
    pub time: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// The actor's care provider, when acting under an assignment.
    pub actor_care_provider: Option<CareProvider>,
    /// The actor's care unit, when known.
    pub actor_care_unit: Option<CareUnit>,
    /// The assignment acted under.
    pub assignment: Option<String>,
    /// What.
    pub action: Action,
    /// Which recording.
    pub recording: Option<RecordingRef>,
    /// The care provider owning the resource.
    pub care_provider: Option<CareProvider>,
    /// Which patient (sealed).
    pub patient: Option<SealedPatient>,
    /// Purpose of use.
    pub purpose: Option<String>,
    /// Result.
    pub outcome: Outcome,
    /// Where from: certificate fingerprint, host, or `cli`.
    pub source: String,
    /// Further non-identifying details (byte range, site, counts), in order.
    pub details: Vec<(String, String)>,
}

impl AuditEvent {
    /// A granted event by `actor` with every optional field empty and the time set to now.
    pub fn new(actor: Actor, action: Action, source: impl Into<String>) -> Self {
        Self {
            time: now_micros(),
            actor,
            actor_care_provider: None,
            actor_care_unit: None,
            assignment: None,
            action,
            recording: None,
            care_provider: None,
            patient: None,
            purpose: None,
            outcome: Outcome::Granted,
            source: source.into(),
            details: Vec::new(),
        }
    }

    /// Adds a detail.
    pub fn detail(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.details.push((key.to_owned(), value.to_string()));
        self
    }

    /// The canonical encoding (the Merkle leaf data).
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        let mut w = Writer(Vec::with_capacity(256));
        w.0.push(EVENT_V1);
        let micros = i64::try_from(self.time.unix_timestamp_nanos() / 1000)
            .map_err(|_| EventError::BadField("time"))?;
        w.0.extend_from_slice(&micros.to_be_bytes());
        w.str(self.actor.kind(), "actor kind")?;
        w.str(self.actor.id(), "actor id")?;
        w.opt_str(
            self.actor_care_provider.as_ref().map(|c| c.as_str()),
            "actor care provider",
        )?;
        w.opt_str(
            self.actor_care_unit.as_ref().map(|c| c.as_str()),
            "actor care unit",
        )?;
        w.opt_str(self.assignment.as_deref(), "assignment")?;
        w.str(self.action.code(), "action")?;
        match &self.recording {
            None => w.0.push(0),
            Some(r) => {
                w.0.push(1);
                w.0.extend_from_slice(r.id.as_bytes());
                w.0.extend_from_slice(&r.plaintext_sha256);
            }
        }
        w.opt_str(
            self.care_provider.as_ref().map(|c| c.as_str()),
            "care provider",
        )?;
        match &self.patient {
            None => w.0.push(0),
            Some(p) => {
                w.0.push(1);
                w.bytes(&p.sealed, "patient")?;
                w.0.extend_from_slice(&p.blind_index);
            }
        }
        w.opt_str(self.purpose.as_deref(), "purpose")?;
        match &self.outcome {
            Outcome::Granted => w.0.push(1),
            Outcome::Denied(r) => {
                w.0.push(2);
                w.str(r, "outcome reason")?;
            }
            Outcome::Failed(r) => {
                w.0.push(3);
                w.str(r, "outcome reason")?;
            }
        }
        w.str(&self.source, "source")?;
        let n = u16::try_from(self.details.len()).map_err(|_| EventError::TooLong("details"))?;
        w.0.extend_from_slice(&n.to_be_bytes());
        for (k, v) in &self.details {
            w.str(k, "detail key")?;
            w.str(v, "detail value")?;
        }
        Ok(w.0)
    }

    /// Decodes a canonical encoding, strictly.
    pub fn decode(data: &[u8]) -> Result<Self, EventError> {
        let mut r = Reader(data);
        let version = r.u8()?;
        if version != EVENT_V1 {
            return Err(EventError::UnsupportedVersion(version));
        }
        let micros = i64::from_be_bytes(r.array::<8>()?);
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .map_err(|_| EventError::BadField("time"))?;
        let kind = r.str()?;
        let id = r.str()?;
        let hsa = |s: &str| HsaId::parse(s).map_err(|_| EventError::BadField("actor id"));
        let actor = match kind {
            "person" => Actor::Person(hsa(id)?),
            "system" => Actor::System(hsa(id)?),
            "operator" => Actor::Operator(id.to_owned()),
            "vault" if id == "callvault" => Actor::Vault,
            _ => return Err(EventError::BadField("actor kind")),
        };
        let actor_care_provider = r
            .opt_str()?
            .map(|s| {
                CareProvider::parse(s).map_err(|_| EventError::BadField("actor care provider"))
            })
            .transpose()?;
        let actor_care_unit = r
            .opt_str()?
            .map(|s| CareUnit::parse(s).map_err(|_| EventError::BadField("actor care unit")))
            .transpose()?;
        let assignment = r.opt_str()?.map(str::to_owned);
        let action = Action::from_code(r.str()?).ok_or(EventError::BadField("action"))?;
        let recording = match r.u8()? {
            0 => None,
            1 => Some(RecordingRef {
                id: RecordingId::from_bytes(r.array::<16>()?),
                plaintext_sha256: r.array::<32>()?,
            }),
            t => return Err(EventError::BadTag(t)),
        };
        let care_provider = r
            .opt_str()?
            .map(|s| CareProvider::parse(s).map_err(|_| EventError::BadField("care provider")))
            .transpose()?;
        let patient = match r.u8()? {
            0 => None,
            1 => Some(SealedPatient {
                sealed: r.bytes()?.to_vec(),
                blind_index: r.array::<32>()?,
            }),
            t => return Err(EventError::BadTag(t)),
        };
        let purpose = r.opt_str()?.map(str::to_owned);
        let outcome = match r.u8()? {
            1 => Outcome::Granted,
            2 => Outcome::Denied(r.str()?.to_owned()),
            3 => Outcome::Failed(r.str()?.to_owned()),
            t => return Err(EventError::BadTag(t)),
        };
        let source = r.str()?.to_owned();
        let n = u16::from_be_bytes(r.array::<2>()?);
        let mut details = Vec::with_capacity(usize::from(n).min(64));
        for _ in 0..n {
            let k = r.str()?.to_owned();
            let v = r.str()?.to_owned();
            details.push((k, v));
        }
        if !r.0.is_empty() {
            return Err(EventError::TrailingBytes(r.0.len()));
        }
        Ok(Self {
            time,
            actor,
            actor_care_provider,
            actor_care_unit,
            assignment,
            action,
            recording,
            care_provider,
            patient,
            purpose,
            outcome,
            source,
            details,
        })
    }
}

impl AuditEvent {
    /// Checks that `data` is a valid canonical encoding, exactly as [`AuditEvent::decode`]
    /// would accept it, without allocating: the fast path of full-log verification.
    /// Returns the event's action.
    pub fn check_encoding(data: &[u8]) -> Result<Action, EventError> {
        let mut r = Reader(data);
        let version = r.u8()?;
        if version != EVENT_V1 {
            return Err(EventError::UnsupportedVersion(version));
        }
        let micros = i64::from_be_bytes(r.array::<8>()?);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .map_err(|_| EventError::BadField("time"))?;
        let kind = r.str()?;
        let id = r.str()?;
        let hsa =
            |s: &str, f: &'static str| HsaId::validate(s).map_err(|_| EventError::BadField(f));
        match kind {
            "person" | "system" => hsa(id, "actor id")?,
            "operator" => {}
            "vault" if id == "callvault" => {}
            _ => return Err(EventError::BadField("actor kind")),
        }
        if let Some(s) = r.opt_str()? {
            hsa(s, "actor care provider")?;
        }
        if let Some(s) = r.opt_str()? {
            hsa(s, "actor care unit")?;
        }
        r.opt_str()?;
        let action = Action::from_code(r.str()?).ok_or(EventError::BadField("action"))?;
        match r.u8()? {
            0 => {}
            1 => {
                r.take(48)?;
            }
            t => return Err(EventError::BadTag(t)),
        }
        if let Some(s) = r.opt_str()? {
            hsa(s, "care provider")?;
        }
        match r.u8()? {
            0 => {}
            1 => {
                r.bytes()?;
                r.take(32)?;
            }
            t => return Err(EventError::BadTag(t)),
        }
        r.opt_str()?;
        match r.u8()? {
            1 => {}
            2 | 3 => {
                r.str()?;
            }
            t => return Err(EventError::BadTag(t)),
        }
        r.str()?;
        let n = u16::from_be_bytes(r.array::<2>()?);
        for _ in 0..n {
            r.str()?;
            r.str()?;
        }
        if !r.0.is_empty() {
            return Err(EventError::TrailingBytes(r.0.len()));
        }
        Ok(action)
    }
}

/// The current time truncated to microseconds (the precision events keep).
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

struct Writer(Vec<u8>);

impl Writer {
    fn str(&mut self, s: &str, field: &'static str) -> Result<(), EventError> {
        let n = u16::try_from(s.len()).map_err(|_| EventError::TooLong(field))?;
        self.0.extend_from_slice(&n.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn opt_str(&mut self, s: Option<&str>, field: &'static str) -> Result<(), EventError> {
        match s {
            None => {
                self.0.push(0);
                Ok(())
            }
            Some(s) => {
                self.0.push(1);
                self.str(s, field)
            }
        }
    }
    fn bytes(&mut self, b: &[u8], field: &'static str) -> Result<(), EventError> {
        let n = u32::try_from(b.len()).map_err(|_| EventError::TooLong(field))?;
        self.0.extend_from_slice(&n.to_be_bytes());
        self.0.extend_from_slice(b);
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EventError> {
        if self.0.len() < n {
            return Err(EventError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, EventError> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], EventError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn str(&mut self) -> Result<&'a str, EventError> {
        let n = u16::from_be_bytes(self.array::<2>()?);
        std::str::from_utf8(self.take(usize::from(n))?).map_err(|_| EventError::BadUtf8)
    }
    fn opt_str(&mut self) -> Result<Option<&'a str>, EventError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            t => Err(EventError::BadTag(t)),
        }
    }
    fn bytes(&mut self) -> Result<&'a [u8], EventError> {
        let n = u32::from_be_bytes(self.array::<4>()?);
        let n = usize::try_from(n).map_err(|_| EventError::Truncated)?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_event() -> AuditEvent {
        let mut e = AuditEvent::new(
            Actor::Person(HsaId::parse("SE2321000016-N001").expect("hsa")),
            Action::Play,
            "sha256:ab12",
        );
        e.time = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
        e.actor_care_provider = Some(CareProvider::parse("SE2321000016-0001").expect("hsa"));
        e.actor_care_unit = Some(CareUnit::parse("SE2321000016-U001").expect("hsa"));
        e.assignment = Some("asg-1".into());
        e.recording = Some(RecordingRef {
            id: RecordingId::from_bytes([9; 16]),
            plaintext_sha256: [3; 32],
        });
        e.care_provider = e.actor_care_provider.clone();
        e.patient = Some(SealedPatient {
            sealed: vec![1, 2, 3],
            blind_index: [4; 32],
        });
        e.purpose = Some("vård och behandling".into());
        e.outcome = Outcome::Denied("no assignment".into());
        e.detail("range", "0-1023")
    }

    #[test]
    fn round_trips_every_field() {
        let e = full_event();
        let enc = e.encode().expect("encode");
        assert_eq!(AuditEvent::decode(&enc).expect("decode"), e);
        let minimal = AuditEvent::new(Actor::Vault, Action::Checkpoint, "cli");
        let enc = minimal.encode().expect("encode");
        assert_eq!(AuditEvent::decode(&enc).expect("decode"), minimal);
    }

    #[test]
    fn known_answer_encoding_v1() {
        // Pins the byte layout of format v1: do not change.
        let e = full_event();
        let enc = e.encode().expect("encode");
        assert_eq!(enc[0], EVENT_V1);
        assert_eq!(&enc[1..9], &1_790_000_000_000_000i64.to_be_bytes());
        assert_eq!(&enc[9..17], b"\x00\x06person");
        assert_eq!(
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &enc)),
            EVENT_KAT_SHA256
        );
    }

    const EVENT_KAT_SHA256: &str =
        "567d86c0b552c79b1761fe6d55e187ddf0c56e8c29a321ec5e31ee0ee74ed1b3";

    #[test]
    fn check_encoding_agrees_with_decode_on_every_prefix_and_bit_flip() {
        let enc = full_event().encode().expect("encode");
        assert_eq!(AuditEvent::check_encoding(&enc), Ok(Action::Play));
        for cut in 0..enc.len() {
            assert_eq!(
                AuditEvent::check_encoding(&enc[..cut]).is_ok(),
                AuditEvent::decode(&enc[..cut]).is_ok(),
                "cut {cut}"
            );
        }
        for i in 0..enc.len() {
            for bit in [0x01u8, 0x80] {
                let mut e = enc.clone();
                e[i] ^= bit;
                assert_eq!(
                    AuditEvent::check_encoding(&e).is_ok(),
                    AuditEvent::decode(&e).is_ok(),
                    "byte {i} bit {bit:#x}"
                );
            }
        }
    }

    #[test]
    fn strict_decoding_rejects_malformed_events() {
        let enc = full_event().encode().expect("encode");
        for cut in [0, 1, 9, 20, enc.len() - 1] {
            assert_eq!(
                AuditEvent::decode(&enc[..cut]),
                Err(EventError::Truncated),
                "cut {cut}"
            );
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert_eq!(
            AuditEvent::decode(&longer),
            Err(EventError::TrailingBytes(1))
        );
        let mut v2 = enc.clone();
        v2[0] = 2;
        assert_eq!(
            AuditEvent::decode(&v2),
            Err(EventError::UnsupportedVersion(2))
        );
        let mut bad_actor = enc.clone();
        bad_actor[11] = b'q'; // "person" -> "qerson"
        assert_eq!(
            AuditEvent::decode(&bad_actor),
            Err(EventError::BadField("actor kind"))
        );
    }
}
