//! The embedded catalog: SQLite (bundled) in WAL mode with `synchronous = FULL`.
//!
//! One writer thread owns the write connection. Callers send it changes; it takes every
//! change waiting in its queue (up to `MAX_BATCH`), applies each inside its own savepoint of
//! one transaction, commits once — one fsync for the whole batch (group commit) — and then
//! answers each caller. A change that fails rolls back to its savepoint alone. Reads use a
//! separate connection.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use callvault_audit::merkle::{Hash, leaf_hash};
use callvault_types::{CallId, CareProvider, CareUnit, HsaId, RecordingId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::schema::MIGRATIONS;
use crate::{
    AssignmentRow, AssignmentState, AuditLeafVisitor, Catalog, CatalogError, CatalogStats, Change,
    Committed, Mutation, NewRecording, PendingCommit, Placement, PlacementState, RecordingRow,
    RecordingSource, RepairTask, SealedField, StoredCheckpoint, UserRow,
};
use crate::{AuditPruneRow, Finding, FollowUpRun, followup, pruning};
use crate::{DeletionOrderRow, DeletionState, LegalHoldRow, Tombstone};
use crate::{governance, records};

/// Most changes folded into one transaction.
const MAX_BATCH: usize = 1024;

/// Where the writer answers: a blocked thread, or an async task.
enum Reply {
    Wait(Sender<Result<Committed, CatalogError>>),
    Notify(tokio::sync::oneshot::Sender<Result<Committed, CatalogError>>),
}

impl Reply {
    fn send(self, r: Result<Committed, CatalogError>) {
        // A caller that went away no longer needs the answer; the change stands either way.
        match self {
            Self::Wait(s) => {
                let _ = s.send(r);
            }
            Self::Notify(s) => {
                let _ = s.send(r);
            }
        }
    }
}

/// The SQLite catalog.
pub struct SqliteCatalog {
    path: PathBuf,
    transactions: Arc<AtomicU64>,
    tx: Mutex<Option<SyncSender<(Change, Reply)>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicU64,
    scanner: Mutex<Connection>,
}

/// Read connections kept open for point reads: concurrent readers (HTTP requests) do not
/// queue behind one another. WAL mode lets them read while the writer commits.
const READERS: usize = 8;

fn open_reader(path: &Path, mmap: bool) -> Result<Connection, CatalogError> {
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    reader.busy_timeout(std::time::Duration::from_secs(10))?;
    if mmap {
        // Memory-mapped reads make full scans (verification, proofs) markedly faster; but
        // SQLite remaps as the file grows, which costs point reads more than it saves.
        reader.pragma_update(None, "mmap_size", 1i64 << 30)?;
        reader.pragma_update(None, "cache_size", -65_536i64)?;
    } else {
        reader.pragma_update(None, "cache_size", -16_384i64)?;
    }
    Ok(reader)
}

impl std::fmt::Debug for SqliteCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCatalog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> Result<(), CatalogError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content (a destroyed recording's wrapped data key) is overwritten, not only
    // unlinked from the b-tree.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, CatalogError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| CatalogError::Corrupt(format!("timestamp {us}")))
}

fn now_us() -> i64 {
    micros(OffsetDateTime::now_utc())
}

fn migrate(conn: &mut Connection) -> Result<(), CatalogError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(CatalogError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteCatalog {
    /// Opens (creating and migrating if needed) the catalog file.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| open_reader(path, false).map(Mutex::new))
            .collect::<Result<Vec<_>, CatalogError>>()?;
        let scanner = Mutex::new(open_reader(path, true)?);
        let (tx, rx) = sync_channel::<(Change, Reply)>(MAX_BATCH * 4);
        let transactions = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&transactions);
        let writer = std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || writer_loop(conn, rx, &counter))
            .map_err(|_| CatalogError::WriterStopped)?;
        Ok(Self {
            path: path.to_owned(),
            transactions,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers,
            next_reader: AtomicU64::new(0),
            scanner,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Transactions committed by the writer since opening (each is one fsync); with
    /// concurrent callers it is lower than the number of changes: group commit.
    pub fn transactions_committed(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        // Take the first idle connection, starting at a rotating position; if all are busy,
        // wait for the one at the starting position.
        let n = self.readers.len();
        let start = (self.next_reader.fetch_add(1, Ordering::Relaxed) as usize) % n;
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return f(&conn);
            }
        }
        let conn = self.readers[start]
            .lock()
            .map_err(|_| CatalogError::WriterStopped)?;
        f(&conn)
    }

    fn enqueue(&self, change: Change, reply: Reply) -> Result<(), CatalogError> {
        let guard = self.tx.lock().map_err(|_| CatalogError::WriterStopped)?;
        let tx = guard.as_ref().ok_or(CatalogError::WriterStopped)?;
        tx.send((change, reply))
            .map_err(|_| CatalogError::WriterStopped)
    }

    /// Runs a long sequential read on the memory-mapped scan connection.
    fn scan<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let conn = self
            .scanner
            .lock()
            .map_err(|_| CatalogError::WriterStopped)?;
        f(&conn)
    }
}

