//! The only path to plaintext: an [`Authorized`] decision, then a durable audit event
//! ([`Audited`]), then the data.
//!
//! Every function here that returns audio or identifying metadata takes an [`Audited`]
//! receipt of its own [`target`] type and nothing else: [`Vault::record_access`] takes the
//! `Authorized` decision over, refuses a decision for an action the target is not read under,
//! and builds the receipt only after the access event is committed (fsynced) in the audit
//! log, so the receipt owns its decision and its target — it cannot be paired with another
//! decision, pointed at another recording, or handed to another data function (a compile
//! error). `Authorized` is built only by
//! `callvault_auth::Policy::decide`. If the event cannot be written, there is no receipt and
//! so no data. Denied requests are recorded with [`Vault::record_denial`].

use callvault_audit::event::{
    Action as EventAction, Actor, AuditEvent, Outcome, RecordingRef, SealedPatient,
};
use callvault_auth::{
    AccessRequest, Action, AuthenticatedPrincipal, Authorized, Denial, PrincipalKind, Resource,
};
use callvault_catalog::{Change, Placement, PlacementState, RecordingRow};
use callvault_crypto::envelope::{EnvelopeHeader, open_blob};
use callvault_crypto::{DekId, FieldKind};
use callvault_types::{
    CallId, CallerNumber, CareProvider, CareUnit, HsaId, PatientId, RecordingId,
};
use time::OffsetDateTime;

use crate::vault::{AUDIT_SEAL_CONTEXT, SiteBlob, blob_key};
use crate::{Vault, VaultError};

mod logs;
mod opened;
pub mod target;

pub(crate) use opened::{ExportOpening, ReadRecorded};
use target::sealed::View;
pub use target::{OnRecording, Target};

/// The detail of an access event that holds an investigation's sealed case number (hex).
pub const CASE_NUMBER_SEALED: &str = "case_number_sealed";

/// Proof that the access event for one authorized action on one target is durable, owning
/// that decision and that target: the data functions take only the receipt of their own
/// target type, so a receipt cannot be paired with another decision, pointed at another
/// recording, or handed to another data function. Only [`Vault::record_access`] builds one.
///
/// ```compile_fail
/// # fn f(v: &callvault_vault::Vault, r: &callvault_vault::access::Audited<callvault_vault::access::target::Metadata>) {
/// // A metadata read's receipt does not play audio.
/// v.play(r, |_| Ok(()));
/// # }
/// ```
#[derive(Debug)]
pub struct Audited<T: Target> {
    leaf_index: u64,
    decision: Authorized,
    target: T,
    /// The recording's row as read when the event was written.
    row: Option<Box<RecordingRow>>,
}

impl<T: Target> Audited<T> {
    /// Leaf index of the access event in the audit log.
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The decision the access was made under (who, purpose, assignment, scope).
    pub fn decision(&self) -> &Authorized {
        &self.decision
    }

    /// What the audited access reads.
    pub fn target(&self) -> &T {
        &self.target
    }
}

impl<T: OnRecording> Audited<T> {
    /// The recording the access is to.
    pub fn recording(&self) -> &RecordingId {
        self.target.id()
    }
}

/// A request refused before, or instead of, a policy decision (see
/// [`Vault::record_refusal`]). Holds nothing identifying: the recording is named by id, and
/// a patient is only ever reached through the recording's own sealed field.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Refusal {
    /// What the request would have done.
    pub action: Action,
    /// The recording the request named, if any (whether or not it exists).
    pub recording: Option<RecordingId>,
    /// The caller's care provider, so that its log reviewers see the attempt.
    pub actor_care_provider: Option<CareProvider>,
    /// The purpose the caller stated, if it was one.
    pub purpose: Option<String>,
    /// Why it was refused (safe to record: no patient data).
    pub reason: String,
    /// Further non-identifying details (method, route template, status).
    pub details: Vec<(String, String)>,
}

