//! Log follow-up (logguppföljning): rules over a care provider's audit events in a period,
//! a reproducible random spot check, findings that a log reviewer judges justified or not,
//! and a report per run (HTML for reading and printing, CSV).
//!
//! Every step is a decision for the right `read-audit` under the purpose
//! *logguppföljning* and is itself audited: `followup.run` (the run and its findings in one
//! transaction), `followup.read`, `followup.review`. Findings name audit leaves, actors and
//! recordings, never a patient; a reviewer's comment may, so it is sealed under the care
//! provider's field key. Nobody judges a finding about their own access.

use std::collections::{HashMap, HashSet};

use callvault_audit::event::{Action as EventAction, AuditEvent};
use callvault_auth::{Action, Authorized, check_text};
use callvault_catalog::{Change, Finding, FindingReview, FollowUpRun, Mutation, Verdict};
use callvault_reporting::clock::rfc3339;
use callvault_reporting::followup::{
    Evaluator, FindingView, FollowUpReport, FollowUpSettings, Lookup, RunView,
};
use callvault_types::{CareProvider, CareUnit, PatientId, RecordingId};
use time::{Duration, OffsetDateTime};

use crate::{Vault, VaultError};

/// Longest period one run covers.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// Longest reviewer's comment, in characters.
pub const MAX_COMMENT: usize = 2000;

/// A run to make.
#[derive(Clone, Debug)]
pub struct FollowUpRequest {
    /// Period start (inclusive).
    pub from: OffsetDateTime,
    /// Period end (exclusive).
    pub to: OffsetDateTime,
    /// Rule settings; the configured ones (`[follow_up]`) when absent.
    pub settings: Option<FollowUpSettings>,
    /// Seed of the spot check, to repeat an earlier draw; random when absent.
    pub seed: Option<[u8; 32]>,
}

struct CatalogLookup<'a> {
    vault: &'a Vault,
    assignments: HashMap<String, Option<Vec<CareUnit>>>,
    recordings: HashMap<RecordingId, Option<Known>>,
}

/// What follow-up needs of a recording: its care unit and its current patient's blind
/// index (`None` while unlinked).
type Known = (CareUnit, Option<[u8; 32]>);

impl CatalogLookup<'_> {
    fn recording(&mut self, id: &RecordingId) -> Option<Known> {
        let v = self.vault;
        self.recordings
            .entry(*id)
            .or_insert_with(|| {
                v.catalog
                    .recording(id)
                    .ok()
                    .flatten()
                    .map(|r| (r.rec.care_unit, r.rec.patient.map(|p| p.1)))
            })
            .clone()
    }
}

impl Lookup for CatalogLookup<'_> {
    fn assignment_units(&mut self, id: &str) -> Option<Vec<CareUnit>> {
        let v = self.vault;
        self.assignments
            .entry(id.to_owned())
            .or_insert_with(|| {
                v.catalog
                    .assignment(id)
                    .ok()
                    .flatten()
                    .map(|a| a.assignment.care_units)
            })
            .clone()
    }
    fn recording_unit(&mut self, id: &RecordingId) -> Option<CareUnit> {
        self.recording(id).map(|r| r.0)
    }
    fn recording_patient(&mut self, id: &RecordingId) -> Option<[u8; 32]> {
        self.recording(id).and_then(|r| r.1)
    }
}

fn comment_context(run: &str, n: u32) -> String {
    format!("followup-comment:{run}:{n}")
}

fn new_run_id() -> Result<String, VaultError> {
    let mut b = [0u8; 8];
    callvault_crypto::random_bytes(&mut b)?;
    Ok(format!("fu-{}", hex::encode(b)))
}

