//! Governance rows: registered users and assignments with their four-eyes history.
//!
//! The catalog re-checks the four-eyes rule inside the transaction that records a decision
//! (and the schema backs it with a `CHECK` constraint), so two concurrent decisions, or a
//! decision racing a revocation, cannot both succeed, whatever the caller checked before.

use callvault_types::{CareProvider, CareUnit, HsaId};
use time::OffsetDateTime;

use crate::CatalogError;
use crate::error::corrupt;
use crate::sql::{Row, Sql, SqlExt, p};
use crate::sqlite::{from_micros, micros};

/// A registered user (a person who may hold assignments).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserRow {
    /// HSA-ID.
    pub hsa_id: HsaId,
    /// Name.
    pub name: String,
    /// Title (e.g. "Sjuksköterska").
    pub title: String,
    /// Employing care provider.
    pub care_provider: CareProvider,
    /// When registered.
    pub registered_at: OffsetDateTime,
    /// Who registered the user (an audit actor, e.g. `person:SE…`).
    pub registered_by: String,
}

/// Where an assignment came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AssignmentOrigin {
    /// Requested by a privilege administrator.
    Request,
    /// Requested by importing an assignment file (its SHA-256, hex).
    Import(String),
    /// One of a care provider's first two administrators, installed by an operator.
    Bootstrap,
}

impl AssignmentOrigin {
    fn to_db(&self) -> String {
        match self {
            Self::Request => "request".into(),
            Self::Import(sha) => format!("import:{sha}"),
            Self::Bootstrap => "bootstrap".into(),
        }
    }
    fn from_db(s: &str) -> Option<Self> {
        match s {
            "request" => Some(Self::Request),
            "bootstrap" => Some(Self::Bootstrap),
            _ => s
                .strip_prefix("import:")
                .map(|sha| Self::Import(sha.to_owned())),
        }
    }
}

/// Lifecycle of an assignment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AssignmentState {
    /// Awaiting a second administrator's decision.
    Requested,
    /// Approved: in force between its validity dates unless revoked.
    Approved,
    /// Rejected.
    Rejected,
    /// Revoked after approval.
    Revoked,
}

impl AssignmentState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "requested" => Some(Self::Requested),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// An assignment as requested.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAssignment {
    /// Id (unique for ever: rejected and revoked ids are not reused).
    pub id: String,
    /// Holder.
    pub holder: HsaId,
    /// Care provider.
    pub care_provider: CareProvider,
    /// Own care units.
    pub care_units: Vec<CareUnit>,
    /// Purpose (canonical Swedish name).
    pub purpose: String,
    /// Rights (their names).
    pub rights: Vec<String>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity (exclusive).
    pub valid_until: OffsetDateTime,
    /// Why it is needed (about the work, never about patients).
    pub justification: String,
    /// Where it came from.
    pub origin: AssignmentOrigin,
    /// Who requested it (audit actor).
    pub requested_by: String,
    /// When.
    pub requested_at: OffsetDateTime,
}

/// A decision on, or the revocation of, an assignment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AssignmentDecision {
    /// By whom (audit actor).
    pub by: String,
    /// When.
    pub at: OffsetDateTime,
    /// Comment or reason.
    pub comment: Option<String>,
}

/// A stored assignment with its history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AssignmentRow {
    /// As requested.
    pub assignment: NewAssignment,
    /// Current state.
    pub state: AssignmentState,
    /// Approval or rejection.
    pub decision: Option<AssignmentDecision>,
    /// Revocation.
    pub revocation: Option<AssignmentDecision>,
}

const USER_COLUMNS: &str = "hsa_id, name, title, care_provider, registered_at_us, registered_by";
const ASSIGNMENT_COLUMNS: &str = "id, holder, care_provider, care_units, purpose, rights,
    valid_from_us, valid_until_us, justification, origin, state, requested_by, requested_at_us,
    decided_by, decided_at_us, decision_comment, revoked_by, revoked_at_us, revoke_reason";

