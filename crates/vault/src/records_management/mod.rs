//! Records management: legal holds, retention, and destruction by deletion orders — an IVO
//! decision (before retention ends) or a retention purge (after it) — each registered by one
//! records manager and approved by another, then executed by crypto-shredding.
//!
//! Execution of an order, one recording at a time:
//!
//! 1. **Shred** (one transaction with its `recording.shred` event): a tombstone keeps the
//!    recording id, its plaintext and ciphertext hashes, the data key's id and the order;
//!    the catalog row goes, and with it the only wrapped copy of the data key and the sealed
//!    identifiers (the catalog runs with `secure_delete`, so the bytes are overwritten).
//!    Triggers refuse the deletion while a legal hold covers the recording, or, for a purge,
//!    before its retention date.
//! 2. **Delete the blobs** at every site; a site that fails leaves the order executing, and
//!    running it again finishes (the blob can no longer be decrypted meanwhile).
//! 3. When every recording is shredded and every blob deleted: the write-ahead log is
//!    truncated, the order is marked executed, a checkpoint is signed, and a **deletion
//!    certificate** is issued — a signed note listing every destroyed recording with the
//!    leaf index of its shred event, plus inclusion proofs against that checkpoint.
//!
//! Nothing here deletes a recording that is not in an approved order; nothing else in the
//! vault deletes a catalogued recording at all.

mod certificate;
mod execute;

pub use certificate::{
    CertificateProof, DeletionCertificate, VerifiedCertificate, verifier_from_key,
    verify_certificate,
};

use std::collections::BTreeSet;

use callvault_audit::event::{Action as EventAction, AuditEvent};
use callvault_auth::{Action, Authorized, check_text};
use callvault_catalog::{
    Change, DeletionKind, DeletionOrderRow, DeletionState, LegalHoldRow, Mutation,
    NewDeletionOrder, NewLegalHold,
};
use callvault_crypto::FieldKind;
use callvault_types::{CareProvider, PatientId, RecordingId};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::governance::MAX_TEXT;
use crate::{Vault, VaultError};

/// Largest decision document (PDF) stored with an IVO decision.
pub const MAX_DOCUMENT_BYTES: usize = 10 << 20;
/// First line of a deletion certificate's signed statement. Do not change.
pub const CERTIFICATE_V1: &str = "callvault deletion certificate v1";

/// Which recordings a hold or an order covers.
#[derive(Clone, Debug)]
pub enum Scope {
    /// These recordings.
    Recordings(Vec<RecordingId>),
    /// Every recording of one patient, optionally only calls starting in `[from, to)`.
    Patient {
        /// The patient.
        patient: PatientId,
        /// Calls starting at or after.
        from: Option<OffsetDateTime>,
        /// Calls starting before.
        to: Option<OffsetDateTime>,
    },
}

/// An IVO decision to register.
#[derive(Clone, Debug)]
pub struct IvoDecision {
    /// IVO's case number (diarienummer).
    pub case_number: String,
    /// Date of the decision.
    pub decision_date: time::Date,
    /// What it orders destroyed.
    pub scope: Scope,
    /// The decision document (stored sealed; its SHA-256 is recorded).
    pub document: Vec<u8>,
}

/// What a records step recorded.
#[derive(Clone, Debug)]
pub struct RecordsReceipt {
    /// The hold or order concerned.
    pub id: String,
    /// Recordings covered.
    pub recordings: u64,
    /// Leaf index of the step's audit event.
    pub leaf_index: u64,
}

/// A legal hold as shown to records managers.
#[derive(Clone, Debug, Serialize)]
pub struct LegalHoldView {
    /// Id.
    pub id: String,
    /// Case reference.
    pub case_reference: String,
    /// Reason (unsealed for the records manager).
    pub reason: String,
    /// Recordings covered.
    pub recordings: u64,
    /// Set by, at.
    pub set_by: String,
    /// When.
    pub set_at: String,
    /// Released by (if released).
    pub released_by: Option<String>,
    /// When released.
    pub released_at: Option<String>,
    /// Why released.
    pub release_reason: Option<String>,
}

/// One recording past its retention date.
#[derive(Clone, Debug, Serialize)]
pub struct PastRetention {
    /// Recording id.
    pub id: String,
    /// Care unit.
    pub care_unit: String,
    /// Call start.
    pub started_at: String,
    /// Retention date.
    pub retention_until: String,
    /// Under legal hold (a purge leaves it).
    pub legal_hold: bool,
}

