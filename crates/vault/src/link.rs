//! A recording linked to its patient after the call started.
//!
//! A live call has no personnummer when it starts: the recorder ingests it without a patient
//! and the nurse learns who the call was about during the call. [`Vault::link_patient`] then
//! links the recording to the patient: the nurse who took the call may (with
//! `view-metadata` on the recording's unit), anyone else needs the documented right
//! `link-patient` (see [`callvault_auth::Authorized::may_link`]). The patient is sealed and
//! blind-indexed like the patient field of an ingest.
//!
//! A wrong link is corrected by a new link, with a reason; the old one stays in the history
//! (`patient_links`, migration 10), and both patients' log extracts show the correction:
//! the link event (`patient.link`) carries the new patient, a `patient.unlink` event in the
//! same transaction the old one. `verify` checks the recording's patient against its latest
//! link event and every stored link against its event.

use callvault_audit::event::{Action as EventAction, AuditEvent, RecordingRef, SealedPatient};
use callvault_auth::{Action, Authorized, Denial};
use callvault_catalog::{Change, Mutation, PatientLinkRow, RecordingRow};
use callvault_crypto::FieldKind;
use callvault_types::{PatientId, RecordingId};
use time::OffsetDateTime;

use crate::access::{audit_actor, audit_source};
use crate::vault::AUDIT_SEAL_CONTEXT;
use crate::{Vault, VaultError};

/// The detail of a link event that holds the sealed reason for a correction (hex).
pub const LINK_REASON_SEALED: &str = "reason_sealed";

/// Shortest reason accepted for correcting a link, in characters.
pub const MIN_LINK_REASON: usize = 10;
/// Longest reason accepted for correcting a link, in characters.
pub const MAX_LINK_REASON: usize = 1000;

/// What [`Vault::link_patient`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientLinked {
    /// The link's number: 1 for the first, one more for each correction.
    pub n: u32,
    /// Whether it replaced a patient the recording had (from its ingest or a link).
    pub corrected: bool,
    /// The leaf index of the `patient.link` event.
    pub leaf_index: u64,
}

/// One link in a recording's history, as shown to someone allowed to see its metadata:
/// who linked and when, never which patient an earlier, wrong link named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The link's number.
    pub n: u32,
    /// Who linked (`person:SE…`).
    pub linked_by: String,
    /// When.
    pub linked_at: OffsetDateTime,
    /// Whether it corrected an earlier patient.
    pub correction: bool,
}

/// Why a link request refused to go ahead before anything was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    /// The recording is linked to this patient already.
    #[error("the recording is already linked to this patient")]
    AlreadyLinked,
    /// A correction needs its reason.
    #[error(
        "the recording is linked to a patient; correcting the link needs a reason of {MIN_LINK_REASON} to {MAX_LINK_REASON} characters"
    )]
    ReasonRequired,
    /// The reason for a correction is too long.
    #[error("a correction's reason is at most {MAX_LINK_REASON} characters")]
    ReasonTooLong,
}