impl Drop for SqliteCatalog {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut w) = self.writer.lock()
            && let Some(h) = w.take()
        {
            let _ = h.join();
        }
    }
}

fn next_index(conn: &Connection) -> Result<u64, CatalogError> {
    let n: i64 = conn.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log", [], |r| {
        r.get(0)
    })?;
    Ok(n as u64)
}

fn writer_loop(mut conn: Connection, rx: Receiver<(Change, Reply)>, transactions: &AtomicU64) {
    let mut next = match next_index(&conn) {
        Ok(n) => n,
        Err(e) => {
            // Answer every request with the startup error.
            let msg = e.to_string();
            for (_, reply) in rx.iter() {
                reply.send(Err(CatalogError::Corrupt(msg.clone())));
            }
            return;
        }
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let start = next;
        match apply_batch(&mut conn, &batch, &mut next) {
            Ok(results) => {
                transactions.fetch_add(1, Ordering::Relaxed);
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    reply.send(result);
                }
            }
            Err(e) => {
                // The transaction did not commit: nothing of the batch is durable.
                next = next_index(&conn).unwrap_or(start);
                let msg = e.to_string();
                for (_, reply) in batch {
                    reply.send(Err(CatalogError::Corrupt(format!("commit failed: {msg}"))));
                }
            }
        }
    }
}

fn apply_batch(
    conn: &mut Connection,
    batch: &[(Change, Reply)],
    next: &mut u64,
) -> Result<Vec<Result<Committed, CatalogError>>, CatalogError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for (change, _) in batch {
        let before = *next;
        // Savepoints by cached statements: parsing them anew for every change was a
        // measurable share of the writer's time.
        tx.prepare_cached("SAVEPOINT change")?.execute([])?;
        match apply_change(&tx, change, next) {
            Ok(c) => {
                tx.prepare_cached("RELEASE change")?.execute([])?;
                results.push(Ok(c));
            }
            Err(e) => {
                // Undo this change only.
                tx.prepare_cached("ROLLBACK TO change")?.execute([])?;
                tx.prepare_cached("RELEASE change")?.execute([])?;
                *next = before;
                results.push(Err(e));
            }
        }
    }
    // On a failed COMMIT the transaction is rolled back when `tx` drops (the default drop
    // behaviour): every change of the batch then reports failure and none is durable.
    tx.commit()?;
    Ok(results)
}

fn apply_change(
    tx: &Connection,
    change: &Change,
    next: &mut u64,
) -> Result<Committed, CatalogError> {
    for m in &change.mutations {
        apply_mutation(tx, m)?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit_log (idx, leaf_hash, event, time_us, action, recording_id, patient_bidx,
           assignment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut leaf_indexes = Vec::with_capacity(change.events.len());
    for e in &change.events {
        let enc = e.encode()?;
        let lh = leaf_hash(&enc);
        stmt.execute(params![
            *next as i64,
            &lh[..],
            &enc,
            micros(e.time),
            e.action.code(),
            e.recording.as_ref().map(|r| r.id.to_string()),
            e.patient.as_ref().map(|p| p.blind_index.to_vec()),
            e.assignment.as_deref(),
        ])?;
        leaf_indexes.push(*next);
        *next += 1;
    }
    Ok(Committed { leaf_indexes })
}

fn add_repair_task(
    tx: &Connection,
    rid: &RecordingId,
    site: &str,
    reason: &str,
) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT INTO repair_tasks (recording_id, site, reason, created_at_us) VALUES (?1, ?2, ?3, ?4)",
        params![rid.to_string(), site, reason, now_us()],
    )?;
    Ok(())
}

