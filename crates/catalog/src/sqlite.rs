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

use callvault_audit::merkle::Hash;
use callvault_types::{CallId, CareProvider, HsaId, RecordingId};
use rusqlite::{Connection, OpenFlags, params};
use time::OffsetDateTime;

use crate::error::corrupt;
use crate::queries;
use crate::schema::MIGRATIONS;
use crate::sql::p;
use crate::{
    AssignmentRow, AssignmentState, AuditLeafVisitor, Catalog, CatalogError, CatalogStats, Change,
    Committed, PendingCommit, Placement, RecordingRow, RepairTask, StoredCheckpoint, UserRow,
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

fn writer_loop(mut conn: Connection, rx: Receiver<(Change, Reply)>, transactions: &AtomicU64) {
    let mut next = match queries::next_index(&conn) {
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
                next = queries::next_index(&conn).unwrap_or(start);
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
        match queries::apply_change(&*tx, change, next) {
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
        self.read(|c| Ok(queries::recordings(c, "WHERE id = ?1", p![&id.to_string()])?.pop()))
    }

    fn recording_by_call(
        &self,
        cp: &CareProvider,
        call_id: &CallId,
    ) -> Result<Option<RecordingRow>, CatalogError> {
        self.read(|c| {
            Ok(queries::recordings(
                c,
                "WHERE care_provider = ?1 AND call_id = ?2",
                p![cp.as_str(), call_id.as_str()],
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
            queries::recordings(
                c,
                "WHERE care_provider = ?1 AND patient_bidx = ?2 ORDER BY started_at_us",
                p![cp.as_str(), bidx],
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
            let page = self.read(|c| {
                queries::recordings(c, "WHERE id > ?1 ORDER BY id LIMIT 256", p![&after])
            })?;
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
            queries::recordings(
                c,
                "WHERE care_provider = ?1 AND kek_version < ?2 ORDER BY id LIMIT ?3",
                p![cp.as_str(), i64::from(version), limit as i64],
            )
        })
    }

    fn recording_events(
        &self,
        id: &RecordingId,
        actions: &[&str],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.read(|c| queries::recording_events(c, id, actions))
    }

    fn placements(&self, id: &RecordingId) -> Result<Vec<Placement>, CatalogError> {
        self.read(|c| queries::placements(c, id))
    }

    fn open_repair_tasks(&self) -> Result<Vec<RepairTask>, CatalogError> {
        self.read(|c| queries::open_repair_tasks(c))
    }

    fn audit_size(&self) -> Result<u64, CatalogError> {
        // Leaves are contiguous from 0 (a trigger refuses gaps), so the size is the largest
        // index plus one: a lookup at the end of the rowid tree, not a count of every row
        // (the syslog forwarders and the checkpoint job ask often).
        self.read(|c| queries::next_index(c))
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
        self.read(|c| queries::audit_events_by_action(c, actions))
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
        self.read(|c| queries::audit_event(c, idx))
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
        self.read(|c| queries::audit_events_by_patient(c, bidx))
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
        self.read(|c| queries::checkpoints(c))
    }

    fn care_provider_retention(&self, cp: &CareProvider) -> Result<Option<u32>, CatalogError> {
        self.read(|c| queries::care_provider_retention(c, cp))
    }

    fn stats(&self) -> Result<CatalogStats, CatalogError> {
        self.read(|c| queries::stats(c))
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
            queries::recordings(
                c,
                "WHERE care_provider = ?1 AND retention_until_us <= ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                p![cp.as_str(), micros(now), &after, limit as i64],
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
            queries::recordings(
                c,
                "WHERE id > ?1 ORDER BY id LIMIT ?2",
                p![&after, limit as i64],
            )
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, CatalogError> {
        self.read(|c| queries::cosignatures(c, size))
    }

    fn witness_size(&self, witness: &str) -> Result<Option<u64>, CatalogError> {
        self.read(|c| queries::witness_size(c, witness))
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
