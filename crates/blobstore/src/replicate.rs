//! Writing one blob to every site at once.
//!
//! Every site has a writer thread of its own, fed through a bounded queue. A site slower than
//! the producer holds it back — the blob streams at the pace of the slowest site — but only
//! up to that site's [`BlobStore::write_timeout`]: a site that takes no chunk, or does not
//! finish its commit, for that long is given up for this blob (its writer is told to
//! discard) and the producer goes on with the others. A writer stuck inside the operating
//! system (a hung mount) cannot be stopped; it is left to end on its own thread. If it does
//! finish its put later, that object is either one no catalog row names (reported by
//! `verify`, removed by `repair`) or a copy whose placement the catalog already holds as
//! missing (replaced by `repair`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{BlobError, BlobKey, BlobStore, PutOutcome, SiteId};

/// Chunks in flight per site before the producer waits for the slowest site.
const QUEUE_DEPTH: usize = 8;

/// Writers of one store that were given up while stuck and have not ended yet. At this
/// many, the store is not tried for new blobs until one ends: a site hung for hours does
/// not collect a stuck thread per recording.
const MAX_STUCK_WRITERS: usize = 4;

/// Stuck writers per store (by the store's address), see [`MAX_STUCK_WRITERS`].
static STUCK: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn stuck() -> MutexGuard<'static, BTreeMap<usize, usize>> {
    STUCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sees every chunk of a replicated blob, in order, on its own thread.
pub type ChunkObserver<'a> = dyn FnMut(&[u8]) + Send + 'a;

/// What happened at one site.
#[derive(Debug)]
pub struct SiteOutcome {
    /// The site.
    pub site: SiteId,
    /// Created, already present, or the error that stopped this site.
    pub result: Result<PutOutcome, BlobError>,
}

/// A chunk for a site's writer; `None` ends the stream (commit).
type Chunk = Option<Arc<Vec<u8>>>;

/// The bounded queue between the producer and one site's writer.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Chunk>,
    /// The producer gave this site up (or failed): the writer discards its upload.
    abandoned: bool,
    /// The writer has stopped (finished or failed): nothing more is taken.
    writer_stopped: bool,
    /// The producer gave the writer up while it was still running: it counts in [`STUCK`]
    /// under this store until it ends.
    counted_stuck: Option<usize>,
}

