//! Log follow-up rows: patients with protected identity, employees' own personal identity
//! numbers (sealed and blind-indexed, never in clear), follow-up runs and their findings.
//!
//! A run and its findings are permanent; only a finding's review (verdict, sealed comment,
//! reviewer, time) changes, never by the person whose access the finding is about (a
//! `CHECK` in the schema, and again here).

use callvault_types::{CareProvider, HsaId};
use time::OffsetDateTime;

use crate::CatalogError;
use crate::error::corrupt;
use crate::sql::{Row, Sql, SqlExt, p};
use crate::sqlite::{from_micros, micros};

/// A reviewer's judgement of a finding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// The access had a legitimate reason.
    Justified,
    /// The access had no legitimate reason: to be acted on.
    Unjustified,
}

impl Verdict {
    /// Stored and API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Justified => "justified",
            Self::Unjustified => "unjustified",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "justified" => Some(Self::Justified),
            "unjustified" => Some(Self::Unjustified),
            _ => None,
        }
    }
}

/// A follow-up run as recorded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FollowUpRun {
    /// Id.
    pub id: String,
    /// Care provider whose log was followed up.
    pub care_provider: CareProvider,
    /// Period start (inclusive).
    pub from: OffsetDateTime,
    /// Period end (exclusive).
    pub to: OffsetDateTime,
    /// The rule settings used (JSON), so the run can be reproduced.
    pub settings: String,
    /// Seed of the random spot check.
    pub seed: [u8; 32],
    /// Audit log size when the run read it.
    pub audit_size: u64,
    /// Events of the care provider in the period that the rules looked at.
    pub events_checked: u64,
    /// Who ran it (audit actor).
    pub run_by: String,
    /// When.
    pub run_at: OffsetDateTime,
}

/// One finding of a run, with its review if any.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Finding {
    /// Number within the run (1-based).
    pub n: u32,
    /// Rule code.
    pub rule: String,
    /// Leaf index of the audit event found.
    pub leaf_index: u64,
    /// Time of that event.
    pub time: OffsetDateTime,
    /// Its actor (audit actor form).
    pub actor: String,
    /// What the rule saw, without patient data.
    pub summary: String,
    /// The review, once made.
    pub review: Option<FindingReview>,
}

/// A reviewer's judgement of a finding.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FindingReview {
    /// Justified or not.
    pub verdict: Verdict,
    /// Comment, sealed under the care provider's field key.
    pub comment_sealed: Vec<u8>,
    /// Reviewer (audit actor).
    pub by: String,
    /// When.
    pub at: OffsetDateTime,
}

