//! Records management rows: legal holds, deletion orders (IVO decisions and retention
//! purges), tombstones.
//!
//! Every rule that decides whether a recording may be destroyed is checked again here, in the
//! transaction that destroys it (and backed by triggers in the schema): the order is
//! approved and executing, no legal hold covers the recording, and a retention purge never
//! reaches a recording before its retention date.

use callvault_types::{CareProvider, RecordingId};
use time::OffsetDateTime;

use crate::CatalogError;
use crate::error::corrupt;
use crate::sql::{Row, Sql, SqlExt, p};
use crate::sqlite::{from_micros, micros};

fn conflict(m: impl Into<String>) -> CatalogError {
    CatalogError::Conflict(m.into())
}

/// A legal hold (rättslig spärr) as set.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewLegalHold {
    /// Id.
    pub id: String,
    /// Care provider.
    pub care_provider: CareProvider,
    /// Reason, sealed under the care provider's field key (it may name a patient).
    pub reason_sealed: Vec<u8>,
    /// Case reference (e.g. a court or complaint case number).
    pub case_reference: String,
    /// Who set it (audit actor).
    pub set_by: String,
    /// When.
    pub set_at: OffsetDateTime,
}

/// A stored legal hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LegalHoldRow {
    /// As set.
    pub hold: NewLegalHold,
    /// Recordings it covers.
    pub recordings: u64,
    /// Release: who, when, sealed reason.
    pub released: Option<(String, OffsetDateTime, Vec<u8>)>,
}

/// What a deletion order destroys under.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeletionKind {
    /// A decision by IVO (Inspektionen för vård och omsorg): may precede retention.
    Ivo,
    /// A purge of recordings past their retention date.
    Retention,
}

impl DeletionKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ivo => "ivo",
            Self::Retention => "retention",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ivo" => Some(Self::Ivo),
            "retention" => Some(Self::Retention),
            _ => None,
        }
    }
}

/// Lifecycle of a deletion order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeletionState {
    /// Registered, awaiting a second person's approval.
    Registered,
    /// Approved; may be executed.
    Approved,
    /// Rejected.
    Rejected,
    /// Execution started (resumed after an interruption).
    Executing,
    /// Every recording destroyed.
    Executed,
}

impl DeletionState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Executing => "executing",
            Self::Executed => "executed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "registered" => Some(Self::Registered),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            "executing" => Some(Self::Executing),
            "executed" => Some(Self::Executed),
            _ => None,
        }
    }
}

/// A deletion order as registered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewDeletionOrder {
    /// Id.
    pub id: String,
    /// IVO decision or retention purge.
    pub kind: DeletionKind,
    /// Care provider.
    pub care_provider: CareProvider,
    /// IVO case number, or the purge's own reference.
    pub reference: String,
    /// Date of the IVO decision (`YYYY-MM-DD`).
    pub decision_date: Option<String>,
    /// The scope as described (no readable identifiers: a patient appears only as
    /// "patient <blind-index prefix>").
    pub scope: String,
    /// The decision document, sealed under the care provider's field key.
    pub document_sealed: Option<Vec<u8>>,
    /// SHA-256 of the decision document.
    pub document_sha256: Option<[u8; 32]>,
    /// Who registered it (audit actor).
    pub registered_by: String,
    /// When.
    pub registered_at: OffsetDateTime,
}

/// A stored deletion order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeletionOrderRow {
    /// As registered.
    pub order: NewDeletionOrder,
    /// State.
    pub state: DeletionState,
    /// Approval or rejection: who, when, comment.
    pub decision: Option<(String, OffsetDateTime, Option<String>)>,
    /// Execution: who started it, when it finished.
    pub executed: Option<(String, Option<OffsetDateTime>)>,
    /// Recordings in scope.
    pub items: u64,
    /// Of which destroyed.
    pub shredded: u64,
}

/// What remains of a destroyed recording.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tombstone {
    /// Recording id.
    pub recording_id: RecordingId,
    /// Care provider.
    pub care_provider: CareProvider,
    /// SHA-256 of the destroyed plaintext.
    pub plaintext_sha256: [u8; 32],
    /// SHA-256 of the deleted blob.
    pub ciphertext_sha256: [u8; 32],
    /// Size of the deleted blob.
    pub ciphertext_size: u64,
    /// Id of the destroyed data key.
    pub dek_id: [u8; 16],
    /// The deletion order.
    pub order_id: String,
    /// When the data key was destroyed.
    pub deleted_at: OffsetDateTime,
    /// Whether every site's blob is deleted.
    pub blobs_deleted: bool,
}