enum Pushed {
    Queued,
    WriterStopped,
    Stalled,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item`, waiting for room at most until `deadline`.
    fn push(&self, item: Chunk, deadline: Instant) -> Pushed {
        let mut st = self.lock();
        loop {
            if st.writer_stopped {
                return Pushed::WriterStopped;
            }
            if st.items.len() < QUEUE_DEPTH {
                st.items.push_back(item);
                self.changed.notify_all();
                return Pushed::Queued;
            }
            let now = Instant::now();
            if now >= deadline {
                return Pushed::Stalled;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The next chunk for the writer, or `None` if the producer gave the site up.
    fn pop(&self) -> Option<Chunk> {
        let mut st = self.lock();
        loop {
            if st.abandoned {
                return None;
            }
            if let Some(item) = st.items.pop_front() {
                self.changed.notify_all();
                return Some(item);
            }
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn pending(&self) -> usize {
        self.lock().items.len()
    }

    /// Tells the writer to discard; its queued chunks are dropped at once.
    fn abandon(&self) {
        let mut st = self.lock();
        st.abandoned = true;
        st.items.clear();
        self.changed.notify_all();
    }

    /// Gives up a writer that made no progress: as `abandon`, and while it has not ended it
    /// counts as stuck for `store`.
    fn give_up(&self, store: usize) {
        let mut st = self.lock();
        if !st.writer_stopped && st.counted_stuck.is_none() {
            st.counted_stuck = Some(store);
            *stuck().entry(store).or_default() += 1;
        }
        drop(st);
        self.abandon();
    }

    fn writer_stopped(&self) {
        let mut st = self.lock();
        st.writer_stopped = true;
        if let Some(store) = st.counted_stuck.take() {
            let mut m = stuck();
            if let Some(n) = m.get_mut(&store) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&store);
                }
            }
        }
        self.changed.notify_all();
    }
}

/// Calls [`Queue::writer_stopped`] when the writer thread ends, however it ends.
struct StopGuard(Arc<Queue>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.writer_stopped();
    }
}

/// One site's writer thread, seen from the producer.
struct Writer {
    site: SiteId,
    /// The store's address, its key in [`STUCK`].
    store: usize,
    timeout: Duration,
    queue: Arc<Queue>,
    done: std::sync::mpsc::Receiver<Result<Option<PutOutcome>, BlobError>>,
    /// Set when the site failed or was given up before the end of the stream.
    failed: Option<BlobError>,
}

impl Writer {
    fn spawn(store: &Arc<dyn BlobStore>, key: &BlobKey) -> Self {
        let queue = Arc::new(Queue::default());
        let (tx, done) = std::sync::mpsc::channel();
        let site = store.site().clone();
        let address = Arc::as_ptr(store).cast::<()>() as usize;
        let mut w = Self {
            site: site.clone(),
            store: address,
            timeout: store.write_timeout(),
            queue: Arc::clone(&queue),
            done,
            failed: None,
        };
        let stuck_now = stuck().get(&address).copied().unwrap_or(0);
        if stuck_now >= MAX_STUCK_WRITERS {
            w.failed = Some(BlobError::StillStuck {
                site: site.to_string(),
                writers: stuck_now,
            });
            return w;
        }
        let store = Arc::clone(store);
        let key = key.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("site-{site}"))
            .spawn(move || {
                // Marks the writer stopped however it ends, a panic included, so that it
                // never counts as stuck for ever.
                let _stopped = StopGuard(Arc::clone(&queue));
                let result = (|| -> Result<Option<PutOutcome>, BlobError> {
                    let mut put = store.begin_put(&key)?;
                    loop {
                        match queue.pop() {
                            Some(Some(chunk)) => put.write(&chunk)?,
                            Some(None) => return put.commit().map(Some),
                            // Given up: dropping the handle discards the upload.
                            None => return Ok(None),
                        }
                    }
                })();
                drop(_stopped);
                let _ = tx.send(result);
            });
        if spawned.is_err() {
            w.failed = Some(BlobError::WriterGone(site.to_string()));
        }
        w
    }

    fn stalled(&self) -> BlobError {
        BlobError::Stalled {
            site: self.site.to_string(),
            secs: self.timeout.as_secs(),
        }
    }

    /// Hands the writer `item`, unless the site has already failed or been given up.
    fn feed(&mut self, item: Chunk) {
        if self.failed.is_some() {
            return;
        }
        match self.queue.push(item, Instant::now() + self.timeout) {
            // A writer that stopped early reports why at the end.
            Pushed::Queued | Pushed::WriterStopped => {}
            Pushed::Stalled => {
                self.queue.give_up(self.store);
                self.failed = Some(self.stalled());
            }
        }
    }

    /// The writer's result, waiting while it makes progress (takes chunks) and at most one
    /// write timeout without any.
    fn finish(self) -> Result<PutOutcome, BlobError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut pending = self.queue.pending();
        loop {
            match self.done.recv_timeout(self.timeout) {
                Ok(Ok(Some(o))) => return Ok(o),
                Ok(Ok(None)) => return Err(BlobError::WriterGone(self.site.to_string())),
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BlobError::WriterGone(self.site.to_string()));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = self.queue.pending();
                    if now < pending {
                        pending = now;
                        continue;
                    }
                    self.queue.give_up(self.store);
                    // It may have finished just now; then its result stands.
                    return match self.done.try_recv() {
                        Ok(Ok(Some(o))) => Ok(o),
                        Ok(Err(e)) => Err(e),
                        _ => Err(self.stalled()),
                    };
                }
            }
        }
    }

    /// Tells the writer to discard, and waits until it has, at most until `deadline`; a
    /// writer still running then counts as stuck.
    fn discard(self, deadline: Instant) {
        self.queue.abandon();
        let left = deadline.saturating_duration_since(Instant::now());
        if self.done.recv_timeout(left).is_err() {
            self.queue.give_up(self.store);
        }
    }
}

/// Streams the chunks from `next_chunk` to every store concurrently (one writer thread per
/// site) and commits at each site that received every chunk.
///
/// A site that fails, or makes no progress for its write timeout, is reported and the
/// others go on: the caller decides whether enough sites hold the blob. If `next_chunk`
/// itself fails, no site commits and the error is returned. `observer`, if given, sees
/// every chunk in order on a thread of its own (used to hash the blob without slowing the
/// producer).
pub fn replicate<E>(
    stores: &[Arc<dyn BlobStore>],
    key: &BlobKey,
    mut next_chunk: impl FnMut() -> Result<Option<Vec<u8>>, E>,
    observer: Option<&mut ChunkObserver<'_>>,
) -> Result<Vec<SiteOutcome>, E> {
    std::thread::scope(|scope| {
        let mut observe_tx = None;
        if let Some(observe) = observer {
            let (tx, rx) = sync_channel::<Chunk>(QUEUE_DEPTH);
            observe_tx = Some(tx);
            scope.spawn(move || {
                while let Ok(Some(chunk)) = rx.recv() {
                    observe(&chunk);
                }
            });
        }
        let mut writers: Vec<Writer> = stores.iter().map(|s| Writer::spawn(s, key)).collect();
        let mut producer_error = None;
        loop {
            match next_chunk() {
                Ok(Some(chunk)) => {
                    let chunk = Arc::new(chunk);
                    if let Some(tx) = &observe_tx {
                        let _ = tx.send(Some(Arc::clone(&chunk)));
                    }
                    for w in &mut writers {
                        w.feed(Some(Arc::clone(&chunk)));
                    }
                }
                Ok(None) => {
                    if let Some(tx) = &observe_tx {
                        let _ = tx.send(None);
                    }
                    for w in &mut writers {
                        w.feed(None);
                    }
                    break;
                }
                Err(e) => {
                    producer_error = Some(e);
                    break;
                }
            }
        }
        drop(observe_tx);
        if let Some(e) = producer_error {
            // Writers only commit at the end of the stream, so no site committed anything.
            for w in &writers {
                w.queue.abandon();
            }
            let longest = writers.iter().map(|w| w.timeout).max().unwrap_or_default();
            let deadline = Instant::now() + longest;
            for w in writers {
                w.discard(deadline);
            }
            return Err(e);
        }
        Ok(writers
            .into_iter()
            .map(|w| SiteOutcome {
                site: w.site.clone(),
                result: w.finish(),
            })
            .collect())
    })
}
