//! Retention of the audit log itself: prune orders and the minimum index.
//!
//! Pruning keeps every leaf's index, hash, time and action and drops, below the minimum
//! index, the event bytes and the columns that find events (recording, patient,
//! assignment). Tree hashes are computed from leaf hashes, so every inclusion and
//! consistency proof, old or new, stays valid (as with C2SP tlog-tiles' minimum index).
//! The schema's triggers refuse everything else: pruning above the minimum index, a
//! minimum index that shrinks, one not approved for every care provider, and any event
//! younger than five years.

use callvault_types::CareProvider;
use time::OffsetDateTime;

use crate::CatalogError;
use crate::sql::{Row, Sql, SqlExt, p};
use crate::sqlite::{from_micros, micros};

/// A prune order as registered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAuditPrune {
    /// Id.
    pub id: String,
    /// Events before this time are pruned.
    pub before: OffsetDateTime,
    /// The first leaf kept in full (every leaf below it is older than `before`).
    pub min_index: u64,
    /// Who registered it (audit actor).
    pub registered_by: String,
    /// When.
    pub registered_at: OffsetDateTime,
}

/// A prune order with its approvals and execution.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditPruneRow {
    /// The order.
    pub order: NewAuditPrune,
    /// Approvals: care provider, by whom, when.
    pub approvals: Vec<(CareProvider, String, OffsetDateTime)>,
    /// Execution: by whom, when, how many leaves were pruned.
    pub executed: Option<(String, OffsetDateTime, u64)>,
}

fn conflict(m: impl Into<String>) -> CatalogError {
    CatalogError::Conflict(m.into())
}

pub(crate) fn register(tx: &dyn Sql, o: &NewAuditPrune) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT INTO audit_prune_orders (id, before_us, min_index, state, registered_by, registered_at_us)
         VALUES (?1, ?2, ?3, 'registered', ?4, ?5)",
        p![
            &o.id,
            micros(o.before),
            o.min_index as i64,
            &o.registered_by,
            micros(o.registered_at)
        ],
    )?;
    Ok(())
}

fn state(tx: &dyn Sql, id: &str) -> Result<(String, String, u64, i64), CatalogError> {
    tx.query_opt(
        "SELECT state, registered_by, min_index, before_us FROM audit_prune_orders WHERE id = ?1",
        p![id],
        |r| Ok((r.text(0)?, r.text(1)?, r.i64(2)? as u64, r.i64(3)?)),
    )?
    .ok_or_else(|| conflict(format!("no prune order {id}")))
}

pub(crate) fn approve(
    tx: &dyn Sql,
    id: &str,
    cp: &CareProvider,
    by: &str,
    at: OffsetDateTime,
) -> Result<(), CatalogError> {
    let (st, registered_by, _, _) = state(tx, id)?;
    if st != "registered" {
        return Err(conflict(format!("prune order {id} is {st}")));
    }
    if registered_by == by {
        return Err(conflict(
            "the person who registered a prune order does not approve it",
        ));
    }
    let n = tx.execute(
        "INSERT INTO audit_prune_approvals (order_id, care_provider, approved_by, approved_at_us)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        p![id, cp.as_str(), by, micros(at)],
    )?;
    if n == 0 {
        return Err(conflict(format!(
            "prune order {id} is already approved for care provider {cp}"
        )));
    }
    Ok(())
}