fn user_from_row(r: &Row) -> Result<UserRow, CatalogError> {
    Ok(UserRow {
        hsa_id: HsaId::parse(&r.text(0)?).map_err(|_| corrupt("user HSA-ID"))?,
        name: r.text(1)?,
        title: r.text(2)?,
        care_provider: CareProvider::parse(&r.text(3)?)
            .map_err(|_| corrupt("user care provider"))?,
        registered_at: from_micros(r.i64(4)?)?,
        registered_by: r.text(5)?,
    })
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|x| !x.is_empty())
}

fn assignment_from_row(r: &Row) -> Result<AssignmentRow, CatalogError> {
    let decision = |by: Option<String>, at: Option<i64>, comment: Option<String>| {
        Ok::<_, CatalogError>(match (by, at) {
            (Some(by), Some(at)) => Some(AssignmentDecision {
                by,
                at: from_micros(at)?,
                comment,
            }),
            (None, None) => None,
            _ => return Err(corrupt("assignment decision")),
        })
    };
    let mut care_units = Vec::new();
    for u in split(&r.text(3)?) {
        care_units.push(CareUnit::parse(u).map_err(|_| corrupt("assignment care unit"))?);
    }
    Ok(AssignmentRow {
        assignment: NewAssignment {
            id: r.text(0)?,
            holder: HsaId::parse(&r.text(1)?).map_err(|_| corrupt("assignment holder"))?,
            care_provider: CareProvider::parse(&r.text(2)?)
                .map_err(|_| corrupt("assignment care provider"))?,
            care_units,
            purpose: r.text(4)?,
            rights: split(&r.text(5)?).map(str::to_owned).collect(),
            valid_from: from_micros(r.i64(6)?)?,
            valid_until: from_micros(r.i64(7)?)?,
            justification: r.text(8)?,
            origin: AssignmentOrigin::from_db(&r.text(9)?)
                .ok_or_else(|| corrupt("assignment origin"))?,
            requested_by: r.text(11)?,
            requested_at: from_micros(r.i64(12)?)?,
        },
        state: AssignmentState::parse(&r.text(10)?).ok_or_else(|| corrupt("assignment state"))?,
        decision: decision(r.opt_text(13)?, r.opt_i64(14)?, r.opt_text(15)?)?,
        revocation: decision(r.opt_text(16)?, r.opt_i64(17)?, r.opt_text(18)?)?,
    })
}

pub(crate) fn register_user(tx: &dyn Sql, u: &UserRow) -> Result<(), CatalogError> {
    let n = tx.execute(
        &format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"
        ),
        p![
            u.hsa_id.as_str(),
            &u.name,
            &u.title,
            u.care_provider.as_str(),
            micros(u.registered_at),
            &u.registered_by
        ],
    )?;
    if n == 0 {
        return Err(CatalogError::Conflict(format!(
            "user {} is already registered",
            u.hsa_id
        )));
    }
    Ok(())
}

pub(crate) fn insert_assignment(
    tx: &dyn Sql,
    a: &NewAssignment,
    approved: Option<&AssignmentDecision>,
) -> Result<(), CatalogError> {
    if approved.is_some() != (a.origin == AssignmentOrigin::Bootstrap) {
        return Err(CatalogError::Conflict(
            "only the bootstrap of a care provider's first administrators is approved without a second person".into(),
        ));
    }
    let registered = tx
        .query_opt(
            "SELECT hsa_id FROM users WHERE hsa_id = ?1",
            p![a.holder.as_str()],
            |_| Ok(()),
        )?
        .is_some();
    if !registered {
        return Err(CatalogError::Conflict(format!(
            "{} is not a registered user; register the user first",
            a.holder
        )));
    }
    let units: Vec<&str> = a.care_units.iter().map(CareUnit::as_str).collect();
    let (units, rights, origin) = (units.join(","), a.rights.join(","), a.origin.to_db());
    let n = tx.execute(
        "INSERT INTO assignments (id, holder, care_provider, care_units, purpose, rights,
           valid_from_us, valid_until_us, justification, origin, state, requested_by,
           requested_at_us, decided_by, decided_at_us, decision_comment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT DO NOTHING",
        p![
            &a.id,
            a.holder.as_str(),
            a.care_provider.as_str(),
            &units,
            &a.purpose,
            &rights,
            micros(a.valid_from),
            micros(a.valid_until),
            &a.justification,
            &origin,
            if approved.is_some() {
                "approved"
            } else {
                "requested"
            },
            &a.requested_by,
            micros(a.requested_at),
            approved.map(|d| d.by.as_str()),
            approved.map(|d| micros(d.at)),
            approved.and_then(|d| d.comment.as_deref()),
        ],
    )?;
    if n == 0 {
        return Err(CatalogError::Conflict(format!(
            "assignment id {} is already used",
            a.id
        )));
    }
    Ok(())
}