fn apply_mutation(tx: &Connection, m: &Mutation) -> Result<(), CatalogError> {
    match m {
        Mutation::InsertRecording {
            recording: r,
            placements,
            repair_reason,
        } => {
            let res = tx.execute(
                "INSERT INTO recordings (id, care_provider, care_unit, call_id, started_at_us, ended_at_us,
                   duration_ms, codec, sample_rate, channels, plaintext_size, plaintext_sha256,
                   ciphertext_size, ciphertext_sha256, dek_id, wrapped_dek, kek_version,
                   patient_sealed, patient_bidx, caller_sealed, caller_bidx, nurse_hsa_id,
                   retention_until_us, source, created_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                   ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
                params![
                    r.id.to_string(),
                    r.care_provider.as_str(),
                    r.care_unit.as_str(),
                    r.call_id.as_str(),
                    micros(r.started_at),
                    micros(r.ended_at),
                    r.duration_ms as i64,
                    r.codec,
                    r.sample_rate,
                    r.channels,
                    r.plaintext_size as i64,
                    &r.plaintext_sha256[..],
                    r.ciphertext_size as i64,
                    &r.ciphertext_sha256[..],
                    &r.dek_id[..],
                    r.wrapped_dek,
                    r.kek_version,
                    r.patient.as_ref().map(|p| p.0.clone()),
                    r.patient.as_ref().map(|p| p.1.to_vec()),
                    r.caller.as_ref().map(|p| p.0.clone()),
                    r.caller.as_ref().map(|p| p.1.to_vec()),
                    r.nurse.as_ref().map(|n| n.as_str().to_owned()),
                    micros(r.retention_until),
                    r.source.as_str(),
                    now_us(),
                ],
            );
            if let Err(rusqlite::Error::SqliteFailure(e, _)) = &res
                && e.code == rusqlite::ErrorCode::ConstraintViolation
            {
                return Err(CatalogError::DuplicateCall {
                    care_provider: r.care_provider.to_string(),
                    call_id: r.call_id.to_string(),
                });
            }
            res?;
            for p in placements {
                tx.execute(
                    "INSERT INTO placements (recording_id, site, state, updated_at_us) VALUES (?1, ?2, ?3, ?4)",
                    params![r.id.to_string(), p.site, p.state.as_str(), now_us()],
                )?;
                if p.state != PlacementState::Ok {
                    add_repair_task(tx, &r.id, &p.site, repair_reason)?;
                }
            }
        }
        Mutation::SetPlacement {
            recording_id,
            placement,
            reason,
        } => {
            let rid = recording_id.to_string();
            let exists: bool = tx
                .query_row("SELECT 1 FROM recordings WHERE id = ?1", [&rid], |_| {
                    Ok(true)
                })
                .optional()?
                .unwrap_or(false);
            if !exists {
                return Err(CatalogError::UnknownRecording(rid));
            }
            tx.execute(
                "INSERT INTO placements (recording_id, site, state, updated_at_us) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (recording_id, site) DO UPDATE SET state = excluded.state, updated_at_us = excluded.updated_at_us",
                params![rid, placement.site, placement.state.as_str(), now_us()],
            )?;
            if placement.state == PlacementState::Ok {
                tx.execute(
                    "UPDATE repair_tasks SET done_at_us = ?3 WHERE recording_id = ?1 AND site = ?2 AND done_at_us IS NULL",
                    params![rid, placement.site, now_us()],
                )?;
            } else {
                let open: bool = tx
                    .query_row(
                        "SELECT 1 FROM repair_tasks WHERE recording_id = ?1 AND site = ?2 AND done_at_us IS NULL",
                        params![rid, placement.site],
                        |_| Ok(true),
                    )
                    .optional()?
                    .unwrap_or(false);
                if !open {
                    add_repair_task(tx, recording_id, &placement.site, reason)?;
                }
            }
        }
        Mutation::Rewrap(items) => {
            let mut stmt = tx.prepare_cached(
                "UPDATE recordings SET wrapped_dek = ?2, kek_version = ?3 WHERE id = ?1",
            )?;
            for w in items {
                let n = stmt.execute(params![
                    w.recording_id.to_string(),
                    w.wrapped_dek,
                    w.kek_version
                ])?;
                if n != 1 {
                    return Err(CatalogError::UnknownRecording(w.recording_id.to_string()));
                }
            }
        }
        Mutation::StoreCheckpoint(c) => {
            tx.execute(
                "INSERT OR IGNORE INTO checkpoints (size, root_hash, note, created_at_us) VALUES (?1, ?2, ?3, ?4)",
                params![c.size as i64, &c.root_hash[..], c.note, micros(c.created_at)],
            )?;
        }
        Mutation::RegisterUser(u) => governance::register_user(tx, u)?,
        Mutation::InsertAssignment {
            assignment,
            approved,
        } => governance::insert_assignment(tx, assignment, approved.as_ref())?,
        Mutation::DecideAssignment {
            id,
            approve,
            decision,
        } => governance::decide(tx, id, *approve, decision)?,
        Mutation::RevokeAssignment { id, revocation } => governance::revoke(tx, id, revocation)?,
        Mutation::SetLegalHold { hold, recordings } => records::set_hold(tx, hold, recordings)?,
        Mutation::ReleaseLegalHold {
            id,
            by,
            at,
            reason_sealed,
        } => records::release_hold(tx, id, by, *at, reason_sealed)?,
        Mutation::RegisterDeletion { order, recordings } => {
            records::register_order(tx, order, recordings)?
        }
        Mutation::DecideDeletion {
            id,
            approve,
            by,
            at,
            comment,
        } => records::decide_order(tx, id, *approve, by, *at, comment.as_deref())?,
        Mutation::StartDeletion { id, by } => records::start_order(tx, id, by)?,
        Mutation::ShredRecording {
            order_id,
            recording_id,
            at,
        } => records::shred(tx, order_id, recording_id, *at)?,
        Mutation::BlobsDeleted(rid) => records::blobs_deleted(tx, rid)?,
        Mutation::FinishDeletion { id, at } => records::finish_order(tx, id, *at)?,
        Mutation::StoreCertificate { id, text } => records::store_certificate(tx, id, text)?,
        Mutation::StoreCosignature {
            size,
            witness,
            line,
            time,
        } => {
            tx.execute(
                "INSERT OR IGNORE INTO cosignatures (size, witness, line, time_s) VALUES (?1, ?2, ?3, ?4)",
                params![*size as i64, witness, line, *time as i64],
            )?;
        }
        Mutation::InsertFollowUp { run, findings } => followup::insert_run(tx, run, findings)?,
        Mutation::ReviewFinding { run_id, n, review } => followup::review(tx, run_id, *n, review)?,
        Mutation::MarkProtected {
            care_provider,
            patient_bidx,
            protected,
            reference,
            by,
            at,
        } => followup::mark_protected(
            tx,
            care_provider,
            patient_bidx,
            *protected,
            reference,
            by,
            *at,
        )?,
        Mutation::SetUserPersonalId {
            hsa_id,
            personal_id,
        } => followup::set_personal_id(tx, hsa_id, &personal_id.0, &personal_id.1)?,
        Mutation::RegisterAuditPrune(o) => pruning::register(tx, o)?,
        Mutation::ApproveAuditPrune {
            id,
            care_provider,
            by,
            at,
        } => pruning::approve(tx, id, care_provider, by, *at)?,
        Mutation::ExecuteAuditPrune { id, by, at } => {
            pruning::execute(tx, id, by, *at)?;
        }
        Mutation::AddCareProvider {
            care_provider,
            retention_years,
        } => {
            tx.execute(
                "INSERT INTO care_providers (hsa_id, retention_years, added_at_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hsa_id) DO UPDATE SET retention_years = MAX(retention_years, excluded.retention_years)",
                params![care_provider.as_str(), retention_years, now_us()],
            )?;
        }
    }
    Ok(())
}

