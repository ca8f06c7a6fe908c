//! What both database engines share: the group-commit writer thread and the `Catalog`
//! methods, written once over an [`Engine`] (SQLite or PostgreSQL) that supplies
//! connections and transactions.
//!
//! One writer thread owns the write connection. Callers send it changes; it takes every
//! change waiting in its queue (up to `MAX_BATCH`), applies each inside its own savepoint of
//! one transaction, commits once — one durable flush for the whole batch (group commit) —
//! and then answers each caller. A change that fails rolls back to its savepoint alone; a
//! failed commit fails every change of the batch, and none is durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use callvault_audit::merkle::Hash;
use callvault_types::{CallId, CareProvider, HsaId, RecordingId};
use time::OffsetDateTime;

use crate::queries;
use crate::sql::{Sql, p};
use crate::sqlite::micros;
use crate::{
    AssignmentRow, AssignmentState, AuditLeafVisitor, AuditPruneRow, Catalog, CatalogError,
    CatalogRead, CatalogStats, Change, Committed, DeletionOrderRow, DeletionState, Finding,
    FollowUpRun, LegalHoldRow, PendingCommit, Placement, RecordingRow, RepairTask,
    StoredCheckpoint, Tombstone, UserRow, followup, governance, pruning, records,
};

/// Most changes folded into one transaction.
pub(crate) const MAX_BATCH: usize = 1024;

/// Where the writer answers: a blocked thread, or an async task.
pub(crate) enum Reply {
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

/// The write connection of an engine, owned by the writer thread.
pub(crate) trait WriteConn: Send + 'static {
    /// One transaction: `apply` is called for each change inside its own savepoint; a change
    /// whose `apply` fails is rolled back to its savepoint. Commits once at the end.
    fn batch(
        &mut self,
        changes: &[&Change],
        apply: &mut dyn FnMut(&dyn Sql, &Change) -> Result<Committed, CatalogError>,
    ) -> Result<Vec<Result<Committed, CatalogError>>, CatalogError>;
}

/// The writer thread and its queue.
pub(crate) struct Writer {
    transactions: Arc<AtomicU64>,
    tx: Mutex<Option<SyncSender<(Change, Reply)>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(conn: impl WriteConn) -> Result<Self, CatalogError> {
        let (tx, rx) = sync_channel::<(Change, Reply)>(MAX_BATCH * 4);
        let transactions = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&transactions);
        let thread = std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || writer_loop(conn, rx, &counter))
            .map_err(|_| CatalogError::WriterStopped)?;
        Ok(Self {
            transactions,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Transactions committed since opening (each is one durable flush).
    pub(crate) fn transactions_committed(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    pub(crate) fn commit(&self, change: Change) -> Result<Committed, CatalogError> {
        if change.events.is_empty() {
            // Unreachable through `Change::new`, kept as a last line of defence.
            return Err(CatalogError::Corrupt("change without audit event".into()));
        }
        let (reply_tx, reply_rx) = channel();
        {
            let guard = self.tx.lock().map_err(|_| CatalogError::WriterStopped)?;
            let tx = guard.as_ref().ok_or(CatalogError::WriterStopped)?;
            tx.send((change, Reply::Wait(reply_tx)))
                .map_err(|_| CatalogError::WriterStopped)?;
        }
        reply_rx.recv().map_err(|_| CatalogError::WriterStopped)?
    }

    pub(crate) fn submit(&self, change: Change) -> Result<PendingCommit, CatalogError> {
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
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut w) = self.thread.lock()
            && let Some(h) = w.take()
        {
            let _ = h.join();
        }
    }
}

fn writer_loop(mut conn: impl WriteConn, rx: Receiver<(Change, Reply)>, transactions: &AtomicU64) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        // The next leaf index is read inside each transaction (an index seek), never carried
        // over from the last one: another process may append between two batches (a reading
        // command beside the server records its read; several servers on one PostgreSQL
        // catalog), and the append-next guard would refuse a stale index.
        let mut index: Option<u64> = None;
        let changes: Vec<&Change> = batch.iter().map(|(c, _)| c).collect();
        let result = conn.batch(&changes, &mut |tx, change| {
            let start = match index {
                Some(i) => i,
                None => queries::next_index(tx)?,
            };
            let mut next = start;
            let r = queries::apply_change(tx, change, &mut next);
            index = Some(if r.is_ok() { next } else { start });
            r
        });
        match result {
            Ok(results) => {
                transactions.fetch_add(1, Ordering::Relaxed);
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    reply.send(result);
                }
            }
            Err(e) => {
                // The transaction did not commit: nothing of the batch is durable.
                let msg = e.to_string();
                for (_, reply) in batch {
                    reply.send(Err(CatalogError::CommitFailed(msg.clone())));
                }
            }
        }
    }
}

/// A pool of read connections: the first idle one, starting at a rotating position (so
/// concurrent readers do not queue behind one another); if all are busy, the one at the
/// starting position once it is free.
pub(crate) struct ReadPool<C> {
    conns: Vec<std::sync::Mutex<C>>,
    next: AtomicU64,
}