pub(crate) fn set_hold(
    tx: &dyn Sql,
    h: &NewLegalHold,
    recordings: &[RecordingId],
) -> Result<(), CatalogError> {
    if recordings.is_empty() {
        return Err(conflict("a legal hold must cover at least one recording"));
    }
    tx.execute(
        "INSERT INTO legal_holds (id, care_provider, reason_sealed, case_reference, set_by, set_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        p![
            &h.id,
            h.care_provider.as_str(),
            &h.reason_sealed,
            &h.case_reference,
            &h.set_by,
            micros(h.set_at)
        ],
    )?;
    for r in recordings {
        let id = r.to_string();
        let flagged = tx.execute(
            "UPDATE recordings SET legal_hold = 1 WHERE id = ?1 AND care_provider = ?2",
            p![&id, h.care_provider.as_str()],
        )?;
        if flagged != 1 {
            return Err(conflict(format!(
                "recording {id} is not a recording of {} in the catalog",
                h.care_provider
            )));
        }
        tx.execute(
            "INSERT INTO legal_hold_items (hold_id, recording_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            p![&h.id, &id],
        )?;
    }
    Ok(())
}

pub(crate) fn release_hold(
    tx: &dyn Sql,
    id: &str,
    by: &str,
    at: OffsetDateTime,
    reason_sealed: &[u8],
) -> Result<(), CatalogError> {
    let n = tx.execute(
        "UPDATE legal_holds SET released_by = ?2, released_at_us = ?3, release_sealed = ?4
         WHERE id = ?1 AND released_at_us IS NULL",
        p![id, by, micros(at), reason_sealed],
    )?;
    if n != 1 {
        return Err(conflict(format!(
            "legal hold {id} does not exist or is already released"
        )));
    }
    tx.execute(
        "UPDATE recordings SET legal_hold = CASE WHEN EXISTS (
             SELECT 1 FROM legal_hold_items i JOIN legal_holds h ON h.id = i.hold_id
             WHERE i.recording_id = recordings.id AND h.released_at_us IS NULL) THEN 1 ELSE 0 END
         WHERE id IN (SELECT recording_id FROM legal_hold_items WHERE hold_id = ?1)",
        p![id],
    )?;
    Ok(())
}

pub(crate) fn register_order(
    tx: &dyn Sql,
    o: &NewDeletionOrder,
    recordings: &[RecordingId],
) -> Result<(), CatalogError> {
    if recordings.is_empty() {
        return Err(conflict("the order's scope matches no recording"));
    }
    tx.execute(
        "INSERT INTO deletion_orders (id, kind, care_provider, reference, decision_date, scope,
           document_sealed, document_sha256, state, registered_by, registered_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'registered', ?9, ?10)",
        p![
            &o.id,
            o.kind.as_str(),
            o.care_provider.as_str(),
            &o.reference,
            o.decision_date.as_deref(),
            &o.scope,
            o.document_sealed.as_deref(),
            o.document_sha256.as_ref().map(|h| &h[..]),
            &o.registered_by,
            micros(o.registered_at)
        ],
    )?;
    for r in recordings {
        let id = r.to_string();
        let until = tx.query_opt(
            "SELECT retention_until_us FROM recordings WHERE id = ?1 AND care_provider = ?2",
            p![&id, o.care_provider.as_str()],
            |r| r.i64(0),
        )?;
        let Some(until) = until else {
            return Err(conflict(format!(
                "recording {id} is not a recording of {} in the catalog",
                o.care_provider
            )));
        };
        if o.kind == DeletionKind::Retention && until > micros(o.registered_at) {
            return Err(conflict(format!(
                "recording {id} is within its retention period"
            )));
        }
        tx.execute(
            "INSERT INTO deletion_order_items (order_id, recording_id, state) VALUES (?1, ?2, 'pending')
             ON CONFLICT DO NOTHING",
            p![&o.id, &id],
        )?;
    }
    Ok(())
}