/// Parameters of a patient search besides the patient.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SearchFilter {
    /// Calls starting at or after.
    pub from: Option<OffsetDateTime>,
    /// Calls starting before.
    pub to: Option<OffsetDateTime>,
    /// Only this care unit (still within the decision's scope).
    pub care_unit: Option<CareUnit>,
    /// Only calls answered by this nurse.
    pub nurse: Option<HsaId>,
    /// Continue after this hit (its start and id): hits come ordered by start, then id.
    pub after: Option<(OffsetDateTime, RecordingId)>,
    /// At most this many hits (`None`: all).
    pub limit: Option<usize>,
}

/// Decrypted metadata of a recording, for an authorized and audited caller.
#[derive(Clone, Debug)]
pub struct RecordingMetadata {
    /// Id.
    pub id: RecordingId,
    /// Care provider.
    pub care_provider: CareProvider,
    /// Care unit.
    pub care_unit: callvault_types::CareUnit,
    /// Telephony call id.
    pub call_id: String,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// Call end.
    pub ended_at: OffsetDateTime,
    /// Duration.
    pub duration_ms: u64,
    /// Codec.
    pub codec: String,
    /// Audio bytes (the WAV file).
    pub size: u64,
    /// SHA-256 of the audio.
    pub sha256: [u8; 32],
    /// Patient.
    pub patient: Option<PatientId>,
    /// Caller number.
    pub caller: Option<CallerNumber>,
    /// Nurse.
    pub nurse: Option<HsaId>,
    /// Retention.
    pub retention_until: OffsetDateTime,
    /// Legal hold.
    pub legal_hold: bool,
    /// Why the recording is incomplete, if it is.
    pub incomplete: Option<String>,
    /// Its links to patients after the call (who, when, whether a correction), oldest
    /// first; empty if it was never linked after its ingest.
    pub links: Vec<crate::link::LinkInfo>,
    /// Copies per site.
    pub placements: Vec<Placement>,
}

/// One search hit (no identifiers: the caller already knows the patient searched for).
#[derive(Clone, Debug)]
pub struct SearchHit {
    /// Id.
    pub id: RecordingId,
    /// Care unit.
    pub care_unit: callvault_types::CareUnit,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// Duration.
    pub duration_ms: u64,
    /// Whether the recording is linked to a patient (always, for a patient search).
    pub linked: bool,
}

impl SearchHit {
    fn of(r: RecordingRow) -> Self {
        Self {
            id: r.rec.id,
            linked: r.rec.patient.is_some(),
            care_unit: r.rec.care_unit,
            started_at: r.rec.started_at,
            duration_ms: r.rec.duration_ms,
        }
    }
}

fn event_action(a: Action) -> EventAction {
    match a {
        Action::Ingest => EventAction::Ingest,
        Action::Search => EventAction::Search,
        Action::ViewMetadata => EventAction::View,
        Action::Play => EventAction::Play,
        Action::Download => EventAction::Download,
        Action::ReadAudit | Action::ReadAccessLog => EventAction::AuditRead,
        Action::ManagePrivileges => EventAction::ManagePrivileges,
        Action::ManageRecords => EventAction::ManageRecords,
        Action::Operate => EventAction::StatusRead,
        Action::LinkPatient => EventAction::PatientLink,
    }
}

/// The receipt for a committed access event.
fn receipt<T: Target>(
    authz: Authorized,
    target: T,
    row: Option<Box<RecordingRow>>,
    committed: &callvault_catalog::Committed,
) -> Result<Audited<T>, VaultError> {
    let leaf_index = committed
        .leaf_indexes
        .first()
        .copied()
        .ok_or(VaultError::NoLeafIndex("access"))?;
    Ok(Audited {
        leaf_index,
        decision: authz,
        target,
        row,
    })
}

fn denial_leaf(c: &callvault_catalog::Committed) -> Result<u64, VaultError> {
    c.leaf_indexes
        .first()
        .copied()
        .ok_or(VaultError::NoLeafIndex("refusal"))
}

/// Checks that a recording lies inside the decision's care provider and unit scope.
pub(crate) fn check_scope(authz: &Authorized, row: &RecordingRow) -> Result<(), VaultError> {
    let res = authz.resource();
    if row.rec.care_provider != res.care_provider
        || res
            .care_unit
            .as_ref()
            .is_some_and(|u| *u != row.rec.care_unit)
        || !authz.scope().contains(&row.rec.care_unit)
    {
        return Err(VaultError::CapabilityMismatch(
            "the recording lies outside the decision's care provider or units".into(),
        ));
    }
    Ok(())
}