const RECORDING_COLUMNS: &str = "id, care_provider, care_unit, call_id, started_at_us, ended_at_us,
    duration_ms, codec, sample_rate, channels, plaintext_size, plaintext_sha256, ciphertext_size,
    ciphertext_sha256, dek_id, wrapped_dek, kek_version, patient_sealed, patient_bidx,
    caller_sealed, caller_bidx, nurse_hsa_id, retention_until_us, source, legal_hold, state,
    created_at_us";

fn corrupt(what: &str) -> CatalogError {
    CatalogError::Corrupt(what.to_owned())
}

fn arr<const N: usize>(v: Vec<u8>, what: &str) -> Result<[u8; N], CatalogError> {
    v.try_into().map_err(|_| corrupt(what))
}

fn sealed_pair(
    s: Option<Vec<u8>>,
    b: Option<Vec<u8>>,
    what: &str,
) -> Result<Option<SealedField>, CatalogError> {
    match (s, b) {
        (Some(s), Some(b)) => Ok(Some((s, arr(b, what)?))),
        (None, None) => Ok(None),
        _ => Err(corrupt(what)),
    }
}

fn recording_from_row(row: &Row<'_>) -> Result<RecordingRow, CatalogError> {
    let id: String = row.get(0)?;
    let rec = NewRecording {
        id: RecordingId::parse(&id).map_err(|_| corrupt("recording id"))?,
        care_provider: CareProvider::parse(&row.get::<_, String>(1)?)
            .map_err(|_| corrupt("care provider"))?,
        care_unit: CareUnit::parse(&row.get::<_, String>(2)?).map_err(|_| corrupt("care unit"))?,
        call_id: CallId::parse(&row.get::<_, String>(3)?).map_err(|_| corrupt("call id"))?,
        started_at: from_micros(row.get(4)?)?,
        ended_at: from_micros(row.get(5)?)?,
        duration_ms: row.get::<_, i64>(6)? as u64,
        codec: row.get(7)?,
        sample_rate: row.get(8)?,
        channels: row.get(9)?,
        plaintext_size: row.get::<_, i64>(10)? as u64,
        plaintext_sha256: arr(row.get(11)?, "plaintext hash")?,
        ciphertext_size: row.get::<_, i64>(12)? as u64,
        ciphertext_sha256: arr(row.get(13)?, "ciphertext hash")?,
        dek_id: arr(row.get(14)?, "key id")?,
        wrapped_dek: row.get(15)?,
        kek_version: row.get(16)?,
        patient: sealed_pair(row.get(17)?, row.get(18)?, "patient")?,
        caller: sealed_pair(row.get(19)?, row.get(20)?, "caller")?,
        nurse: row
            .get::<_, Option<String>>(21)?
            .map(|s| HsaId::parse(&s).map_err(|_| corrupt("nurse")))
            .transpose()?,
        retention_until: from_micros(row.get(22)?)?,
        source: RecordingSource::parse(&row.get::<_, String>(23)?)
            .ok_or_else(|| corrupt("source"))?,
    };
    Ok(RecordingRow {
        rec,
        legal_hold: row.get::<_, i64>(24)? != 0,
        state: row.get(25)?,
        created_at: from_micros(row.get(26)?)?,
    })
}