fn order_state(tx: &dyn Sql, id: &str) -> Result<(DeletionState, String), CatalogError> {
    let row = tx.query_opt(
        "SELECT state, registered_by FROM deletion_orders WHERE id = ?1",
        p![id],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?;
    let (state, by) = row.ok_or_else(|| conflict(format!("no deletion order {id}")))?;
    Ok((
        DeletionState::parse(&state).ok_or_else(|| corrupt("deletion order state"))?,
        by,
    ))
}

pub(crate) fn decide_order(
    tx: &dyn Sql,
    id: &str,
    approve: bool,
    by: &str,
    at: OffsetDateTime,
    comment: Option<&str>,
) -> Result<(), CatalogError> {
    let (state, registered_by) = order_state(tx, id)?;
    if state != DeletionState::Registered {
        return Err(conflict(format!(
            "deletion order {id} is {}, not awaiting a decision",
            state.as_str()
        )));
    }
    if registered_by == by {
        return Err(conflict(format!(
            "deletion order {id} was registered by you; a second person must decide it"
        )));
    }
    tx.execute(
        "UPDATE deletion_orders SET state = ?2, decided_by = ?3, decided_at_us = ?4, decision_comment = ?5
         WHERE id = ?1 AND state = 'registered'",
        p![
            id,
            if approve { "approved" } else { "rejected" },
            by,
            micros(at),
            comment
        ],
    )?;
    Ok(())
}

pub(crate) fn start_order(tx: &dyn Sql, id: &str, by: &str) -> Result<(), CatalogError> {
    let (state, _) = order_state(tx, id)?;
    match state {
        DeletionState::Approved => {
            tx.execute(
                "UPDATE deletion_orders SET state = 'executing', executed_by = ?2 WHERE id = ?1",
                p![id, by],
            )?;
            Ok(())
        }
        DeletionState::Executing => Ok(()),
        other => Err(conflict(format!(
            "deletion order {id} is {}; only an approved order is executed",
            other.as_str()
        ))),
    }
}

/// Destroys one recording of an executing order: tombstone, then the row with its wrapped
/// data key (overwritten on disk: the SQLite catalog runs with `secure_delete`), its
/// placements and repair tasks.
pub(crate) fn shred(
    tx: &dyn Sql,
    order_id: &str,
    rid: &RecordingId,
    at: OffsetDateTime,
) -> Result<(), CatalogError> {
    let (state, _) = order_state(tx, order_id)?;
    if state != DeletionState::Executing {
        return Err(conflict(format!(
            "deletion order {order_id} is {}, not executing",
            state.as_str()
        )));
    }
    let id = rid.to_string();
    let item = tx.query_opt(
        "SELECT state FROM deletion_order_items WHERE order_id = ?1 AND recording_id = ?2",
        p![order_id, &id],
        |r| r.text(0),
    )?;
    match item.as_deref() {
        Some("pending") => {}
        Some(_) => return Ok(()),
        None => {
            return Err(conflict(format!(
                "recording {id} is not in deletion order {order_id}"
            )));
        }
    }
    let n = tx.execute(
        "INSERT INTO tombstones (recording_id, care_provider, plaintext_sha256, ciphertext_sha256,
           ciphertext_size, dek_id, order_id, deleted_at_us)
         SELECT id, care_provider, plaintext_sha256, ciphertext_sha256, ciphertext_size, dek_id, ?2, ?3
         FROM recordings WHERE id = ?1",
        p![&id, order_id, micros(at)],
    )?;
    if n != 1 {
        return Err(conflict(format!("recording {id} is not in the catalog")));
    }
    tx.execute("DELETE FROM repair_tasks WHERE recording_id = ?1", p![&id])?;
    tx.execute("DELETE FROM placements WHERE recording_id = ?1", p![&id])?;
    // The triggers refuse this while a legal hold covers the recording, or before its
    // retention date for a purge; the whole change then rolls back, tombstone included.
    tx.execute("DELETE FROM recordings WHERE id = ?1", p![&id])
        .map_err(|e| match e.refusal() {
            Some(m) => conflict(format!("recording {id}: {m}")),
            None => e,
        })?;
    // Its links to patients go with it (the trigger allows nothing else).
    crate::links::delete_with_recording(tx, rid)?;
    tx.execute(
        "UPDATE deletion_order_items SET state = 'shredded' WHERE order_id = ?1 AND recording_id = ?2",
        p![order_id, &id],
    )?;
    Ok(())
}

pub(crate) fn blobs_deleted(tx: &dyn Sql, rid: &RecordingId) -> Result<(), CatalogError> {
    tx.execute(
        "UPDATE tombstones SET blobs_deleted = 1 WHERE recording_id = ?1",
        p![&rid.to_string()],
    )?;
    Ok(())
}