impl<C> ReadPool<C> {
    pub(crate) fn new(conns: Vec<C>) -> Self {
        Self {
            conns: conns.into_iter().map(std::sync::Mutex::new).collect(),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self) -> Result<std::sync::MutexGuard<'_, C>, CatalogError> {
        let n = self.conns.len();
        if n == 0 {
            return Err(CatalogError::WriterStopped);
        }
        let start = (self.next.fetch_add(1, Ordering::Relaxed) as usize) % n;
        for i in 0..n {
            if let Ok(conn) = self.conns[(start + i) % n].try_lock() {
                return Ok(conn);
            }
        }
        self.conns[start]
            .lock()
            .map_err(|_| CatalogError::WriterStopped)
    }
}

/// What an engine supplies to the shared `Catalog` implementation.
pub(crate) trait Engine: Send + Sync + 'static {
    /// Runs a point read on a pooled read connection.
    fn read<T>(&self, f: impl Fn(&dyn Sql) -> Result<T, CatalogError>) -> Result<T, CatalogError>;
    /// Visits audit leaves by index (`[from, to)`) or by time (`[from, to)` in
    /// microseconds), in order.
    fn audit_leaves(
        &self,
        by_time: bool,
        from: i64,
        to: i64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError>;
    /// Makes deleted rows' old page images unreachable on disk, where the engine can.
    fn truncate_wal(&self) -> Result<(), CatalogError>;
}

/// A catalog: an engine and its writer.
pub struct Store<E> {
    pub(crate) engine: E,
    pub(crate) writer: Writer,
}

impl<E> Store<E> {
    /// Transactions committed by the writer since opening (each is one durable flush); with
    /// concurrent callers it is lower than the number of changes: group commit.
    pub fn transactions_committed(&self) -> u64 {
        self.writer.transactions_committed()
    }
}

impl<E: Engine> Catalog for Store<E>
where
    Store<E>: std::fmt::Debug,
{
    fn commit(&self, change: Change) -> Result<Committed, CatalogError> {
        self.writer.commit(change)
    }

    fn submit(&self, change: Change) -> Result<PendingCommit, CatalogError> {
        self.writer.submit(change)
    }

    fn truncate_wal(&self) -> Result<(), CatalogError> {
        self.engine.truncate_wal()
    }
}