fn load(tx: &dyn Sql, id: &str) -> Result<AssignmentRow, CatalogError> {
    assignment(tx, id)?.ok_or_else(|| CatalogError::Conflict(format!("no assignment {id}")))
}

/// Approves or rejects a request: only while it is requested, and never by its requester or
/// its holder.
pub(crate) fn decide(
    tx: &dyn Sql,
    id: &str,
    approve: bool,
    d: &AssignmentDecision,
) -> Result<(), CatalogError> {
    let row = load(tx, id)?;
    if row.state != AssignmentState::Requested {
        return Err(CatalogError::Conflict(format!(
            "assignment {id} is {}, not awaiting a decision",
            row.state.as_str()
        )));
    }
    if d.by == row.assignment.requested_by {
        return Err(CatalogError::Conflict(format!(
            "assignment {id} was requested by you; a different administrator must decide it"
        )));
    }
    if d.by == format!("person:{}", row.assignment.holder) {
        return Err(CatalogError::Conflict(format!(
            "assignment {id} is for you; nobody decides on their own access"
        )));
    }
    tx.execute(
        "UPDATE assignments SET state = ?2, decided_by = ?3, decided_at_us = ?4, decision_comment = ?5
         WHERE id = ?1 AND state = 'requested'",
        p![
            id,
            if approve { "approved" } else { "rejected" },
            &d.by,
            micros(d.at),
            d.comment.as_deref()
        ],
    )?;
    Ok(())
}

/// Revokes an approved assignment.
pub(crate) fn revoke(tx: &dyn Sql, id: &str, d: &AssignmentDecision) -> Result<(), CatalogError> {
    let row = load(tx, id)?;
    if row.state != AssignmentState::Approved {
        return Err(CatalogError::Conflict(format!(
            "assignment {id} is {}; only approved assignments can be revoked",
            row.state.as_str()
        )));
    }
    tx.execute(
        "UPDATE assignments SET state = 'revoked', revoked_by = ?2, revoked_at_us = ?3, revoke_reason = ?4
         WHERE id = ?1 AND state = 'approved'",
        p![id, &d.by, micros(d.at), d.comment.as_deref()],
    )?;
    Ok(())
}

pub(crate) fn user(c: &dyn Sql, hsa: &HsaId) -> Result<Option<UserRow>, CatalogError> {
    c.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE hsa_id = ?1"),
        p![hsa.as_str()],
        user_from_row,
    )
}

pub(crate) fn users(c: &dyn Sql, cp: Option<&CareProvider>) -> Result<Vec<UserRow>, CatalogError> {
    c.query_vec(
        &format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR care_provider = ?1 ORDER BY hsa_id"
        ),
        p![cp.map(CareProvider::as_str)],
        user_from_row,
    )
}

pub(crate) fn assignment(c: &dyn Sql, id: &str) -> Result<Option<AssignmentRow>, CatalogError> {
    c.query_opt(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = ?1"),
        p![id],
        assignment_from_row,
    )
}

pub(crate) fn assignments(
    c: &dyn Sql,
    cp: Option<&CareProvider>,
    state: Option<AssignmentState>,
) -> Result<Vec<AssignmentRow>, CatalogError> {
    c.query_vec(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments
             WHERE (?1 IS NULL OR care_provider = ?1) AND (?2 IS NULL OR state = ?2)
             ORDER BY care_provider, id"
        ),
        p![
            cp.map(CareProvider::as_str),
            state.map(AssignmentState::as_str)
        ],
        assignment_from_row,
    )
}

pub(crate) fn last_use(c: &dyn Sql, id: &str) -> Result<Option<OffsetDateTime>, CatalogError> {
    c.query_one(
        "SELECT MAX(time_us) FROM audit_log WHERE assignment = ?1",
        p![id],
        |r| r.opt_i64(0),
    )?
    .map(from_micros)
    .transpose()
}