/// Executes an approved order; returns how many leaves lost their event bytes.
pub(crate) fn execute(
    tx: &dyn Sql,
    id: &str,
    by: &str,
    at: OffsetDateTime,
) -> Result<u64, CatalogError> {
    let (st, _, min_index, before_us) = state(tx, id)?;
    if st != "registered" {
        return Err(conflict(format!("prune order {id} is {st}")));
    }
    let current = tx.query_opt(
        "SELECT min_index FROM audit_pruned WHERE id = 1",
        p![],
        |r| r.i64(0),
    )?;
    match current {
        Some(m) if m as u64 >= min_index => {
            return Err(conflict(format!(
                "the audit log is already pruned below leaf {m}"
            )));
        }
        Some(_) => {
            tx.execute(
                "UPDATE audit_pruned SET min_index = ?1, before_us = ?2, order_id = ?3 WHERE id = 1",
                p![min_index as i64, before_us, id],
            )?;
        }
        None => {
            tx.execute(
                "INSERT INTO audit_pruned (id, min_index, before_us, order_id) VALUES (1, ?1, ?2, ?3)",
                p![min_index as i64, before_us, id],
            )?;
        }
    }
    let empty: &[u8] = &[];
    let pruned = tx.execute(
        "UPDATE audit_log SET event = ?2, recording_id = NULL, patient_bidx = NULL, assignment = NULL
         WHERE idx < ?1 AND length(event) > 0",
        p![min_index as i64, empty],
    )? as u64;
    tx.execute(
        "UPDATE audit_prune_orders SET state = 'executed', executed_by = ?2, executed_at_us = ?3,
           pruned = ?4 WHERE id = ?1",
        p![id, by, micros(at), pruned as i64],
    )?;
    Ok(pruned)
}

fn order_from_row(r: &Row) -> Result<AuditPruneRow, CatalogError> {
    let executed = match (r.opt_text(5)?, r.opt_i64(6)?, r.opt_i64(7)?) {
        (Some(by), Some(at), Some(n)) => Some((by, from_micros(at)?, n as u64)),
        _ => None,
    };
    Ok(AuditPruneRow {
        order: NewAuditPrune {
            id: r.text(0)?,
            before: from_micros(r.i64(1)?)?,
            min_index: r.i64(2)? as u64,
            registered_by: r.text(3)?,
            registered_at: from_micros(r.i64(4)?)?,
        },
        approvals: Vec::new(),
        executed,
    })
}

pub(crate) fn orders(c: &dyn Sql, id: Option<&str>) -> Result<Vec<AuditPruneRow>, CatalogError> {
    let mut out = c.query_vec(
        "SELECT id, before_us, min_index, registered_by, registered_at_us, executed_by,
           executed_at_us, pruned
         FROM audit_prune_orders WHERE ?1 IS NULL OR id = ?1 ORDER BY registered_at_us, id",
        p![id],
        order_from_row,
    )?;
    for o in &mut out {
        o.approvals = c.query_vec(
            "SELECT care_provider, approved_by, approved_at_us FROM audit_prune_approvals
             WHERE order_id = ?1 ORDER BY care_provider",
            p![&o.order.id],
            |r| {
                Ok((
                    CareProvider::parse(&r.text(0)?)
                        .map_err(|_| CatalogError::Corrupt("approval care provider".into()))?,
                    r.text(1)?,
                    from_micros(r.i64(2)?)?,
                ))
            },
        )?;
    }
    Ok(out)
}

pub(crate) fn min_index(c: &dyn Sql) -> Result<Option<(u64, OffsetDateTime)>, CatalogError> {
    c.query_opt(
        "SELECT min_index, before_us FROM audit_pruned WHERE id = 1",
        p![],
        |r| Ok((r.i64(0)? as u64, from_micros(r.i64(1)?)?)),
    )
}

/// The first leaf at or after `t` (the size when none is).
pub(crate) fn first_leaf_since(c: &dyn Sql, t: OffsetDateTime) -> Result<u64, CatalogError> {
    let first = c.query_one(
        "SELECT MIN(idx) FROM audit_log WHERE time_us >= ?1",
        p![micros(t)],
        |r| r.opt_i64(0),
    )?;
    match first {
        Some(i) => Ok(i as u64),
        None => Ok(c.query_one(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log",
            p![],
            |r| r.i64(0),
        )? as u64),
    }
}

pub(crate) fn care_providers(c: &dyn Sql) -> Result<Vec<CareProvider>, CatalogError> {
    c.query_vec(
        "SELECT hsa_id FROM care_providers ORDER BY hsa_id",
        p![],
        |r| {
            CareProvider::parse(&r.text(0)?)
                .map_err(|_| CatalogError::Corrupt("care provider".into()))
        },
    )
}