/// The audit actor of an authenticated principal.
pub fn audit_actor(p: &AuthenticatedPrincipal) -> Actor {
    match p.kind() {
        PrincipalKind::Person => Actor::Person(p.hsa_id().clone()),
        PrincipalKind::System => Actor::System(p.hsa_id().clone()),
    }
}

/// The audit source of an authenticated principal: its certificate fingerprint.
pub fn audit_source(p: &AuthenticatedPrincipal) -> String {
    let hex: String = p.fingerprint().iter().map(|b| format!("{b:02x}")).collect();
    format!("tls:sha256:{hex}")
}

impl Vault {
    /// The care provider and unit a recording belongs to: what the policy decides on. Reveals
    /// nothing identifying; callers still audit the decision.
    pub fn recording_resource(&self, id: &RecordingId) -> Result<Option<Resource>, VaultError> {
        Ok(self.catalog.recording(id)?.map(|r| Resource {
            care_provider: r.rec.care_provider,
            care_unit: Some(r.rec.care_unit),
        }))
    }

    /// Bytes of a recording's audio (to resolve HTTP ranges before the access is audited).
    pub fn recording_audio_len(&self, id: &RecordingId) -> Result<Option<u64>, VaultError> {
        Ok(self.catalog.recording(id)?.map(|r| r.rec.plaintext_size))
    }

    /// The patient of a recording, sealed for an audit event (for patients' log extracts).
    pub(crate) fn audit_patient(
        &self,
        row: &RecordingRow,
    ) -> Result<Option<SealedPatient>, VaultError> {
        let Some((sealed, _)) = &row.rec.patient else {
            return Ok(None);
        };
        let cp = &row.rec.care_provider;
        let canon =
            self.keys
                .open_field(cp, FieldKind::PatientId, row.rec.id.as_bytes(), sealed)?;
        let sealed = self
            .keys
            .seal_field(cp, FieldKind::PatientId, AUDIT_SEAL_CONTEXT, &canon)?;
        let bidx = self.keys.blind_index(cp, FieldKind::PatientId, &canon)?;
        Ok(Some(SealedPatient {
            sealed,
            blind_index: bidx.0,
        }))
    }

    fn base_event(
        &self,
        p: &AuthenticatedPrincipal,
        action: Action,
        resource: &Resource,
    ) -> AuditEvent {
        let mut e = AuditEvent::new(audit_actor(p), event_action(action), audit_source(p));
        e.care_provider = Some(resource.care_provider.clone());
        e
    }

    /// Writes the durable access event for an authorized action and returns the receipt the
    /// data functions require, which takes the decision over. A decision for an action the
    /// target is not read under ([`Target::ACTIONS`]) is refused before anything is written.
    /// Fails, with no receipt, if the event cannot be written.
    pub fn record_access<T: Target>(
        &self,
        authz: Authorized,
        target: T,
    ) -> Result<Audited<T>, VaultError> {
        let (e, row) = self.access_event::<T>(&authz, target.view())?;
        let committed = self.catalog.commit(Change::new(e))?;
        receipt(authz, target, row, &committed)
    }

    /// [`Vault::record_access`] for async callers: the event is prepared on the caller's
    /// thread (short catalog reads and sealing) and the task waits for the group commit
    /// without holding a thread. The receipt exists only once the event is durable.
    pub async fn record_access_async<T: Target>(
        &self,
        authz: Authorized,
        target: T,
    ) -> Result<Audited<T>, VaultError> {
        let (e, row) = self.access_event::<T>(&authz, target.view())?;
        let committed = self.catalog.submit(Change::new(e))?.wait().await?;
        receipt(authz, target, row, &committed)
    }