pub(crate) fn finish_order(tx: &dyn Sql, id: &str, at: OffsetDateTime) -> Result<(), CatalogError> {
    let (state, _) = order_state(tx, id)?;
    if state != DeletionState::Executing {
        return Err(conflict(format!(
            "deletion order {id} is {}, not executing",
            state.as_str()
        )));
    }
    let pending = tx.query_one(
        "SELECT COUNT(*) FROM deletion_order_items WHERE order_id = ?1 AND state = 'pending'",
        p![id],
        |r| r.i64(0),
    )?;
    if pending > 0 {
        return Err(conflict(format!(
            "deletion order {id} still has {pending} recordings to destroy"
        )));
    }
    tx.execute(
        "UPDATE deletion_orders SET state = 'executed', executed_at_us = ?2 WHERE id = ?1",
        p![id, micros(at)],
    )?;
    Ok(())
}

pub(crate) fn store_certificate(tx: &dyn Sql, id: &str, text: &str) -> Result<(), CatalogError> {
    let n = tx.execute(
        "UPDATE deletion_orders SET certificate = ?2 WHERE id = ?1 AND state = 'executed' AND certificate IS NULL",
        p![id, text],
    )?;
    if n != 1 {
        return Err(conflict(format!(
            "deletion order {id} is not executed, or already has its certificate"
        )));
    }
    Ok(())
}

pub(crate) fn certificate(c: &dyn Sql, id: &str) -> Result<Option<String>, CatalogError> {
    Ok(c.query_opt(
        "SELECT certificate FROM deletion_orders WHERE id = ?1",
        p![id],
        |r| r.opt_text(0),
    )?
    .flatten())
}

fn hold_from_row(r: &Row) -> Result<LegalHoldRow, CatalogError> {
    let released = match (r.opt_text(6)?, r.opt_i64(7)?) {
        (Some(by), Some(at)) => Some((by, from_micros(at)?, r.opt_blob(8)?.unwrap_or_default())),
        _ => None,
    };
    Ok(LegalHoldRow {
        hold: NewLegalHold {
            id: r.text(0)?,
            care_provider: CareProvider::parse(&r.text(1)?)
                .map_err(|_| corrupt("hold care provider"))?,
            reason_sealed: r.blob(2)?,
            case_reference: r.text(3)?,
            set_by: r.text(4)?,
            set_at: from_micros(r.i64(5)?)?,
        },
        released,
        recordings: r.i64(9)? as u64,
    })
}

const HOLD_SELECT: &str = "SELECT h.id, h.care_provider, h.reason_sealed, h.case_reference,
    h.set_by, h.set_at_us, h.released_by, h.released_at_us, h.release_sealed,
    (SELECT COUNT(*) FROM legal_hold_items i WHERE i.hold_id = h.id) FROM legal_holds h";

pub(crate) fn holds(
    c: &dyn Sql,
    cp: &CareProvider,
    id: Option<&str>,
) -> Result<Vec<LegalHoldRow>, CatalogError> {
    c.query_vec(
        &format!(
            "{HOLD_SELECT} WHERE h.care_provider = ?1 AND (?2 IS NULL OR h.id = ?2) ORDER BY h.set_at_us, h.id"
        ),
        p![cp.as_str(), id],
        hold_from_row,
    )
}

pub(crate) fn active_holds_of(c: &dyn Sql, rid: &RecordingId) -> Result<Vec<String>, CatalogError> {
    c.query_vec(
        "SELECT h.id FROM legal_hold_items i JOIN legal_holds h ON h.id = i.hold_id
         WHERE i.recording_id = ?1 AND h.released_at_us IS NULL ORDER BY h.id",
        p![&rid.to_string()],
        |r| r.text(0),
    )
}

const ORDER_SELECT: &str = "SELECT o.id, o.kind, o.care_provider, o.reference, o.decision_date,
    o.scope, o.document_sealed, o.document_sha256, o.state, o.registered_by, o.registered_at_us,
    o.decided_by, o.decided_at_us, o.decision_comment, o.executed_by, o.executed_at_us,
    (SELECT COUNT(*) FROM deletion_order_items i WHERE i.order_id = o.id),
    (SELECT COUNT(*) FROM deletion_order_items i WHERE i.order_id = o.id AND i.state = 'shredded')
    FROM deletion_orders o";

