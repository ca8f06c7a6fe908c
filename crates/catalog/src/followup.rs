//! Log follow-up rows: patients with protected identity, employees' own personal identity
//! numbers (sealed and blind-indexed, never in clear), follow-up runs and their findings.
//!
//! A run and its findings are permanent; only a finding's review (verdict, sealed comment,
//! reviewer, time) changes, never by the person whose access the finding is about (a
//! `CHECK` in the schema, and again here).

use callvault_types::{CareProvider, HsaId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::CatalogError;
use crate::sqlite::{from_micros, micros};

fn corrupt(what: &str) -> CatalogError {
    CatalogError::Corrupt(what.to_owned())
}

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
    tx: &Connection,
    run: &FollowUpRun,
    findings: &[Finding],
) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT INTO followup_runs (id, care_provider, period_from_us, period_to_us, settings,
           seed, audit_size, events_checked, run_by, run_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            run.id,
            run.care_provider.as_str(),
            micros(run.from),
            micros(run.to),
            run.settings,
            &run.seed[..],
            run.audit_size as i64,
            run.events_checked as i64,
            run.run_by,
            micros(run.run_at),
        ],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO followup_findings (run_id, n, rule, leaf_index, time_us, actor, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for f in findings {
        if f.review.is_some() {
            return Err(CatalogError::Conflict(
                "a new finding cannot carry a review".into(),
            ));
        }
        stmt.execute(params![
            run.id,
            f.n,
            f.rule,
            f.leaf_index as i64,
            micros(f.time),
            f.actor,
            f.summary
        ])?;
    }
    Ok(())
}

pub(crate) fn review(
    tx: &Connection,
    run_id: &str,
    n: u32,
    r: &FindingReview,
) -> Result<(), CatalogError> {
    let actor: Option<String> = tx
        .query_row(
            "SELECT actor FROM followup_findings WHERE run_id = ?1 AND n = ?2",
            params![run_id, n],
            |row| row.get(0),
        )
        .optional()?;
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
        params![
            run_id,
            n,
            r.verdict.as_str(),
            r.comment_sealed,
            r.by,
            micros(r.at)
        ],
    )?;
    Ok(())
}

fn run_from_row(r: &Row<'_>) -> Result<FollowUpRun, CatalogError> {
    let seed: Vec<u8> = r.get(5)?;
    Ok(FollowUpRun {
        id: r.get(0)?,
        care_provider: CareProvider::parse(&r.get::<_, String>(1)?)
            .map_err(|_| corrupt("follow-up care provider"))?,
        from: from_micros(r.get(2)?)?,
        to: from_micros(r.get(3)?)?,
        settings: r.get(4)?,
        seed: seed.try_into().map_err(|_| corrupt("follow-up seed"))?,
        audit_size: r.get::<_, i64>(6)? as u64,
        events_checked: r.get::<_, i64>(7)? as u64,
        run_by: r.get(8)?,
        run_at: from_micros(r.get(9)?)?,
    })
}

pub(crate) fn runs(
    c: &Connection,
    cp: &CareProvider,
    id: Option<&str>,
) -> Result<Vec<FollowUpRun>, CatalogError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, care_provider, period_from_us, period_to_us, settings, seed, audit_size,
           events_checked, run_by, run_at_us
         FROM followup_runs WHERE care_provider = ?1 AND (?2 IS NULL OR id = ?2)
         ORDER BY run_at_us, id",
    )?;
    let mut rows = stmt.query(params![cp.as_str(), id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(run_from_row(r)?);
    }
    Ok(out)
}

pub(crate) fn findings(c: &Connection, run_id: &str) -> Result<Vec<Finding>, CatalogError> {
    let mut stmt = c.prepare_cached(
        "SELECT n, rule, leaf_index, time_us, actor, summary, verdict, comment_sealed,
           reviewed_by, reviewed_at_us
         FROM followup_findings WHERE run_id = ?1 ORDER BY n",
    )?;
    let mut rows = stmt.query([run_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let verdict: Option<String> = r.get(6)?;
        let review = match verdict {
            None => None,
            Some(v) => Some(FindingReview {
                verdict: Verdict::parse(&v).ok_or_else(|| corrupt("finding verdict"))?,
                comment_sealed: r.get::<_, Option<Vec<u8>>>(7)?.unwrap_or_default(),
                by: r
                    .get::<_, Option<String>>(8)?
                    .ok_or_else(|| corrupt("finding reviewer"))?,
                at: from_micros(
                    r.get::<_, Option<i64>>(9)?
                        .ok_or_else(|| corrupt("finding review time"))?,
                )?,
            }),
        };
        out.push(Finding {
            n: r.get(0)?,
            rule: r.get(1)?,
            leaf_index: r.get::<_, i64>(2)? as u64,
            time: from_micros(r.get(3)?)?,
            actor: r.get(4)?,
            summary: r.get(5)?,
            review,
        });
    }
    Ok(out)
}

pub(crate) fn mark_protected(
    tx: &Connection,
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
            params![cp.as_str(), &bidx[..], reference, by, micros(at)],
        )?;
    } else {
        let n = tx.execute(
            "DELETE FROM protected_patients WHERE care_provider = ?1 AND patient_bidx = ?2",
            params![cp.as_str(), &bidx[..]],
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
    c: &Connection,
    cp: &CareProvider,
) -> Result<Vec<[u8; 32]>, CatalogError> {
    let mut stmt =
        c.prepare_cached("SELECT patient_bidx FROM protected_patients WHERE care_provider = ?1")?;
    let mut rows = stmt.query([cp.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let b: Vec<u8> = r.get(0)?;
        out.push(
            b.try_into()
                .map_err(|_| corrupt("protected patient index"))?,
        );
    }
    Ok(out)
}

pub(crate) fn set_personal_id(
    tx: &Connection,
    hsa: &HsaId,
    sealed: &[u8],
    bidx: &[u8; 32],
) -> Result<(), CatalogError> {
    let n = tx.execute(
        "UPDATE users SET personal_id_sealed = ?2, personal_id_bidx = ?3 WHERE hsa_id = ?1",
        params![hsa.as_str(), sealed, &bidx[..]],
    )?;
    if n == 0 {
        return Err(CatalogError::Conflict(format!(
            "user {hsa} is not registered"
        )));
    }
    Ok(())
}

pub(crate) fn personal_ids(
    c: &Connection,
    cp: &CareProvider,
) -> Result<Vec<(HsaId, [u8; 32])>, CatalogError> {
    let mut stmt = c.prepare_cached(
        "SELECT hsa_id, personal_id_bidx FROM users
         WHERE care_provider = ?1 AND personal_id_bidx IS NOT NULL ORDER BY hsa_id",
    )?;
    let mut rows = stmt.query([cp.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let h = HsaId::parse(&r.get::<_, String>(0)?).map_err(|_| corrupt("user HSA-ID"))?;
        let b: Vec<u8> = r.get(1)?;
        out.push((
            h,
            b.try_into()
                .map_err(|_| corrupt("user personal id index"))?,
        ));
    }
    Ok(out)
}