fn query_recordings(
    conn: &Connection,
    where_sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RecordingRow>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECORDING_COLUMNS} FROM recordings {where_sql}"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(recording_from_row(row)?);
    }
    Ok(out)
}

impl Catalog for SqliteCatalog {
    fn commit(&self, change: Change) -> Result<Committed, CatalogError> {
        if change.events.is_empty() {
            // Unreachable through `Change::new`, kept as a last line of defence.
            return Err(CatalogError::Corrupt("change without audit event".into()));
        }
        let (reply_tx, reply_rx) = channel();
        self.enqueue(change, Reply::Wait(reply_tx))?;
        reply_rx.recv().map_err(|_| CatalogError::WriterStopped)?
    }

    fn submit(&self, change: Change) -> Result<PendingCommit, CatalogError> {
        if change.events.is_empty() {
            return Err(CatalogError::Corrupt("change without audit event".into()));
        }
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        // Never block an async caller on a full queue: it gets `Busy` and can shed load.
        let guard = self.tx.lock().map_err(|_| CatalogError::WriterStopped)?;
        let tx = guard.as_ref().ok_or(CatalogError::WriterStopped)?;
        tx.try_send((change, Reply::Notify(reply_tx)))
            .map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(_) => CatalogError::Busy,
                std::sync::mpsc::TrySendError::Disconnected(_) => CatalogError::WriterStopped,
            })?;
        Ok(PendingCommit(reply_rx))
    }

    fn recording(&self, id: &RecordingId) -> Result<Option<RecordingRow>, CatalogError> {
        self.read(|c| Ok(query_recordings(c, "WHERE id = ?1", &[&id.to_string()])?.pop()))
    }

    fn recording_by_call(
        &self,
        cp: &CareProvider,
        call_id: &CallId,
    ) -> Result<Option<RecordingRow>, CatalogError> {
        self.read(|c| {
            Ok(query_recordings(
                c,
                "WHERE care_provider = ?1 AND call_id = ?2",
                &[&cp.as_str(), &call_id.as_str()],
            )?
            .pop())
        })
    }

    fn recordings_by_patient(
        &self,
        cp: &CareProvider,
        bidx: &[u8; 32],
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        self.read(|c| {
            query_recordings(
                c,
                "WHERE care_provider = ?1 AND patient_bidx = ?2 ORDER BY started_at_us",
                &[&cp.as_str(), &&bidx[..]],
            )
        })
    }

    fn for_each_recording(
        &self,
        f: &mut dyn FnMut(RecordingRow) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError> {
        // Page through by id so that the read lock is not held while `f` does I/O.
        let mut after = String::new();
        loop {
            let page = self
                .read(|c| query_recordings(c, "WHERE id > ?1 ORDER BY id LIMIT 256", &[&after]))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.rec.id.to_string();
            for r in page {
                f(r)?;
            }
        }
    }

    fn recordings_below_kek(
        &self,
        cp: &CareProvider,
        version: u32,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        self.read(|c| {
            query_recordings(
                c,
                "WHERE care_provider = ?1 AND kek_version < ?2 ORDER BY id LIMIT ?3",
                &[&cp.as_str(), &version, &(limit as i64)],
            )
        })
    }

    fn recording_events(
        &self,
        id: &RecordingId,
        actions: &[&str],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, event, action FROM audit_log WHERE recording_id = ?1 ORDER BY idx",
            )?;
            let rows = stmt.query_map([id.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (idx, event, action) = row?;
                if actions.contains(&action.as_str()) {
                    out.push((idx, event));
                }
            }
            Ok(out)
        })
    }

    fn placements(&self, id: &RecordingId) -> Result<Vec<Placement>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                // Sorted here: with ORDER BY, SQLite re-prepared this statement on every run.
                "SELECT site, state FROM placements WHERE recording_id = ?1",
            )?;
            let rows = stmt.query_map([id.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (site, state) = row?;
                let state =
                    PlacementState::parse(&state).ok_or_else(|| corrupt("placement state"))?;
                out.push(Placement { site, state });
            }
            out.sort_by(|a, b| a.site.cmp(&b.site));
            Ok(out)
        })
    }

    fn open_repair_tasks(&self) -> Result<Vec<RepairTask>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, recording_id, site, reason, created_at_us FROM repair_tasks WHERE done_at_us IS NULL ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, rid, site, reason, at) = row?;
                out.push(RepairTask {
                    id,
                    recording_id: RecordingId::parse(&rid).map_err(|_| corrupt("repair task recording"))?,
                    site,
                    reason,
                    created_at: from_micros(at)?,
                });
            }
            Ok(out)
        })
    }

    fn audit_size(&self) -> Result<u64, CatalogError> {
        // Leaves are contiguous from 0 (a trigger refuses gaps), so the size is the largest
        // index plus one: a lookup at the end of the rowid tree, not a count of every row
        // (the syslog forwarders and the checkpoint job ask often).
        self.read(|c| {
            Ok(
                c.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    }

    fn for_each_audit_leaf(
        &self,
        start: u64,
        end: u64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        self.scan(|c| {
            let mut stmt = c.prepare_cached("SELECT idx, event, leaf_hash FROM audit_log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
            let mut rows = stmt.query(params![start as i64, end as i64])?;
            while let Some(row) = rows.next()? {
                let idx = row.get::<_, i64>(0)? as u64;
                let event = row.get_ref(1)?.as_blob().map_err(|_| corrupt("audit event column"))?;
                let lh = row.get_ref(2)?.as_blob().map_err(|_| corrupt("leaf hash column"))?;
                let lh: Hash = lh.try_into().map_err(|_| corrupt("leaf hash length"))?;
                f(idx, event, &lh)?;
            }
            Ok(())
        })
    }

    fn for_each_audit_leaf_in_time(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        self.scan(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, event, leaf_hash FROM audit_log WHERE time_us >= ?1 AND time_us < ?2
                 ORDER BY idx",
            )?;
            let mut rows = stmt.query(params![micros(from), micros(to)])?;
            while let Some(row) = rows.next()? {
                let idx = row.get::<_, i64>(0)? as u64;
                let event = row
                    .get_ref(1)?
                    .as_blob()
                    .map_err(|_| corrupt("audit event column"))?;
                let lh = row
                    .get_ref(2)?
                    .as_blob()
                    .map_err(|_| corrupt("leaf hash column"))?;
                let lh: Hash = lh.try_into().map_err(|_| corrupt("leaf hash length"))?;
                f(idx, event, &lh)?;
            }
            Ok(())
        })
    }

    fn audit_events_by_action(
        &self,
        actions: &[&str],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, event FROM audit_log WHERE action = ?1 AND length(event) > 0 ORDER BY idx",
            )?;
            let mut out = Vec::new();
            for a in actions {
                let rows = stmt.query_map([a], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            out.sort_by_key(|(i, _)| *i);
            Ok(out)
        })
    }

    fn audit_prunes(&self, id: Option<&str>) -> Result<Vec<AuditPruneRow>, CatalogError> {
        self.read(|c| pruning::orders(c, id))
    }

    fn audit_min_index(&self) -> Result<Option<(u64, OffsetDateTime)>, CatalogError> {
        self.read(|c| pruning::min_index(c))
    }

    fn first_audit_leaf_since(&self, t: OffsetDateTime) -> Result<u64, CatalogError> {
        self.read(|c| pruning::first_leaf_since(c, t))
    }

    fn care_providers(&self) -> Result<Vec<CareProvider>, CatalogError> {
        self.read(|c| pruning::care_providers(c))
    }

    fn audit_event(&self, idx: u64) -> Result<Option<Vec<u8>>, CatalogError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT event FROM audit_log WHERE idx = ?1",
                [idx as i64],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?)
        })
    }

    fn followup_runs(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<FollowUpRun>, CatalogError> {
        self.read(|c| followup::runs(c, cp, id))
    }

    fn followup_findings(&self, run_id: &str) -> Result<Vec<Finding>, CatalogError> {
        self.read(|c| followup::findings(c, run_id))
    }

    fn protected_patients(&self, cp: &CareProvider) -> Result<Vec<[u8; 32]>, CatalogError> {
        self.read(|c| followup::protected_patients(c, cp))
    }

    fn user_personal_ids(&self, cp: &CareProvider) -> Result<Vec<(HsaId, [u8; 32])>, CatalogError> {
        self.read(|c| followup::personal_ids(c, cp))
    }

    fn audit_events_by_patient(
        &self,
        bidx: &[u8; 32],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, event FROM audit_log WHERE patient_bidx = ?1 ORDER BY idx",
            )?;
            let rows = stmt.query_map([&bidx[..]], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?);
            }
            Ok(out)
        })
    }

    fn audit_leaf_hashes(&self, end: u64) -> Result<Vec<Hash>, CatalogError> {
        let mut out = Vec::with_capacity(end as usize);
        self.for_each_audit_leaf(0, end, &mut |_, _, h| {
            out.push(*h);
            Ok(())
        })?;
        Ok(out)
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, CatalogError> {
        Ok(self.checkpoints()?.pop())
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT size, root_hash, note, created_at_us FROM checkpoints ORDER BY size",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (size, root, note, at) = row?;
                out.push(StoredCheckpoint {
                    size: size as u64,
                    root_hash: arr(root, "checkpoint root")?,
                    note,
                    created_at: from_micros(at)?,
                });
            }
            Ok(out)
        })
    }

    fn care_provider_retention(&self, cp: &CareProvider) -> Result<Option<u32>, CatalogError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT retention_years FROM care_providers WHERE hsa_id = ?1",
                [cp.as_str()],
                |r| r.get::<_, u32>(0),
            )
            .optional()?)
        })
    }

    fn stats(&self) -> Result<CatalogStats, CatalogError> {
        self.read(|c| {
            let count = |sql: &str| -> Result<u64, CatalogError> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
            let mut s = CatalogStats {
                recordings: count("SELECT COUNT(*) FROM recordings")?,
                under_replicated: count("SELECT COUNT(DISTINCT recording_id) FROM placements WHERE state != 'ok'")?,
                open_repair_tasks: count("SELECT COUNT(*) FROM repair_tasks WHERE done_at_us IS NULL")?,
                plaintext_bytes: count("SELECT COALESCE(SUM(plaintext_size), 0) FROM recordings")?,
                audit_events: count("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log")?,
                ..Default::default()
            };
            let mut stmt = c.prepare("SELECT care_provider, COUNT(*) FROM recordings GROUP BY care_provider ORDER BY care_provider")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))? {
                s.per_care_provider.push(row?);
            }
            let mut stmt = c.prepare(
                "SELECT care_provider, kek_version, COUNT(*) FROM recordings GROUP BY care_provider, kek_version ORDER BY 1, 2",
            )?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)? as u64)))? {
                s.per_kek_version.push(row?);
            }
            Ok(s)
        })
    }

    fn user(&self, hsa_id: &HsaId) -> Result<Option<UserRow>, CatalogError> {
        self.read(|c| governance::user(c, hsa_id))
    }

    fn users(&self, cp: Option<&CareProvider>) -> Result<Vec<UserRow>, CatalogError> {
        self.read(|c| governance::users(c, cp))
    }

    fn assignment(&self, id: &str) -> Result<Option<AssignmentRow>, CatalogError> {
        self.read(|c| governance::assignment(c, id))
    }

    fn assignments(
        &self,
        cp: Option<&CareProvider>,
        state: Option<AssignmentState>,
    ) -> Result<Vec<AssignmentRow>, CatalogError> {
        self.read(|c| governance::assignments(c, cp, state))
    }

    fn assignment_last_use(&self, id: &str) -> Result<Option<OffsetDateTime>, CatalogError> {
        self.read(|c| governance::last_use(c, id))
    }

    fn legal_holds(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<LegalHoldRow>, CatalogError> {
        self.read(|c| records::holds(c, cp, id))
    }

    fn active_holds_of(&self, id: &RecordingId) -> Result<Vec<String>, CatalogError> {
        self.read(|c| records::active_holds_of(c, id))
    }

    fn deletion_orders(
        &self,
        cp: Option<&CareProvider>,
        id: Option<&str>,
        state: Option<DeletionState>,
    ) -> Result<Vec<DeletionOrderRow>, CatalogError> {
        self.read(|c| records::orders(c, cp, id, state))
    }

    fn deletion_items(&self, id: &str) -> Result<Vec<(RecordingId, bool)>, CatalogError> {
        self.read(|c| records::order_items(c, id))
    }

    fn tombstones(
        &self,
        order: Option<&str>,
        id: Option<&RecordingId>,
        pending_blobs_only: bool,
    ) -> Result<Vec<Tombstone>, CatalogError> {
        self.read(|c| records::tombstones(c, order, id, pending_blobs_only))
    }

    fn recordings_past_retention(
        &self,
        cp: &CareProvider,
        now: OffsetDateTime,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        self.read(|c| {
            query_recordings(
                c,
                "WHERE care_provider = ?1 AND retention_until_us <= ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                &[&cp.as_str(), &micros(now), &after, &(limit as i64)],
            )
        })
    }

    fn deletion_certificate(&self, id: &str) -> Result<Option<String>, CatalogError> {
        self.read(|c| records::certificate(c, id))
    }

    fn recordings_page(
        &self,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        self.read(|c| {
            query_recordings(
                c,
                "WHERE id > ?1 ORDER BY id LIMIT ?2",
                &[&after, &(limit as i64)],
            )
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT witness, line FROM cosignatures WHERE size = ?1 ORDER BY witness",
            )?;
            let rows = stmt.query_map([size as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
    }

    fn witness_size(&self, witness: &str) -> Result<Option<u64>, CatalogError> {
        self.read(|c| {
            let v: Option<i64> = c.query_row(
                "SELECT MAX(size) FROM cosignatures WHERE witness = ?1",
                [witness],
                |r| r.get(0),
            )?;
            Ok(v.map(|x| x as u64))
        })
    }

    fn truncate_wal(&self) -> Result<(), CatalogError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        for _ in 0..50 {
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(CatalogError::Busy)
    }
}

/// Opens the catalog file read-write without the writer thread, for tests that simulate an
/// attacker editing the database. Not for production use.
pub fn raw_connection(path: &Path) -> Result<Connection, CatalogError> {
    Ok(Connection::open(path)?)
}