impl Vault {
    /// Links a recording to its patient, or corrects its link. `authz` must be a decision
    /// for [`Action::LinkPatient`] on the recording's care provider and unit; the vault
    /// checks who took the call ([`Authorized::may_link`]) and records a refusal as a denied
    /// audit event ([`VaultError::Denied`]). The link, its audit events and the recording's
    /// new patient are one transaction.
    pub fn link_patient(
        &self,
        authz: &Authorized,
        id: &RecordingId,
        patient: &PatientId,
        reason: Option<&str>,
    ) -> Result<PatientLinked, VaultError> {
        if authz.action() != Action::LinkPatient {
            return Err(VaultError::CapabilityMismatch(
                "the decision is for another action".into(),
            ));
        }
        let row = self
            .catalog
            .recording(id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
        crate::access::check_scope(authz, &row)?;
        if let Err(denial) = authz.may_link(row.rec.nurse.as_ref()) {
            return Err(self.refuse_link(authz, &row, denial));
        }
        let cp = &row.rec.care_provider;
        let (row_sealed, bidx) = self.seal_patient(cp, patient, id.as_bytes())?;
        let previous = self.audit_patient(&row)?;
        // A reason is asked for, and kept, only when a link corrects a patient.
        let reason = match &previous {
            None => None,
            Some(prev) if prev.blind_index == bidx => {
                return Err(VaultError::Link(LinkRefusal::AlreadyLinked));
            }
            Some(_) => match reason.map(str::trim).map(|r| (r, r.chars().count())) {
                Some((_, len)) if len > MAX_LINK_REASON => {
                    return Err(VaultError::Link(LinkRefusal::ReasonTooLong));
                }
                Some((r, len)) if len >= MIN_LINK_REASON => Some(r),
                _ => {
                    return Err(VaultError::Link(LinkRefusal::ReasonRequired));
                }
            },
        };
        let history = self.catalog.patient_links(id)?;
        let n = history.last().map_or(1, |l| l.n + 1);
        let (reason_row, reason_audit) = match reason {
            Some(r) => (
                Some(
                    self.keys
                        .seal_field(cp, FieldKind::FreeText, id.as_bytes(), r.as_bytes())?,
                ),
                Some(self.keys.seal_field(
                    cp,
                    FieldKind::FreeText,
                    AUDIT_SEAL_CONTEXT,
                    r.as_bytes(),
                )?),
            ),
            None => (None, None),
        };
        let (audit_sealed, _) = self.seal_patient(cp, patient, AUDIT_SEAL_CONTEXT)?;
        let mut link = self.link_event(authz, &row, EventAction::PatientLink);
        link.patient = Some(SealedPatient {
            sealed: audit_sealed,
            blind_index: bidx,
        });
        link = link.detail("link", n);
        if previous.is_some() {
            // The link it corrects: the previous link's number, or 0 for the patient the
            // recording was ingested with.
            link = link.detail("corrects", n - 1);
        }
        if let Some(r) = &reason_audit {
            link = link.detail(LINK_REASON_SEALED, hex::encode(r));
        }
        let stored = PatientLinkRow {
            recording_id: *id,
            n,
            patient: (row_sealed, bidx),
            linked_by: link.actor.to_string(),
            linked_at: link.time,
            reason_sealed: reason_row,
        };
        let corrected = previous.is_some();
        let mut change = Change::new(link).with(Mutation::LinkPatient(stored));
        if let Some(prev) = previous {
            let mut unlink = self.link_event(authz, &row, EventAction::PatientUnlink);
            unlink.patient = Some(prev);
            unlink = unlink.detail("link", n - 1).detail("replaced_by", n);
            change = change.and_event(unlink);
        }
        let committed = self.catalog.commit(change)?;
        let leaf_index = committed
            .leaf_indexes
            .first()
            .copied()
            .ok_or(VaultError::NoLeafIndex("patient link"))?;
        Ok(PatientLinked {
            n,
            corrected,
            leaf_index,
        })
    }

    /// A recording's link history (who linked, when, whether it corrected), for someone
    /// allowed to see its metadata: read through [`Vault::read_metadata`].
    pub(crate) fn link_history(&self, id: &RecordingId) -> Result<Vec<LinkInfo>, VaultError> {
        // A reason is stored exactly when a link corrects a patient.
        Ok(self
            .catalog
            .patient_links(id)?
            .into_iter()
            .map(|l| LinkInfo {
                n: l.n,
                linked_by: l.linked_by,
                linked_at: l.linked_at,
                correction: l.reason_sealed.is_some(),
            })
            .collect())
    }

    fn link_event(
        &self,
        authz: &Authorized,
        row: &RecordingRow,
        action: EventAction,
    ) -> AuditEvent {
        let p = authz.principal();
        let asg = authz.assignment();
        let mut e = AuditEvent::new(audit_actor(p), action, audit_source(p));
        e.care_provider = Some(row.rec.care_provider.clone());
        e.actor_care_provider = Some(asg.care_provider.clone());
        e.actor_care_unit = asg.care_units.iter().next().cloned();
        e.assignment = Some(asg.id.to_string());
        e.purpose = Some(authz.purpose().as_str().to_owned());
        e.recording = Some(RecordingRef {
            id: row.rec.id,
            plaintext_sha256: row.rec.plaintext_sha256,
        });
        e
    }

    /// Records a refused link (the recording's patient, if any, in the event, so that the
    /// attempt is in their log extract) and returns the error that says so.
    fn refuse_link(&self, authz: &Authorized, row: &RecordingRow, denial: Denial) -> VaultError {
        let mut e = self.link_event(authz, row, EventAction::PatientLink);
        e.outcome = callvault_audit::event::Outcome::Denied(denial.to_string());
        let recorded = self
            .audit_patient(row)
            .and_then(|p| {
                e.patient = p;
                Ok(self.catalog.commit(Change::new(e))?)
            })
            .and_then(|c| {
                c.leaf_indexes
                    .first()
                    .copied()
                    .ok_or(VaultError::NoLeafIndex("refusal"))
            });
        match recorded {
            Ok(leaf_index) => VaultError::Denied { denial, leaf_index },
            Err(e) => e,
        }
    }
}