impl<E: Engine> CatalogRead for Store<E>
where
    Store<E>: std::fmt::Debug,
{
    fn recording(&self, id: &RecordingId) -> Result<Option<RecordingRow>, CatalogError> {
        self.engine
            .read(|c| Ok(queries::recordings(c, "WHERE id = ?1", p![&id.to_string()])?.pop()))
    }

    fn recording_by_call(
        &self,
        cp: &CareProvider,
        call_id: &CallId,
    ) -> Result<Option<RecordingRow>, CatalogError> {
        self.engine.read(|c| {
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
        self.engine.read(|c| {
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
        // Page through by id so that no read is held open while `f` does I/O.
        let mut after = String::new();
        loop {
            let page = self.engine.read(|c| {
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
        self.engine.read(|c| {
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
        self.engine
            .read(|c| queries::recording_events(c, id, actions))
    }

    fn patient_links(&self, id: &RecordingId) -> Result<Vec<crate::PatientLinkRow>, CatalogError> {
        self.engine.read(|c| crate::links::links(c, id))
    }

    fn placements(&self, id: &RecordingId) -> Result<Vec<Placement>, CatalogError> {
        self.engine.read(|c| queries::placements(c, id))
    }

    fn open_repair_tasks(&self) -> Result<Vec<RepairTask>, CatalogError> {
        self.engine.read(|c| queries::open_repair_tasks(c))
    }

    fn audit_size(&self) -> Result<u64, CatalogError> {
        // Leaves are contiguous from 0 (a trigger refuses gaps), so the size is the largest
        // index plus one: a lookup at the end of the index, not a count of every row (the
        // syslog forwarders and the checkpoint job ask often).
        self.engine.read(|c| queries::next_index(c))
    }

    fn for_each_audit_leaf(
        &self,
        start: u64,
        end: u64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        self.engine
            .audit_leaves(false, start as i64, end.min(i64::MAX as u64) as i64, f)
    }

    fn for_each_audit_leaf_in_time(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        self.engine.audit_leaves(true, micros(from), micros(to), f)
    }

    fn audit_events_by_action(
        &self,
        actions: &[&str],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.engine
            .read(|c| queries::audit_events_by_action(c, actions))
    }

    fn audit_prunes(&self, id: Option<&str>) -> Result<Vec<AuditPruneRow>, CatalogError> {
        self.engine.read(|c| pruning::orders(c, id))
    }

    fn audit_min_index(&self) -> Result<Option<(u64, OffsetDateTime)>, CatalogError> {
        self.engine.read(|c| pruning::min_index(c))
    }

    fn first_audit_leaf_since(&self, t: OffsetDateTime) -> Result<u64, CatalogError> {
        self.engine.read(|c| pruning::first_leaf_since(c, t))
    }

    fn care_providers(&self) -> Result<Vec<CareProvider>, CatalogError> {
        self.engine.read(|c| pruning::care_providers(c))
    }

    fn audit_event(&self, idx: u64) -> Result<Option<Vec<u8>>, CatalogError> {
        self.engine.read(|c| queries::audit_event(c, idx))
    }

    fn followup_runs(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<FollowUpRun>, CatalogError> {
        self.engine.read(|c| followup::runs(c, cp, id))
    }

    fn followup_findings(&self, run_id: &str) -> Result<Vec<Finding>, CatalogError> {
        self.engine.read(|c| followup::findings(c, run_id))
    }

    fn protected_patients(&self, cp: &CareProvider) -> Result<Vec<[u8; 32]>, CatalogError> {
        self.engine.read(|c| followup::protected_patients(c, cp))
    }

    fn user_personal_ids(&self, cp: &CareProvider) -> Result<Vec<(HsaId, [u8; 32])>, CatalogError> {
        self.engine.read(|c| followup::personal_ids(c, cp))
    }

    fn audit_events_by_patient(
        &self,
        bidx: &[u8; 32],
    ) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        self.engine
            .read(|c| queries::audit_events_by_patient(c, bidx))
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
        self.engine.read(|c| queries::checkpoints(c))
    }

    fn care_provider_retention(&self, cp: &CareProvider) -> Result<Option<u32>, CatalogError> {
        self.engine
            .read(|c| queries::care_provider_retention(c, cp))
    }

    fn stats(&self) -> Result<CatalogStats, CatalogError> {
        self.engine.read(|c| queries::stats(c))
    }

    fn user(&self, hsa_id: &HsaId) -> Result<Option<UserRow>, CatalogError> {
        self.engine.read(|c| governance::user(c, hsa_id))
    }

    fn users(&self, cp: Option<&CareProvider>) -> Result<Vec<UserRow>, CatalogError> {
        self.engine.read(|c| governance::users(c, cp))
    }

    fn assignment(&self, id: &str) -> Result<Option<AssignmentRow>, CatalogError> {
        self.engine.read(|c| governance::assignment(c, id))
    }

    fn assignments(
        &self,
        cp: Option<&CareProvider>,
        state: Option<AssignmentState>,
    ) -> Result<Vec<AssignmentRow>, CatalogError> {
        self.engine.read(|c| governance::assignments(c, cp, state))
    }

    fn assignment_last_use(&self, id: &str) -> Result<Option<OffsetDateTime>, CatalogError> {
        self.engine.read(|c| governance::last_use(c, id))
    }

    fn legal_holds(
        &self,
        cp: &CareProvider,
        id: Option<&str>,
    ) -> Result<Vec<LegalHoldRow>, CatalogError> {
        self.engine.read(|c| records::holds(c, cp, id))
    }

    fn active_holds_of(&self, id: &RecordingId) -> Result<Vec<String>, CatalogError> {
        self.engine.read(|c| records::active_holds_of(c, id))
    }

    fn deletion_orders(
        &self,
        cp: Option<&CareProvider>,
        id: Option<&str>,
        state: Option<DeletionState>,
    ) -> Result<Vec<DeletionOrderRow>, CatalogError> {
        self.engine.read(|c| records::orders(c, cp, id, state))
    }

    fn deletion_items(&self, id: &str) -> Result<Vec<(RecordingId, bool)>, CatalogError> {
        self.engine.read(|c| records::order_items(c, id))
    }

    fn tombstones(
        &self,
        order: Option<&str>,
        id: Option<&RecordingId>,
        pending_blobs_only: bool,
    ) -> Result<Vec<Tombstone>, CatalogError> {
        self.engine
            .read(|c| records::tombstones(c, order, id, pending_blobs_only))
    }

    fn recordings_past_retention(
        &self,
        cp: &CareProvider,
        now: OffsetDateTime,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        self.engine.read(|c| {
            queries::recordings(
                c,
                "WHERE care_provider = ?1 AND retention_until_us <= ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                p![cp.as_str(), micros(now), &after, limit as i64],
            )
        })
    }

    fn deletion_certificate(&self, id: &str) -> Result<Option<String>, CatalogError> {
        self.engine.read(|c| records::certificate(c, id))
    }

    fn recordings_page(
        &self,
        after: Option<&RecordingId>,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, CatalogError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        self.engine.read(|c| {
            queries::recordings(
                c,
                "WHERE id > ?1 ORDER BY id LIMIT ?2",
                p![&after, limit as i64],
            )
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, CatalogError> {
        self.engine.read(|c| queries::cosignatures(c, size))
    }

    fn witness_size(&self, witness: &str) -> Result<Option<u64>, CatalogError> {
        self.engine.read(|c| queries::witness_size(c, witness))
    }
}