/// The report of recordings past retention at one care provider.
#[derive(Clone, Debug, Serialize)]
pub struct RetentionReport {
    /// Care provider.
    pub care_provider: String,
    /// When produced.
    pub generated_at: String,
    /// Recordings past retention (all of them, also beyond `recordings`).
    pub past_retention: u64,
    /// Of which under legal hold.
    pub held: u64,
    /// The first of them, by id.
    pub recordings: Vec<PastRetention>,
}

/// A deletion order as shown to records managers.
#[derive(Clone, Debug, Serialize)]
pub struct DeletionOrderView {
    /// Id.
    pub id: String,
    /// `ivo` or `retention`.
    pub kind: &'static str,
    /// Care provider.
    pub care_provider: String,
    /// IVO case number or purge reference.
    pub reference: String,
    /// IVO decision date.
    pub decision_date: Option<String>,
    /// The scope, described without identifiers.
    pub scope: String,
    /// SHA-256 of the decision document.
    pub document_sha256: Option<String>,
    /// State.
    pub state: &'static str,
    /// Registered by.
    pub registered_by: String,
    /// When.
    pub registered_at: String,
    /// Approved or rejected by.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Recordings in scope.
    pub recordings: u64,
    /// Of which destroyed.
    pub destroyed: u64,
}