    /// The access event of an authorized action on a target (and the recording's row, which
    /// the receipt keeps so that the data functions check scope against what was audited).
    fn access_event<T: Target>(
        &self,
        authz: &Authorized,
        target: View<'_>,
    ) -> Result<(AuditEvent, Option<Box<RecordingRow>>), VaultError> {
        if !T::ACTIONS.contains(&authz.action()) {
            return Err(VaultError::CapabilityMismatch(format!(
                "a decision to {:?} does not read this target",
                authz.action()
            )));
        }
        let mut row_read = None;
        let resource = authz.resource();
        let mut e = self.base_event(authz.principal(), authz.action(), resource);
        let asg = authz.assignment();
        e.actor_care_provider = Some(asg.care_provider.clone());
        e.actor_care_unit = asg.care_units.iter().next().cloned();
        e.assignment = Some(asg.id.to_string());
        e.purpose = Some(authz.purpose().as_str().to_owned());
        match target {
            View::Metadata(target::Metadata { id }) => {
                let row = self
                    .catalog
                    .recording(id)?
                    .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
                e.recording = Some(RecordingRef {
                    id: *id,
                    plaintext_sha256: row.rec.plaintext_sha256,
                });
                e.patient = self.audit_patient(&row)?;
                row_read = Some(Box::new(row));
            }
            View::Audio(target::Audio { id, range, asked }) => {
                let row = self
                    .catalog
                    .recording(id)?
                    .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
                e.recording = Some(RecordingRef {
                    id: *id,
                    plaintext_sha256: row.rec.plaintext_sha256,
                });
                e.patient = self.audit_patient(&row)?;
                // What is sent, in the notation of HTTP's Content-Range (first and last byte,
                // both inclusive), beside what was asked in the Range header's notation.
                e = e.detail(
                    "sent",
                    if range.is_empty() {
                        "none".to_owned()
                    } else {
                        format!("{}-{}", range.start, range.end - 1)
                    },
                );
                if let Some(a) = asked {
                    e = e.detail("asked", a);
                }
                row_read = Some(Box::new(row));
            }
            View::PatientSearch(target::PatientSearch { patient, filter }) => {
                let (sealed, bidx) =
                    self.seal_patient(&resource.care_provider, patient, AUDIT_SEAL_CONTEXT)?;
                e.patient = Some(SealedPatient {
                    sealed,
                    blind_index: bidx,
                });
                if let Some(f) = filter.from {
                    e = e.detail("from", f);
                }
                if let Some(t) = filter.to {
                    e = e.detail("to", t);
                }
                if let Some(u) = &filter.care_unit {
                    e = e.detail("care_unit", u);
                }
                if let Some(n) = &filter.nurse {
                    e = e.detail("nurse", n);
                }
                if let Some((t, id)) = filter.after {
                    e = e.detail("after_started_at", t).detail("after_id", id);
                }
                if let Some(l) = filter.limit {
                    e = e.detail("limit", l);
                }
            }
            View::CallSearch(target::CallSearch { care_unit, call_id }) => {
                // The recording found, if any, is named (with its patient, if linked), so
                // that the search is in the patient's log extract.
                if let Some(row) = self.call_in_scope(authz, care_unit, call_id)? {
                    e.recording = Some(RecordingRef {
                        id: row.rec.id,
                        plaintext_sha256: row.rec.plaintext_sha256,
                    });
                    e.patient = self.audit_patient(&row)?;
                }
                e = e.detail("care_unit", care_unit).detail("call_id", call_id);
            }
            View::AuditLog(target::AuditLog { limit }) => {
                e = e.detail("what", "audit events").detail("limit", limit);
            }
            View::PatientAccessLog(target::PatientAccessLog { patient }) => {
                let (sealed, bidx) =
                    self.seal_patient(&resource.care_provider, patient, AUDIT_SEAL_CONTEXT)?;
                e.patient = Some(SealedPatient {
                    sealed,
                    blind_index: bidx,
                });
                e = e.detail("what", "patient access log");
            }
        }
        if let Some(reason) = authz.emergency_reason() {
            // Free text may name the patient: it is sealed, and the flag is in clear.
            let sealed = self.keys.seal_field(
                &resource.care_provider,
                FieldKind::FreeText,
                AUDIT_SEAL_CONTEXT,
                reason.as_bytes(),
            )?;
            let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
            e = e
                .detail("emergency_access", true)
                .detail("emergency_reason_sealed", hex);
        }
        if let Some(case) = authz.case_number() {
            // An investigation's case number can point at a patient (a Lex Maria case is
            // about one): sealed like the emergency reason. Log reviewers read it back
            // through `read_audit_events` and `patient_access_log`.
            let sealed = self.keys.seal_field(
                &resource.care_provider,
                FieldKind::FreeText,
                AUDIT_SEAL_CONTEXT,
                case.as_bytes(),
            )?;
            e = e
                .detail("investigation", true)
                .detail(CASE_NUMBER_SEALED, hex::encode(sealed));
        }
        Ok((e, row_read))
    }