fn order_from_row(r: &Row) -> Result<DeletionOrderRow, CatalogError> {
    let decision = match (r.opt_text(11)?, r.opt_i64(12)?) {
        (Some(by), Some(at)) => Some((by, from_micros(at)?, r.opt_text(13)?)),
        _ => None,
    };
    let executed = match r.opt_text(14)? {
        Some(by) => Some((by, r.opt_i64(15)?.map(from_micros).transpose()?)),
        None => None,
    };
    Ok(DeletionOrderRow {
        order: NewDeletionOrder {
            id: r.text(0)?,
            kind: DeletionKind::parse(&r.text(1)?).ok_or_else(|| corrupt("deletion kind"))?,
            care_provider: CareProvider::parse(&r.text(2)?)
                .map_err(|_| corrupt("deletion care provider"))?,
            reference: r.text(3)?,
            decision_date: r.opt_text(4)?,
            scope: r.text(5)?,
            document_sealed: r.opt_blob(6)?,
            document_sha256: r
                .opt_blob(7)?
                .map(|v| v.try_into().map_err(|_| corrupt("document hash")))
                .transpose()?,
            registered_by: r.text(9)?,
            registered_at: from_micros(r.i64(10)?)?,
        },
        state: DeletionState::parse(&r.text(8)?).ok_or_else(|| corrupt("deletion state"))?,
        decision,
        executed,
        items: r.i64(16)? as u64,
        shredded: r.i64(17)? as u64,
    })
}

pub(crate) fn orders(
    c: &dyn Sql,
    cp: Option<&CareProvider>,
    id: Option<&str>,
    state: Option<DeletionState>,
) -> Result<Vec<DeletionOrderRow>, CatalogError> {
    c.query_vec(
        &format!(
            "{ORDER_SELECT} WHERE (?1 IS NULL OR o.care_provider = ?1) AND (?2 IS NULL OR o.id = ?2)
               AND (?3 IS NULL OR o.state = ?3) ORDER BY o.registered_at_us, o.id"
        ),
        p![
            cp.map(CareProvider::as_str),
            id,
            state.map(DeletionState::as_str)
        ],
        order_from_row,
    )
}

pub(crate) fn order_items(c: &dyn Sql, id: &str) -> Result<Vec<(RecordingId, bool)>, CatalogError> {
    c.query_vec(
        "SELECT recording_id, state FROM deletion_order_items WHERE order_id = ?1 ORDER BY recording_id",
        p![id],
        |r| {
            Ok((
                RecordingId::parse(&r.text(0)?).map_err(|_| corrupt("order item"))?,
                r.text(1)? == "shredded",
            ))
        },
    )
}

fn tombstone_from_row(r: &Row) -> Result<Tombstone, CatalogError> {
    let arr = |v: Vec<u8>, what: &str| v.try_into().map_err(|_| corrupt(what));
    Ok(Tombstone {
        recording_id: RecordingId::parse(&r.text(0)?).map_err(|_| corrupt("tombstone id"))?,
        care_provider: CareProvider::parse(&r.text(1)?)
            .map_err(|_| corrupt("tombstone care provider"))?,
        plaintext_sha256: arr(r.blob(2)?, "tombstone hash")?,
        ciphertext_sha256: arr(r.blob(3)?, "tombstone hash")?,
        ciphertext_size: r.i64(4)? as u64,
        dek_id: r
            .blob(5)?
            .try_into()
            .map_err(|_| corrupt("tombstone dek id"))?,
        order_id: r.text(6)?,
        deleted_at: from_micros(r.i64(7)?)?,
        blobs_deleted: r.i64(8)? != 0,
    })
}

const TOMBSTONE_SELECT: &str = "SELECT recording_id, care_provider, plaintext_sha256,
    ciphertext_sha256, ciphertext_size, dek_id, order_id, deleted_at_us, blobs_deleted FROM tombstones";

pub(crate) fn tombstones(
    c: &dyn Sql,
    order: Option<&str>,
    rid: Option<&RecordingId>,
    pending_blobs_only: bool,
) -> Result<Vec<Tombstone>, CatalogError> {
    let rid = rid.map(ToString::to_string);
    c.query_vec(
        &format!(
            "{TOMBSTONE_SELECT} WHERE (?1 IS NULL OR order_id = ?1) AND (?2 IS NULL OR recording_id = ?2)
               AND (?3 = 0 OR blobs_deleted = 0) ORDER BY recording_id"
        ),
        p![order, rid.as_deref(), i64::from(pending_blobs_only)],
        tombstone_from_row,
    )
}