pub(crate) fn insert_run(
    tx: &dyn Sql,
    run: &FollowUpRun,
    findings: &[Finding],
) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT INTO followup_runs (id, care_provider, period_from_us, period_to_us, settings,
           seed, audit_size, events_checked, run_by, run_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        p![
            &run.id,
            run.care_provider.as_str(),
            micros(run.from),
            micros(run.to),
            &run.settings,
            &run.seed,
            run.audit_size as i64,
            run.events_checked as i64,
            &run.run_by,
            micros(run.run_at),
        ],
    )?;
    for f in findings {
        if f.review.is_some() {
            return Err(CatalogError::Conflict(
                "a new finding cannot carry a review".into(),
            ));
        }
        tx.execute(
            "INSERT INTO followup_findings (run_id, n, rule, leaf_index, time_us, actor, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            p![
                &run.id,
                i64::from(f.n),
                &f.rule,
                f.leaf_index as i64,
                micros(f.time),
                &f.actor,
                &f.summary
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn review(
    tx: &dyn Sql,
    run_id: &str,
    n: u32,
    r: &FindingReview,
) -> Result<(), CatalogError> {
    let actor = tx.query_opt(
        "SELECT actor FROM followup_findings WHERE run_id = ?1 AND n = ?2",
        p![run_id, i64::from(n)],
        |row| row.text(0),
    )?;
    let Some(actor) = actor else {
        return Err(CatalogError::Conflict(format!(
            "run {run_id} has no finding {n}"
        )));
    };
    if actor == r.by {
        return Err(CatalogError::Conflict(
            "nobody reviews a finding about their own access".into(),
        ));
    }
    tx.execute(
        "UPDATE followup_findings SET verdict = ?3, comment_sealed = ?4, reviewed_by = ?5,
           reviewed_at_us = ?6 WHERE run_id = ?1 AND n = ?2",
        p![
            run_id,
            i64::from(n),
            r.verdict.as_str(),
            &r.comment_sealed,
            &r.by,
            micros(r.at)
        ],
    )?;
    Ok(())
}

fn run_from_row(r: &Row) -> Result<FollowUpRun, CatalogError> {
    Ok(FollowUpRun {
        id: r.text(0)?,
        care_provider: CareProvider::parse(&r.text(1)?)
            .map_err(|_| corrupt("follow-up care provider"))?,
        from: from_micros(r.i64(2)?)?,
        to: from_micros(r.i64(3)?)?,
        settings: r.text(4)?,
        seed: r
            .blob(5)?
            .try_into()
            .map_err(|_| corrupt("follow-up seed"))?,
        audit_size: r.i64(6)? as u64,
        events_checked: r.i64(7)? as u64,
        run_by: r.text(8)?,
        run_at: from_micros(r.i64(9)?)?,
    })
}

pub(crate) fn runs(
    c: &dyn Sql,
    cp: &CareProvider,
    id: Option<&str>,
) -> Result<Vec<FollowUpRun>, CatalogError> {
    c.query_vec(
        "SELECT id, care_provider, period_from_us, period_to_us, settings, seed, audit_size,
           events_checked, run_by, run_at_us
         FROM followup_runs WHERE care_provider = ?1 AND (?2 IS NULL OR id = ?2)
         ORDER BY run_at_us, id",
        p![cp.as_str(), id],
        run_from_row,
    )
}

pub(crate) fn findings(c: &dyn Sql, run_id: &str) -> Result<Vec<Finding>, CatalogError> {
    c.query_vec(
        "SELECT n, rule, leaf_index, time_us, actor, summary, verdict, comment_sealed,
           reviewed_by, reviewed_at_us
         FROM followup_findings WHERE run_id = ?1 ORDER BY n",
        p![run_id],
        |r| {
            let review = match r.opt_text(6)? {
                None => None,
                Some(v) => Some(FindingReview {
                    verdict: Verdict::parse(&v).ok_or_else(|| corrupt("finding verdict"))?,
                    comment_sealed: r.opt_blob(7)?.unwrap_or_default(),
                    by: r.opt_text(8)?.ok_or_else(|| corrupt("finding reviewer"))?,
                    at: from_micros(
                        r.opt_i64(9)?
                            .ok_or_else(|| corrupt("finding review time"))?,
                    )?,
                }),
            };
            Ok(Finding {
                n: u32::try_from(r.i64(0)?).map_err(|_| corrupt("finding number"))?,
                rule: r.text(1)?,
                leaf_index: r.i64(2)? as u64,
                time: from_micros(r.i64(3)?)?,
                actor: r.text(4)?,
                summary: r.text(5)?,
                review,
            })
        },
    )
}

pub(crate) fn mark_protected(
    tx: &dyn Sql,
    cp: &CareProvider,
    bidx: &[u8; 32],
    protected: bool,
    reference: &str,
    by: &str,
    at: OffsetDateTime,
) -> Result<(), CatalogError> {
    if protected {
        tx.execute(
            "INSERT INTO protected_patients (care_provider, patient_bidx, reference, marked_by, marked_at_us)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (care_provider, patient_bidx) DO UPDATE SET reference = excluded.reference,
               marked_by = excluded.marked_by, marked_at_us = excluded.marked_at_us",
            p![cp.as_str(), bidx, reference, by, micros(at)],
        )?;
    } else {
        let n = tx.execute(
            "DELETE FROM protected_patients WHERE care_provider = ?1 AND patient_bidx = ?2",
            p![cp.as_str(), bidx],
        )?;
        if n == 0 {
            return Err(CatalogError::Conflict(
                "the patient is not marked as protected".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn protected_patients(
    c: &dyn Sql,
    cp: &CareProvider,
) -> Result<Vec<[u8; 32]>, CatalogError> {
    c.query_vec(
        "SELECT patient_bidx FROM protected_patients WHERE care_provider = ?1",
        p![cp.as_str()],
        |r| {
            r.blob(0)?
                .try_into()
                .map_err(|_| corrupt("protected patient index"))
        },
    )
}

pub(crate) fn set_personal_id(
    tx: &dyn Sql,
    hsa: &HsaId,
    sealed: &[u8],
    bidx: &[u8; 32],
) -> Result<(), CatalogError> {
    let n = tx.execute(
        "UPDATE users SET personal_id_sealed = ?2, personal_id_bidx = ?3 WHERE hsa_id = ?1",
        p![hsa.as_str(), sealed, bidx],
    )?;
    if n == 0 {
        return Err(CatalogError::Conflict(format!(
            "user {hsa} is not registered"
        )));
    }
    Ok(())
}

pub(crate) fn personal_ids(
    c: &dyn Sql,
    cp: &CareProvider,
) -> Result<Vec<(HsaId, [u8; 32])>, CatalogError> {
    c.query_vec(
        "SELECT hsa_id, personal_id_bidx FROM users
         WHERE care_provider = ?1 AND personal_id_bidx IS NOT NULL ORDER BY hsa_id",
        p![cp.as_str()],
        |r| {
            let h = HsaId::parse(&r.text(0)?).map_err(|_| corrupt("user HSA-ID"))?;
            let b = r
                .blob(1)?
                .try_into()
                .map_err(|_| corrupt("user personal id index"))?;
            Ok((h, b))
        },
    )
}