    /// Records a denied request (who, what, why). The denial itself needs no receipt.
    pub fn record_denial(
        &self,
        principal: &AuthenticatedPrincipal,
        req: &AccessRequest,
        denial: &Denial,
        recording: Option<&RecordingId>,
    ) -> Result<u64, VaultError> {
        let e = self.denial_event(principal, req, denial, recording)?;
        denial_leaf(&self.catalog.commit(Change::new(e))?)
    }

    /// [`Vault::record_denial`] for async callers.
    pub async fn record_denial_async(
        &self,
        principal: &AuthenticatedPrincipal,
        req: &AccessRequest,
        denial: &Denial,
        recording: Option<&RecordingId>,
    ) -> Result<u64, VaultError> {
        let e = self.denial_event(principal, req, denial, recording)?;
        denial_leaf(&self.catalog.submit(Change::new(e))?.wait().await?)
    }

    fn denial_event(
        &self,
        principal: &AuthenticatedPrincipal,
        req: &AccessRequest,
        denial: &Denial,
        recording: Option<&RecordingId>,
    ) -> Result<AuditEvent, VaultError> {
        let mut e = self.base_event(principal, req.action, &req.resource);
        e.purpose = Some(req.purpose.as_str().to_owned());
        e.outcome = Outcome::Denied(denial.to_string());
        if let Some(id) = recording
            && let Some(row) = self.catalog.recording(id)?
        {
            e.recording = Some(RecordingRef {
                id: *id,
                plaintext_sha256: row.rec.plaintext_sha256,
            });
            // Attempts on a patient's records belong in the patient's log extract too.
            e.patient = self.audit_patient(&row)?;
        }
        if let Some(u) = &req.resource.care_unit {
            e = e.detail("care_unit", u);
        }
        if req.emergency_reason.is_some() {
            e = e.detail("emergency_access", "requested");
        }
        Ok(e)
    }

    /// Records a request refused before, or instead of, a policy decision: a missing or
    /// conflicting purpose, a malformed header, a recording that does not exist, a range
    /// that cannot be served, a web grant presented by another certificate. Every request
    /// that names a protected resource or a person is an audit event, granted or refused;
    /// policy denials go through [`Vault::record_denial`], everything else through here.
    pub fn record_refusal(
        &self,
        principal: &AuthenticatedPrincipal,
        refusal: &Refusal,
    ) -> Result<u64, VaultError> {
        let e = self.refusal_event(principal, refusal)?;
        denial_leaf(&self.catalog.commit(Change::new(e))?)
    }

    /// [`Vault::record_refusal`] for async callers.
    pub async fn record_refusal_async(
        &self,
        principal: &AuthenticatedPrincipal,
        refusal: &Refusal,
    ) -> Result<u64, VaultError> {
        let e = self.refusal_event(principal, refusal)?;
        denial_leaf(&self.catalog.submit(Change::new(e))?.wait().await?)
    }

    fn refusal_event(
        &self,
        principal: &AuthenticatedPrincipal,
        refusal: &Refusal,
    ) -> Result<AuditEvent, VaultError> {
        let mut e = AuditEvent::new(
            audit_actor(principal),
            event_action(refusal.action),
            audit_source(principal),
        );
        e.actor_care_provider = refusal.actor_care_provider.clone();
        e.purpose = refusal.purpose.clone();
        e.outcome = Outcome::Denied(refusal.reason.clone());
        if let Some(id) = &refusal.recording {
            match self.catalog.recording(id)? {
                // The owner's log reviewers see attempts on their recordings, and the
                // patient's log extract lists them.
                Some(row) => {
                    e.recording = Some(RecordingRef {
                        id: *id,
                        plaintext_sha256: row.rec.plaintext_sha256,
                    });
                    e.patient = self.audit_patient(&row)?;
                    e.care_provider = Some(row.rec.care_provider.clone());
                }
                None => e = e.detail("recording", id).detail("recording_exists", false),
            }
        }
        for (k, v) in &refusal.details {
            e = e.detail(k, v);
        }
        Ok(e)
    }