pub(super) fn t(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<&DeletionOrderRow> for DeletionOrderView {
    fn from(r: &DeletionOrderRow) -> Self {
        let o = &r.order;
        Self {
            id: o.id.clone(),
            kind: o.kind.as_str(),
            care_provider: o.care_provider.to_string(),
            reference: o.reference.clone(),
            decision_date: o.decision_date.clone(),
            scope: o.scope.clone(),
            document_sha256: o.document_sha256.map(hex::encode),
            state: r.state.as_str(),
            registered_by: o.registered_by.clone(),
            registered_at: t(o.registered_at),
            decided_by: r.decision.as_ref().map(|d| d.0.clone()),
            decided_at: r.decision.as_ref().map(|d| t(d.1)),
            recordings: r.items,
            destroyed: r.shredded,
        }
    }
}

fn new_id(prefix: &str) -> Result<String, VaultError> {
    let mut b = [0u8; 8];
    callvault_crypto::random_bytes(&mut b)?;
    Ok(format!("{prefix}-{}", hex::encode(b)))
}

fn invalid(e: String) -> VaultError {
    VaultError::InvalidRequest(e)
}

impl Vault {
    pub(super) fn check_records(authz: &Authorized, cp: &CareProvider) -> Result<(), VaultError> {
        Self::check_decision(authz, Action::ManageRecords, cp)
    }

    /// Commits `event` with a mutation over `n` recordings and answers the receipt of `id`.
    pub(super) fn commit_covering(
        &self,
        event: AuditEvent,
        mutation: Mutation,
        id: String,
        n: usize,
    ) -> Result<RecordsReceipt, VaultError> {
        let leaf_index = self.commit_step(Change::new(event).with(mutation))?;
        Ok(RecordsReceipt {
            id,
            recordings: n as u64,
            leaf_index,
        })
    }

    fn seal_text(
        &self,
        cp: &CareProvider,
        context: &str,
        text: &str,
    ) -> Result<Vec<u8>, VaultError> {
        Ok(self
            .keys
            .seal_field(cp, FieldKind::FreeText, context.as_bytes(), text.as_bytes())?)
    }

    fn open_text(
        &self,
        read: &crate::access::ReadRecorded,
        context: &str,
        sealed: &[u8],
    ) -> Result<String, VaultError> {
        let b = self.open_recorded_text(read, context.as_bytes(), sealed)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The recordings of a scope at a care provider, and its description without
    /// identifiers.
    fn resolve(
        &self,
        cp: &CareProvider,
        scope: &Scope,
    ) -> Result<(Vec<RecordingId>, String), VaultError> {
        match scope {
            Scope::Recordings(ids) => {
                let mut set = BTreeSet::new();
                for id in ids {
                    let row = self
                        .catalog
                        .recording(id)?
                        .filter(|r| &r.rec.care_provider == cp)
                        .ok_or_else(|| {
                            VaultError::Refused(format!("no recording {id} at care provider {cp}"))
                        })?;
                    set.insert(row.rec.id);
                }
                Ok((
                    set.into_iter().collect(),
                    format!("{} named recordings", ids.len()),
                ))
            }
            Scope::Patient { patient, from, to } => {
                if let (Some(f), Some(t)) = (from, to)
                    && t <= f
                {
                    return Err(invalid("the period's end must be after its start".into()));
                }
                let (_, bidx) = self.seal_patient(cp, patient, b"scope")?;
                let mut ids: Vec<RecordingId> = self
                    .catalog
                    .recordings_by_patient(cp, &bidx)?
                    .into_iter()
                    .filter(|r| from.is_none_or(|f| r.rec.started_at >= f))
                    .filter(|r| to.is_none_or(|t| r.rec.started_at < t))
                    .map(|r| r.rec.id)
                    .collect();
                ids.sort();
                let period = match (from, to) {
                    (None, None) => "all time".to_owned(),
                    (f, t) => format!(
                        "{} .. {}",
                        f.map(t_fmt).unwrap_or_default(),
                        t.map(t_fmt).unwrap_or_default()
                    ),
                };
                Ok((
                    ids,
                    format!(
                        "recordings of patient #{} in {period}",
                        hex::encode(&bidx[..4])
                    ),
                ))
            }
        }
    }

    /// Sets a legal hold over the recordings of `scope` (no limit on how many). While it is
    /// in force no deletion order can destroy them.
    pub fn set_legal_hold(
        &self,
        authz: &Authorized,
        scope: &Scope,
        reason: &str,
        case_reference: &str,
    ) -> Result<RecordsReceipt, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let reason = check_text("reason", reason, MAX_TEXT).map_err(invalid)?;
        let case_reference = check_text("case_reference", case_reference, 200).map_err(invalid)?;
        let (ids, described) = self.resolve(&cp, scope)?;
        if ids.is_empty() {
            return Err(VaultError::Refused(format!(
                "the hold's scope ({described}) matches no recording"
            )));
        }
        let id = new_id("hold")?;
        let e = Self::decided_event(authz, EventAction::HoldSet)
            .detail("hold", &id)
            .detail("case_reference", &case_reference)
            .detail("scope", &described)
            .detail("recordings", ids.len())
            .detail(
                "reason_sha256",
                crate::governance::sha256_hex(reason.as_bytes()),
            );
        let hold = NewLegalHold {
            id: id.clone(),
            care_provider: cp.clone(),
            reason_sealed: self.seal_text(&cp, &format!("hold:{id}"), &reason)?,
            case_reference,
            set_by: e.actor.to_string(),
            set_at: e.time,
        };
        let n = ids.len();
        self.commit_covering(
            e,
            Mutation::SetLegalHold {
                hold: Box::new(hold),
                recordings: ids,
            },
            id,
            n,
        )
    }

    /// Releases a legal hold.
    pub fn release_legal_hold(
        &self,
        authz: &Authorized,
        id: &str,
        reason: &str,
    ) -> Result<RecordsReceipt, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let reason = check_text("reason", reason, MAX_TEXT).map_err(invalid)?;
        let hold = self
            .catalog
            .legal_holds(&cp, Some(id))?
            .pop()
            .ok_or_else(|| VaultError::Refused(format!("no legal hold {id} at {cp}")))?;
        let e = Self::decided_event(authz, EventAction::HoldRelease)
            .detail("hold", id)
            .detail(
                "reason_sha256",
                crate::governance::sha256_hex(reason.as_bytes()),
            );
        let (by, at) = (e.actor.to_string(), e.time);
        let leaf = self.commit_step(Change::new(e).with(Mutation::ReleaseLegalHold {
            id: id.to_owned(),
            by,
            at,
            reason_sealed: self.seal_text(&cp, &format!("hold-release:{id}"), &reason)?,
        }))?;
        Ok(RecordsReceipt {
            id: id.to_owned(),
            recordings: hold.recordings,
            leaf_index: leaf,
        })
    }

    /// The care provider's legal holds, reasons unsealed; the read is audited.
    pub fn legal_holds(&self, authz: &Authorized) -> Result<Vec<LegalHoldView>, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let read = self.record_sealed_read(
            &cp,
            Change::new(
                Self::decided_event(authz, EventAction::RecordsRead).detail("what", "legal-holds"),
            ),
        )?;
        let mut out = Vec::new();
        for h in self.catalog.legal_holds(&cp, None)? {
            out.push(self.hold_view(&read, &h)?);
        }
        Ok(out)
    }

    fn hold_view(
        &self,
        read: &crate::access::ReadRecorded,
        h: &LegalHoldRow,
    ) -> Result<LegalHoldView, VaultError> {
        let id = &h.hold.id;
        Ok(LegalHoldView {
            id: id.clone(),
            case_reference: h.hold.case_reference.clone(),
            reason: self.open_text(read, &format!("hold:{id}"), &h.hold.reason_sealed)?,
            recordings: h.recordings,
            set_by: h.hold.set_by.clone(),
            set_at: t(h.hold.set_at),
            released_by: h.released.as_ref().map(|r| r.0.clone()),
            released_at: h.released.as_ref().map(|r| t(r.1)),
            release_reason: h
                .released
                .as_ref()
                .map(|r| self.open_text(read, &format!("hold-release:{id}"), &r.2))
                .transpose()?,
        })
    }

    /// Recordings past their retention date (the first `limit` listed, all counted); the
    /// read is audited. Nothing is deleted: a purge is a separate, approved order.
    pub fn retention_report(
        &self,
        authz: &Authorized,
        limit: usize,
    ) -> Result<RetentionReport, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let e = Self::decided_event(authz, EventAction::RecordsRead).detail("what", "retention");
        let now = e.time;
        self.commit_step(Change::new(e))?;
        let (mut total, mut held, mut listed) = (0u64, 0u64, Vec::new());
        self.each_past_retention(&cp, now, |r| {
            total += 1;
            held += u64::from(r.legal_hold);
            if listed.len() < limit {
                listed.push(PastRetention {
                    id: r.rec.id.to_string(),
                    care_unit: r.rec.care_unit.to_string(),
                    started_at: t(r.rec.started_at),
                    retention_until: t(r.rec.retention_until),
                    legal_hold: r.legal_hold,
                });
            }
        })?;
        Ok(RetentionReport {
            care_provider: cp.to_string(),
            generated_at: t(now),
            past_retention: total,
            held,
            recordings: listed,
        })
    }

    /// Registers an IVO decision: the document sealed, its SHA-256 recorded, the scope
    /// resolved to the recordings it orders destroyed (refused if it matches none). A second
    /// records manager must approve it before it can be executed.
    pub fn register_ivo_decision(
        &self,
        authz: &Authorized,
        d: &IvoDecision,
    ) -> Result<RecordsReceipt, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let case = check_text("case_number", &d.case_number, 100).map_err(invalid)?;
        if d.document.is_empty() {
            return Err(invalid("the decision document is empty".into()));
        }
        if d.document.len() > MAX_DOCUMENT_BYTES {
            return Err(invalid(format!(
                "the decision document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        let (ids, described) = self.resolve(&cp, &d.scope)?;
        if ids.is_empty() {
            return Err(VaultError::Refused(format!(
                "the decision's scope ({described}) matches no recording at {cp}"
            )));
        }
        let id = new_id("ivo")?;
        let sha = callvault_crypto::sha256(&d.document);
        let date = d.decision_date.to_string();
        let e = Self::decided_event(authz, EventAction::DeletionRegister)
            .detail("order", &id)
            .detail("kind", "ivo")
            .detail("ivo_case", &case)
            .detail("decision_date", &date)
            .detail("document_sha256", hex::encode(sha))
            .detail("scope", &described)
            .detail("recordings", ids.len());
        let order = NewDeletionOrder {
            id: id.clone(),
            kind: DeletionKind::Ivo,
            care_provider: cp.clone(),
            reference: case,
            decision_date: Some(date),
            scope: described,
            document_sealed: Some(self.keys.seal_field(
                &cp,
                FieldKind::FreeText,
                format!("ivo-document:{id}").as_bytes(),
                &d.document,
            )?),
            document_sha256: Some(sha),
            registered_by: e.actor.to_string(),
            registered_at: e.time,
        };
        let n = ids.len();
        self.commit_covering(
            e,
            Mutation::RegisterDeletion {
                order: Box::new(order),
                recordings: ids,
            },
            id,
            n,
        )
    }

    /// Registers a purge of the care provider's recordings past retention (those under
    /// legal hold are left out). Never automatic: a second records manager must approve it.
    pub fn register_retention_purge(
        &self,
        authz: &Authorized,
        reference: &str,
    ) -> Result<RecordsReceipt, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let reference = check_text("reference", reference, 100).map_err(invalid)?;
        let e = Self::decided_event(authz, EventAction::DeletionRegister);
        let now = e.time;
        let (mut ids, mut held) = (Vec::new(), 0u64);
        self.each_past_retention(&cp, now, |r| {
            if r.legal_hold {
                held += 1;
            } else {
                ids.push(r.rec.id);
            }
        })?;
        if ids.is_empty() {
            return Err(VaultError::Refused(format!(
                "no recording of {cp} is past its retention date and free of legal holds"
            )));
        }
        let id = new_id("purge")?;
        let described = format!("recordings past retention at {}", t(now));
        let e = e
            .detail("order", &id)
            .detail("kind", "retention")
            .detail("reference", &reference)
            .detail("scope", &described)
            .detail("recordings", ids.len())
            .detail("left_under_hold", held);
        let order = NewDeletionOrder {
            id: id.clone(),
            kind: DeletionKind::Retention,
            care_provider: cp,
            reference,
            decision_date: None,
            scope: described,
            document_sealed: None,
            document_sha256: None,
            registered_by: e.actor.to_string(),
            registered_at: now,
        };
        let n = ids.len();
        self.commit_covering(
            e,
            Mutation::RegisterDeletion {
                order: Box::new(order),
                recordings: ids,
            },
            id,
            n,
        )
    }

    /// Visits every recording of `cp` past its retention date at `now`, a page at a time.
    fn each_past_retention(
        &self,
        cp: &CareProvider,
        now: OffsetDateTime,
        mut f: impl FnMut(&callvault_catalog::RecordingRow),
    ) -> Result<(), VaultError> {
        let mut after = None;
        loop {
            let page = self
                .catalog
                .recordings_past_retention(cp, now, after.as_ref(), 1000)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.rec.id);
            page.iter().for_each(&mut f);
        }
    }

    pub(super) fn load_order(
        &self,
        cp: &CareProvider,
        id: &str,
    ) -> Result<DeletionOrderRow, VaultError> {
        self.catalog
            .deletion_orders(Some(cp), Some(id), None)?
            .pop()
            .ok_or_else(|| VaultError::NoSuchOrder(id.to_owned()))
    }

    /// The care provider an order belongs to (what the policy decides on).
    pub fn deletion_order_care_provider(
        &self,
        id: &str,
    ) -> Result<Option<CareProvider>, VaultError> {
        Ok(self
            .catalog
            .deletion_orders(None, Some(id), None)?
            .pop()
            .map(|o| o.order.care_provider))
    }

    /// Approves or rejects a registered order; never by the person who registered it.
    pub fn decide_deletion(
        &self,
        authz: &Authorized,
        id: &str,
        approve: bool,
        comment: Option<&str>,
    ) -> Result<RecordsReceipt, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let order = self.load_order(&cp, id)?;
        let comment = comment
            .map(|c| check_text("comment", c, MAX_TEXT))
            .transpose()
            .map_err(invalid)?;
        let e = Self::decided_event(
            authz,
            if approve {
                EventAction::DeletionApprove
            } else {
                EventAction::DeletionReject
            },
        )
        .detail("order", id);
        let me = e.actor.to_string();
        if order.state != DeletionState::Registered {
            return Err(VaultError::Refused(format!(
                "deletion order {id} is {}, not awaiting a decision",
                order.state.as_str()
            )));
        }
        if me == order.order.registered_by {
            return Err(VaultError::FourEyes(format!(
                "deletion order {id} was registered by you; a second person must decide it"
            )));
        }
        let at = e.time;
        let leaf = self.commit_step(Change::new(e).with(Mutation::DecideDeletion {
            id: id.to_owned(),
            approve,
            by: me,
            at,
            comment,
        }))?;
        Ok(RecordsReceipt {
            id: id.to_owned(),
            recordings: order.items,
            leaf_index: leaf,
        })
    }

    /// The care provider's deletion orders; the read is audited.
    pub fn deletion_orders(
        &self,
        authz: &Authorized,
    ) -> Result<Vec<DeletionOrderView>, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        self.commit_step(Change::new(
            Self::decided_event(authz, EventAction::RecordsRead).detail("what", "deletion-orders"),
        ))?;
        Ok(self
            .catalog
            .deletion_orders(Some(&cp), None, None)?
            .iter()
            .map(DeletionOrderView::from)
            .collect())
    }

    /// The decision document of an IVO order, unsealed for a records manager of its care
    /// provider; the read is audited.
    pub fn decision_document(&self, authz: &Authorized, id: &str) -> Result<Vec<u8>, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let order = self.load_order(&cp, id)?;
        let (Some(sealed), Some(sha)) = (&order.order.document_sealed, order.order.document_sha256)
        else {
            return Err(VaultError::Refused(format!(
                "deletion order {id} is a {} order; it has no decision document",
                order.order.kind.as_str()
            )));
        };
        let read = self.record_sealed_read(
            &cp,
            Change::new(
                Self::decided_event(authz, EventAction::RecordsRead)
                    .detail("what", "decision-document")
                    .detail("order", id),
            ),
        )?;
        let doc =
            self.open_recorded_text(&read, format!("ivo-document:{id}").as_bytes(), sealed)?;
        if callvault_crypto::sha256(&doc) != sha {
            return Err(VaultError::DamagedRecord(format!(
                "the decision document of {id} does not match its recorded SHA-256"
            )));
        }
        Ok(doc.to_vec())
    }
}

fn t_fmt(x: OffsetDateTime) -> String {
    x.date().to_string()
}