impl Vault {
    fn check_review(authz: &Authorized) -> Result<CareProvider, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ReadAudit, &cp)?;
        Ok(cp)
    }

    /// The configured rule settings (`[follow_up]`).
    pub fn follow_up_settings(&self) -> &FollowUpSettings {
        &self.config.follow_up
    }

    /// Runs the follow-up rules over the decision's care provider's audit events in the
    /// period and records the run, its findings and its `followup.run` event in one
    /// transaction.
    pub fn run_follow_up(
        &self,
        authz: &Authorized,
        req: FollowUpRequest,
    ) -> Result<FollowUpReport, VaultError> {
        let cp = Self::check_review(authz)?;
        if req.to <= req.from {
            return Err(VaultError::InvalidRequest(
                "the period's end must be after its start".into(),
            ));
        }
        if req.to - req.from > Duration::days(MAX_PERIOD_DAYS) {
            return Err(VaultError::InvalidRequest(format!(
                "a follow-up covers at most {MAX_PERIOD_DAYS} days"
            )));
        }
        let settings = req
            .settings
            .unwrap_or_else(|| self.config.follow_up.clone());
        let rules = settings.check().map_err(VaultError::InvalidRequest)?;
        let seed = match req.seed {
            Some(s) => s,
            None => {
                let mut s = [0u8; 32];
                callvault_crypto::random_bytes(&mut s)?;
                s
            }
        };
        let protected: HashSet<[u8; 32]> =
            self.catalog.protected_patients(&cp)?.into_iter().collect();
        let personal: HashMap<_, _> = self.catalog.user_personal_ids(&cp)?.into_iter().collect();
        let audit_size = self.catalog.audit_size()?;
        let mut eval = Evaluator::new(&rules, protected, personal, seed);
        let mut lookup = CatalogLookup {
            vault: self,
            assignments: HashMap::new(),
            recordings: HashMap::new(),
        };
        let mut bad = None;
        self.catalog
            .for_each_audit_leaf_in_time(req.from, req.to, &mut |idx, data, _| {
                // Past the size read at the start, or pruned (beyond the log's retention).
                if idx >= audit_size || data.is_empty() {
                    return Ok(());
                }
                match AuditEvent::decode(data) {
                    Ok(e) if e.care_provider.as_ref() == Some(&cp) => {
                        eval.feed(idx, &e, &mut lookup)
                    }
                    Ok(_) => {}
                    Err(err) => {
                        bad.get_or_insert(VaultError::BadEvent {
                            index: idx,
                            source: err,
                        });
                    }
                }
                Ok(())
            })?;
        if let Some(b) = bad {
            return Err(b);
        }
        let checked = eval.checked();
        let findings: Vec<Finding> = eval
            .finish()
            .into_iter()
            .enumerate()
            .map(|(i, f)| Finding {
                n: i as u32 + 1,
                rule: f.rule.to_owned(),
                leaf_index: f.leaf_index,
                time: f.time,
                actor: f.actor,
                summary: f.summary,
                review: None,
            })
            .collect();
        let settings_json = serde_json::to_string(rules.settings())?;
        let event = Self::decided_event(authz, EventAction::FollowUpRun);
        let run = FollowUpRun {
            id: new_run_id()?,
            care_provider: cp,
            from: req.from,
            to: req.to,
            settings: settings_json,
            seed,
            audit_size,
            events_checked: checked,
            run_by: event.actor.to_string(),
            run_at: event.time,
        };
        let event = event
            .detail("run", &run.id)
            .detail("from", rfc3339(run.from))
            .detail("to", rfc3339(run.to))
            .detail("events_checked", checked)
            .detail("findings", findings.len())
            .detail("seed", hex::encode(seed))
            .detail("audit_size", audit_size);
        let read = self.record_sealed_read(
            &run.care_provider,
            Change::new(event).with(Mutation::InsertFollowUp {
                run: Box::new(run.clone()),
                findings: findings.clone(),
            }),
        )?;
        self.report_of(&read, &run, findings)
    }

    /// The decision's care provider's runs, oldest first (audited as `followup.read`).
    pub fn follow_up_runs(&self, authz: &Authorized) -> Result<Vec<RunView>, VaultError> {
        let cp = Self::check_review(authz)?;
        let runs = self.catalog.followup_runs(&cp, None)?;
        let mut out = Vec::with_capacity(runs.len());
        for r in &runs {
            let f = self.catalog.followup_findings(&r.id)?;
            out.push(RunView::new(r, &f));
        }
        let e = Self::decided_event(authz, EventAction::FollowUpRead).detail("what", "runs");
        self.commit_step(Change::new(e))?;
        Ok(out)
    }

    fn run_of(&self, cp: &CareProvider, id: &str) -> Result<FollowUpRun, VaultError> {
        self.catalog
            .followup_runs(cp, Some(id))?
            .into_iter()
            .next()
            .ok_or_else(|| VaultError::NoSuch(format!("follow-up run {id}")))
    }

    /// One run with its findings and reviews (comments unsealed), audited as
    /// `followup.read` with the format it is read in.
    pub fn follow_up(
        &self,
        authz: &Authorized,
        id: &str,
        format: &str,
    ) -> Result<FollowUpReport, VaultError> {
        let cp = Self::check_review(authz)?;
        let run = self.run_of(&cp, id)?;
        let findings = self.catalog.followup_findings(id)?;
        let e = Self::decided_event(authz, EventAction::FollowUpRead)
            .detail("run", id)
            .detail("format", format);
        let read = self.record_sealed_read(&cp, Change::new(e))?;
        self.report_of(&read, &run, findings)
    }

    fn report_of(
        &self,
        read: &crate::access::ReadRecorded,
        run: &FollowUpRun,
        findings: Vec<Finding>,
    ) -> Result<FollowUpReport, VaultError> {
        let cp = &run.care_provider;
        let mut names = HashMap::new();
        for u in self.catalog.users(Some(cp))? {
            names.insert(format!("person:{}", u.hsa_id), (u.name, u.title));
        }
        let mut views = Vec::with_capacity(findings.len());
        for f in &findings {
            let comment = match &f.review {
                Some(r) if !r.comment_sealed.is_empty() => {
                    let b = self.open_recorded_text(
                        read,
                        comment_context(&run.id, f.n).as_bytes(),
                        &r.comment_sealed,
                    )?;
                    Some(String::from_utf8_lossy(&b).into_owned())
                }
                _ => None,
            };
            views.push(FindingView::new(f, names.get(&f.actor), comment));
        }
        Ok(FollowUpReport {
            run: RunView::new(run, &findings),
            findings: views,
        })
    }

    /// Records a reviewer's judgement of finding `n` of a run (`followup.review`). A
    /// finding about the reviewer's own access is refused. A later review replaces the
    /// finding's current one; every review stays in the audit log.
    pub fn review_finding(
        &self,
        authz: &Authorized,
        run_id: &str,
        n: u32,
        verdict: Verdict,
        comment: &str,
    ) -> Result<u64, VaultError> {
        let cp = Self::check_review(authz)?;
        let run = self.run_of(&cp, run_id)?;
        let comment =
            check_text("comment", comment, MAX_COMMENT).map_err(VaultError::InvalidRequest)?;
        let findings = self.catalog.followup_findings(&run.id)?;
        let f = findings
            .iter()
            .find(|f| f.n == n)
            .ok_or_else(|| VaultError::NoSuch(format!("finding {n} in follow-up run {run_id}")))?;
        let event = Self::decided_event(authz, EventAction::FollowUpReview);
        let by = event.actor.to_string();
        if f.actor == by {
            return Err(VaultError::FourEyes(
                "nobody reviews a finding about their own access".into(),
            ));
        }
        let sealed = self.keys.seal_field(
            &cp,
            callvault_crypto::FieldKind::FreeText,
            comment_context(&run.id, n).as_bytes(),
            comment.as_bytes(),
        )?;
        let event = event
            .detail("run", &run.id)
            .detail("finding", n)
            .detail("rule", &f.rule)
            .detail("finding_leaf", f.leaf_index)
            .detail("verdict", verdict.as_str());
        let review = FindingReview {
            verdict,
            comment_sealed: sealed,
            by,
            at: event.time,
        };
        self.commit_step(Change::new(event).with(Mutation::ReviewFinding {
            run_id: run.id.clone(),
            n,
            review,
        }))
    }

    /// Marks a patient of the decision's care provider as having protected identity
    /// (skyddade personuppgifter), or lifts the mark; records managers
    /// (`patient.protect`). Only the patient's blind index is stored.
    pub fn mark_protected(
        &self,
        authz: &Authorized,
        patient: &PatientId,
        protected: bool,
        reference: &str,
    ) -> Result<u64, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ManageRecords, &cp)?;
        let reference =
            check_text("reference", reference, 200).map_err(VaultError::InvalidRequest)?;
        let (_, bidx) = self.seal_patient(&cp, patient, b"protected")?;
        let mut event = Self::decided_event(authz, EventAction::PatientProtect)
            .detail("protected", protected)
            .detail("reference", &reference);
        event.patient = Some(callvault_audit::event::SealedPatient {
            sealed: self
                .seal_patient(&cp, patient, crate::vault::AUDIT_SEAL_CONTEXT)?
                .0,
            blind_index: bidx,
        });
        let by = event.actor.to_string();
        let at = event.time;
        self.commit_step(Change::new(event).with(Mutation::MarkProtected {
            care_provider: cp,
            patient_bidx: bidx,
            protected,
            reference,
            by,
            at,
        }))
    }
}