    /// The recording a receipt is for, checked against the decision's care provider and
    /// unit scope: the row the audit event was written from (the receipt holds it), so that
    /// what is served is what was audited.
    fn admit<T: OnRecording>(&self, receipt: &Audited<T>) -> Result<RecordingRow, VaultError> {
        let id = receipt.target.id();
        let row = match &receipt.row {
            Some(r) if r.rec.id == *id => (**r).clone(),
            _ => self
                .catalog
                .recording(id)?
                .ok_or_else(|| VaultError::NotFound(id.to_string()))?,
        };
        check_scope(&receipt.decision, &row)?;
        Ok(row)
    }

    /// Decrypted metadata of the receipt's recording.
    pub fn read_metadata(
        &self,
        receipt: &Audited<target::Metadata>,
    ) -> Result<RecordingMetadata, VaultError> {
        let row = self.admit(receipt)?;
        let r = &row.rec;
        let cp = &r.care_provider;
        // A sealed field of this row, opened (zeroized when dropped) and parsed; a stored
        // value that does not parse is reported as damage, not served.
        fn parse<T, E: std::fmt::Display>(
            plain: Option<zeroize::Zeroizing<Vec<u8>>>,
            what: &'static str,
            f: impl FnOnce(&str) -> Result<T, E>,
        ) -> Result<Option<T>, VaultError> {
            let Some(plain) = plain else { return Ok(None) };
            let text = std::str::from_utf8(&plain).map_err(|_| VaultError::DamagedSealedValue {
                what,
                why: "not text".into(),
            })?;
            f(text)
                .map(Some)
                .map_err(|e| VaultError::DamagedSealedValue {
                    what,
                    why: e.to_string(),
                })
        }
        let open = |field: &Option<callvault_catalog::SealedField>, kind| {
            field
                .as_ref()
                .map(|(sealed, _)| self.keys.open_field(cp, kind, r.id.as_bytes(), sealed))
                .transpose()
        };
        let patient = parse(
            open(&r.patient, FieldKind::PatientId)?,
            "patient id",
            PatientId::from_canonical,
        )?;
        let caller = parse(
            open(&r.caller, FieldKind::CallerNumber)?,
            "caller number",
            CallerNumber::parse,
        )?;
        Ok(RecordingMetadata {
            id: r.id,
            care_provider: cp.clone(),
            care_unit: r.care_unit.clone(),
            call_id: r.call_id.to_string(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            codec: r.codec.clone(),
            size: r.plaintext_size,
            sha256: r.plaintext_sha256,
            patient,
            caller,
            nurse: r.nurse.clone(),
            retention_until: r.retention_until,
            legal_hold: row.legal_hold,
            incomplete: r.incomplete.clone(),
            links: self.link_history(&r.id)?,
            placements: self.catalog.placements(&r.id)?,
        })
    }

    /// Streams the audited byte range of a recording's audio (the WAV file) to `sink`,
    /// decrypting only the segments that hold it; served from the first site whose copy
    /// opens, the other sites as fallback.
    pub fn play(
        &self,
        receipt: &Audited<target::Audio>,
        mut sink: impl FnMut(&[u8]) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let row = self.admit(receipt)?;
        let range = receipt.target.range.clone();
        let dek = self.data_key(&row.rec)?;
        let key = blob_key(&row.rec.id)?;
        let expected = EnvelopeHeader::v1(row.rec.id, DekId(row.rec.dek_id));
        let placements = self.catalog.placements(&row.rec.id)?;
        let mut last_err = None;
        for store in &self.stores {
            let ok = placements
                .iter()
                .any(|p| p.site == store.site().as_str() && p.state == PlacementState::Ok);
            if !ok {
                continue;
            }
            let len = match store.head(&key) {
                Ok(Some(l)) => l,
                Ok(None) => continue,
                Err(e) => {
                    last_err = Some(VaultError::from(e));
                    continue;
                }
            };
            let src = SiteBlob::new(&**store, key.clone(), len);
            match open_blob(src, &expected, &dek) {
                Ok(blob) => {
                    // Once bytes have gone out, a failure is final (no silent splice of sites).
                    let mut err = None;
                    blob.decrypt_range(range.clone(), |chunk| {
                        sink(chunk).map_err(|e| {
                            err = Some(e);
                            callvault_crypto::CryptoError::Io(std::io::Error::other("sink stopped"))
                        })
                    })
                    .map_err(|e| err.take().unwrap_or(VaultError::from(e)))?;
                    return Ok(());
                }
                Err(e) => last_err = Some(e.into()),
            }
        }
        Err(last_err
            .unwrap_or_else(|| VaultError::NoSiteWritable("no site holds a good copy".into())))
    }

    /// Recordings of the searched patient inside the decision's unit scope and period.
    pub fn search_patient(
        &self,
        receipt: &Audited<target::PatientSearch>,
    ) -> Result<Vec<SearchHit>, VaultError> {
        let authz = &receipt.decision;
        let target::PatientSearch { patient, filter } = &receipt.target;
        let cp = &authz.resource().care_provider;
        let canon = zeroize::Zeroizing::new(patient.canonical());
        let bidx = self
            .keys
            .blind_index(cp, FieldKind::PatientId, canon.as_bytes())?;
        let rows = self.catalog.recordings_by_patient(cp, &bidx.0)?;
        let f = filter;
        let mut hits: Vec<SearchHit> = rows
            .into_iter()
            .filter(|r| authz.scope().contains(&r.rec.care_unit))
            .filter(|r| f.from.is_none_or(|t| r.rec.started_at >= t))
            .filter(|r| f.to.is_none_or(|t| r.rec.started_at < t))
            .filter(|r| f.care_unit.as_ref().is_none_or(|u| *u == r.rec.care_unit))
            .filter(|r| f.nurse.is_none() || r.rec.nurse == f.nurse)
            .filter(|r| {
                f.after
                    .is_none_or(|after| (r.rec.started_at, r.rec.id) > after)
            })
            .map(SearchHit::of)
            .collect();
        hits.sort_by_key(|h| (h.started_at, h.id));
        if let Some(limit) = f.limit {
            hits.truncate(limit);
        }
        Ok(hits)
    }

    /// The call searched for by care unit and call id, if it lies inside the decision's
    /// scope: at most one hit, linked to a patient or not.
    pub fn search_call(
        &self,
        receipt: &Audited<target::CallSearch>,
    ) -> Result<Vec<SearchHit>, VaultError> {
        let authz = &receipt.decision;
        let target::CallSearch { care_unit, call_id } = &receipt.target;
        Ok(self
            .call_in_scope(authz, care_unit, call_id)?
            .map(SearchHit::of)
            .into_iter()
            .collect())
    }

    /// The recording of a call at a unit, if the decision's scope covers it.
    fn call_in_scope(
        &self,
        authz: &Authorized,
        care_unit: &CareUnit,
        call_id: &CallId,
    ) -> Result<Option<RecordingRow>, VaultError> {
        let cp = &authz.resource().care_provider;
        Ok(self
            .catalog
            .recording_by_call(cp, call_id)?
            .filter(|r| r.rec.care_unit == *care_unit && authz.scope().contains(care_unit)))
    }
}

#[cfg(test)]
mod tests {
    /// Every opening of a sealed value in this crate is in the access layer — this file and
    /// `access/` (tidy-style: the sources are read) — so that nothing opens a patient or a
    /// free text without the access layer's receipt or proof.
    #[test]
    fn sealed_values_are_opened_only_in_the_access_layer() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.clone()];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path != src.join("access.rs")
                    && !path.starts_with(src.join("access"))
                    && std::fs::read_to_string(&path)
                        .expect("source")
                        .contains(".open_field(")
                {
                    offenders.push(path);
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "sealed values opened in {offenders:?}"
        );
    }
}
