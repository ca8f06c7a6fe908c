//! Streaming ingest: `begin_ingest(start) → append(bytes)… → finish_ingest(end) | abort`.
//!
//! A recording is encrypted segment by segment and written to every site as its bytes
//! arrive, whatever its length; nothing in plaintext touches disk. What only the end of a
//! call tells — its duration, its size, its hashes — is known at `finish_ingest`, which
//! checks the stream, wraps the data key and commits the catalog row with its ingest event.
//! A session that is never finished (aborted, dropped, or cut by a crash) is never
//! acknowledged: its site writes are never committed (a crash leaves at most temporary files,
//! removed when a site is opened) and no catalog row exists.
//!
//! The producer may be synchronous ([`IngestSession::append`], the importer) or async
//! ([`IngestSession::append_async`], the HTTP upload; the recorder next). Either way the
//! bytes cross to a thread of the session's own through a small bounded channel, and only an
//! explicit end marker ends the audio: a producer that goes away is an abort, so a cut
//! stream is never mistaken for a short one.

use std::io::Read;
use std::sync::Arc;

use callvault_audit::event::{Action, Actor, AuditEvent, Outcome, RecordingRef, SealedPatient};
use callvault_blobstore::{BlobKey, BlobStore, PutOutcome, SiteOutcome, replicate};
use callvault_catalog::{
    Change, Mutation, NewRecording, Placement, PlacementState, RecordingSource,
};
use callvault_crypto::{
    CryptoError, DataKey, DekId, EnvelopeHeader, FieldKind, Sha256, WrapBinding,
};
use callvault_types::{
    CallId, CallerNumber, CareProvider, CareUnit, HsaId, PatientId, RecordingId,
};
use time::OffsetDateTime;

use crate::vault::{AUDIT_SEAL_CONTEXT, blob_key, truncate};
use crate::{Vault, VaultError};

/// Bytes handed between ingest threads at a time.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// Chunks in flight between a producer and its session's thread.
const FEED_DEPTH: usize = 8;

/// What is known of a call when its recording starts. Patient data is typed and never
/// printed.
#[derive(Debug, Clone)]
pub struct IngestStart {
    /// Owner.
    pub care_provider: CareProvider,
    /// Care unit.
    pub care_unit: CareUnit,
    /// Telephony call id.
    pub call_id: CallId,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// The patient, if known when the call starts (an import, an upload that names one). A
    /// live call usually has none: the nurse links it later ([`Vault::link_patient`]).
    pub patient: Option<PatientId>,
    /// Caller number.
    pub caller: Option<CallerNumber>,
    /// Nurse.
    pub nurse: Option<HsaId>,
    /// Codec name.
    pub codec: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

/// What is known only when the recording ends.
#[derive(Debug, Clone)]
pub struct IngestEnd {
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The least number of audio bytes the stream must hold (a WAV header's promise: its
    /// header plus its data chunk); a shorter stream is refused and nothing is kept —
    /// unless `incomplete` says why it is short.
    pub min_len: u64,
    /// Why the recording is incomplete, if it is (a call cut off by a crash, one stream
    /// missing, gaps): it is stored all the same, flagged with this reason, in the row and
    /// the ingest event. At most [`MAX_INCOMPLETE_REASON`] characters, one line.
    pub incomplete: Option<String>,
}

/// Longest reason an incomplete recording is flagged with.
pub const MAX_INCOMPLETE_REASON: usize = 200;

/// What entitles an ingest — the only ways to start one. The audit event's actor and
/// origin come from here, never from the caller, so they cannot be made up.
#[derive(Debug, Clone, Copy)]
pub enum IngestGrant<'a> {
    /// A recorder system the policy authorized for [`callvault_auth::Action::Ingest`] at
    /// the recording's care provider (and unit).
    Recorder(&'a callvault_auth::Authorized),
    /// The local operator importing an archive.
    Operator(&'a crate::Operator),
}

/// Who delivers, and how the ingest event names it (derived from an [`IngestGrant`]).
#[derive(Debug, Clone)]
struct IngestOrigin {
    source: RecordingSource,
    actor: Actor,
    origin: String,
    /// The recorder's assignment and its care provider (so the access review sees its use).
    assignment: Option<(String, CareProvider)>,
}

impl IngestGrant<'_> {
    /// The origin it grants for a recording at `cp`/`unit`, or why it does not cover it.
    fn origin(&self, cp: &CareProvider, unit: &CareUnit) -> Result<IngestOrigin, VaultError> {
        match self {
            Self::Operator(op) => Ok(IngestOrigin {
                source: RecordingSource::Import,
                actor: op.actor().clone(),
                origin: "cli:import".to_owned(),
                assignment: None,
            }),
            Self::Recorder(authz) => {
                let res = authz.resource();
                if authz.action() != callvault_auth::Action::Ingest
                    || &res.care_provider != cp
                    || res.care_unit.as_ref().is_some_and(|u| u != unit)
                    || !authz.scope().contains(unit)
                {
                    return Err(VaultError::CapabilityMismatch(
                        "the ingest decision is for another action, care provider or unit".into(),
                    ));
                }
                Ok(IngestOrigin {
                    source: RecordingSource::Ingest,
                    actor: crate::access::audit_actor(authz.principal()),
                    origin: crate::access::audit_source(authz.principal()),
                    assignment: Some((
                        authz.assignment().id.to_string(),
                        authz.assignment().care_provider.clone(),
                    )),
                })
            }
        }
    }
}

impl Vault {
    /// Records that a recording already in the vault was delivered again with the same audio
    /// (an idempotent retry by a recorder): who delivered it — taken from the grant, which
    /// must cover the recording's care provider and unit as an ingest would — and which
    /// recording it matched. Nothing else changes. Returns the event's leaf index.
    pub fn record_redelivery(
        &self,
        grant: IngestGrant<'_>,
        row: &callvault_catalog::RecordingRow,
    ) -> Result<u64, VaultError> {
        let origin = grant.origin(&row.rec.care_provider, &row.rec.care_unit)?;
        let mut e = AuditEvent::new(origin.actor, Action::Redelivery, origin.origin);
        e.recording = Some(RecordingRef {
            id: row.rec.id,
            plaintext_sha256: row.rec.plaintext_sha256,
        });
        e.care_provider = Some(row.rec.care_provider.clone());
        if let Some((asg, asg_cp)) = origin.assignment {
            e.assignment = Some(asg);
            e.actor_care_provider = Some(asg_cp);
        }
        e.patient = self.audit_patient(row)?;
        let committed = self.catalog.commit(Change::new(e))?;
        committed
            .leaf_indexes
            .first()
            .copied()
            .ok_or(VaultError::NoLeafIndex("re-delivery"))
    }
}

/// Result of an ingest.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// New recording id.
    pub id: RecordingId,
    /// Sites holding a durable copy.
    pub sites_ok: Vec<String>,
    /// Sites that failed, with the error; each has a repair task.
    pub sites_failed: Vec<(String, String)>,
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
    /// Retention date.
    pub retention_until: OffsetDateTime,
    /// Leaf index of the ingest event.
    pub leaf_index: u64,
}

/// What a producer hands the session's thread: a chunk, the end, or why it stopped.
type Piece = Result<Option<bytes::Bytes>, String>;

/// A recording being ingested. Feed it with [`append`](Self::append) or
/// [`append_async`](Self::append_async), then hand it to [`Vault::finish_ingest`] or
/// [`Vault::abort_ingest`]. Dropped unfinished, it is aborted: nothing is acknowledged.
#[derive(Debug)]
pub struct IngestSession {
    start: IngestStart,
    origin: IngestOrigin,
    id: RecordingId,
    dek_id: DekId,
    key: BlobKey,
    feed: Option<tokio::sync::mpsc::Sender<Piece>>,
    worker: Option<std::thread::JoinHandle<Result<(Encrypted, DataKey), VaultError>>>,
}

/// What the session's thread produced.
#[derive(Debug)]
struct Encrypted {
    outcomes: Vec<SiteOutcome>,
    plaintext_size: u64,
    plaintext_sha256: [u8; 32],
    ciphertext_size: u64,
    ciphertext_sha256: [u8; 32],
}

impl IngestSession {
    /// The recording's id (fixed at `begin_ingest`).
    pub fn id(&self) -> RecordingId {
        self.id
    }

    /// Hands the next bytes to the encryption, waiting while it is behind. For synchronous
    /// producers; an async task uses [`append_async`](Self::append_async).
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), VaultError> {
        let piece = Ok(Some(bytes::Bytes::copy_from_slice(bytes)));
        let sent = match &self.feed {
            Some(feed) => block_on(feed.send(piece)).is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.stopped()) }
    }

    /// [`append`](Self::append) for async producers: waits without holding a thread.
    pub async fn append_async(&mut self, bytes: bytes::Bytes) -> Result<(), VaultError> {
        let sent = match &self.feed {
            Some(feed) => feed.send(Ok(Some(bytes))).await.is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.stopped()) }
    }

    /// The reason the session's thread stopped taking bytes (its error), once it has.
    fn stopped(&mut self) -> VaultError {
        self.feed = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => VaultError::WorkerPanicked("ingest"),
            Some(Ok(Ok(_))) | None => VaultError::IngestStopped,
        }
    }

    /// Ends the stream and waits for the session's thread: the sites' outcomes, sizes and
    /// hashes, and the data key to wrap.
    fn end(&mut self) -> Result<(Encrypted, DataKey), VaultError> {
        if let Some(feed) = self.feed.take() {
            // A thread that stopped early reports why below.
            let _ = block_on(feed.send(Ok(None)));
        }
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(VaultError::WorkerPanicked("ingest")),
            None => Err(VaultError::IngestStopped),
        }
    }
}

impl Drop for IngestSession {
    fn drop(&mut self) {
        // Unfinished: the thread sees an error instead of the end marker and commits nothing.
        if let Some(feed) = self.feed.take() {
            let _ = feed.try_send(Err("the ingest was abandoned".into()));
        }
    }
}

/// Waits for `f` on this thread. A synchronous producer may be a runtime's thread (a test, an
/// embedding): tokio's `blocking_send` refuses those, and the session's receiver is a thread
/// of its own, never a task, so waiting here cannot starve it. (The parking waker of the
/// `std::task::Wake` documentation.)
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Reads the producer's pieces in the session's thread. Only an explicit end marker is the
/// end of the audio: a sender that goes away is an error.
struct FeedReader {
    rx: tokio::sync::mpsc::Receiver<Piece>,
    current: bytes::Bytes,
    ended: bool,
}

impl Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(Some(b))) => self.current = b,
                Some(Ok(None)) => self.ended = true,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Err(std::io::Error::other("the ingest was abandoned")),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Copies what `inner` yields, in batches, to the plaintext hasher's channel (memory only).
struct Tee<R> {
    inner: R,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    pending: Vec<u8>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        if n == 0 || self.pending.len() >= BATCH_BYTES {
            let chunk = std::mem::take(&mut self.pending);
            if !chunk.is_empty()
                && let Some(tx) = &self.tx
                && tx.send(chunk).is_err()
            {
                return Err(std::io::Error::other("plaintext hasher stopped"));
            }
        }
        Ok(n)
    }
}

impl<R> Drop for Tee<R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let rest = std::mem::take(&mut self.pending);
            if !rest.is_empty() {
                let _ = tx.send(rest);
            }
        }
    }
}

/// Encrypts `audio` and streams the ciphertext to every site at once. Four kinds of thread
/// run together: this one reads and encrypts, one per site writes, one hashes the
/// ciphertext, and one hashes the plaintext (which it receives in memory only).
fn encrypt_to_sites(
    stores: &[Arc<dyn BlobStore>],
    key: &BlobKey,
    header: &EnvelopeHeader,
    dek: &DataKey,
    audio: impl Read,
) -> Result<Encrypted, VaultError> {
    let (pt_tx, pt_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|scope| {
        let pt_hasher = scope.spawn(move || {
            let mut h = Sha256::default();
            for chunk in pt_rx {
                h.update(&chunk);
            }
            h.finish()
        });
        let tee = Tee {
            inner: audio,
            tx: Some(pt_tx),
            pending: Vec::with_capacity(BATCH_BYTES + (1 << 16)),
        };
        let mut enc = header.encryptor(tee, dek)?.without_plaintext_hash();
        let mut ct_hash = Sha256::default();
        let mut ciphertext_size = 0u64;
        let mut observe = |c: &[u8]| {
            ct_hash.update(c);
            ciphertext_size += c.len() as u64;
        };
        // Hand sites about 1 MiB at a time: fewer wake-ups between threads.
        let mut next = || -> Result<Option<Vec<u8>>, CryptoError> {
            let Some(mut batch) = enc.next_chunk()? else {
                return Ok(None);
            };
            while batch.len() < BATCH_BYTES {
                match enc.next_chunk()? {
                    Some(c) => batch.extend_from_slice(&c),
                    None => break,
                }
            }
            Ok(Some(batch))
        };
        let outcomes = replicate(stores, key, &mut next, Some(&mut observe));
        // Dropping the encryptor closes the tee's channel and ends the hasher.
        let (plaintext_size, _) = enc.finish();
        let plaintext_sha256 = pt_hasher
            .join()
            .map_err(|_| VaultError::WorkerPanicked("plaintext hasher"))?;
        Ok(Encrypted {
            outcomes: outcomes?,
            plaintext_size,
            plaintext_sha256,
            ciphertext_size,
            ciphertext_sha256: ct_hash.finish(),
        })
    })
}

impl Vault {
    /// Starts ingesting a recording: checks that the care provider is registered and has
    /// its keys, makes the recording's id and data key, and starts the session's thread,
    /// which encrypts and writes to every site as bytes arrive.
    pub fn begin_ingest(
        &self,
        grant: IngestGrant<'_>,
        start: IngestStart,
    ) -> Result<IngestSession, VaultError> {
        let origin = grant.origin(&start.care_provider, &start.care_unit)?;
        let cp = &start.care_provider;
        // A typo in a manifest must not create a new tenant with new keys.
        if self.catalog.care_provider_retention(cp)?.is_none() {
            return Err(VaultError::UnknownCareProvider(cp.to_string()));
        }
        if self.keys.current_kek(cp).is_err() {
            return Err(VaultError::KeysMissing(cp.to_string()));
        }
        let id = RecordingId::new_random();
        let dek_id = DekId::generate()?;
        let dek = DataKey::generate()?;
        let header = EnvelopeHeader::v1(id, dek_id);
        let key = blob_key(&id)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(FEED_DEPTH);
        let stores = self.stores.clone();
        let worker_key = key.clone();
        let worker = std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                let reader = FeedReader {
                    rx,
                    current: bytes::Bytes::new(),
                    ended: false,
                };
                let enc = encrypt_to_sites(&stores, &worker_key, &header, &dek, reader)?;
                Ok((enc, dek))
            })
            .map_err(|e| VaultError::Io {
                op: "start the ingest thread for",
                path: std::path::PathBuf::from(key.as_str()),
                source: e,
            })?;
        Ok(IngestSession {
            start,
            origin,
            id,
            dek_id,
            key,
            feed: Some(tx),
            worker: Some(worker),
        })
    }

    /// Aborts a session: nothing is acknowledged, and nothing stays at the sites.
    pub fn abort_ingest(&self, mut session: IngestSession, why: &str) {
        if let Some(feed) = session.feed.take() {
            let _ = block_on(feed.send(Err(why.to_owned())));
        }
        if let Some(w) = session.worker.take() {
            let _ = w.join();
        }
    }

    /// Ends a session: waits for every site, checks the stream against `end`, wraps the
    /// data key, seals the identifiers and commits the catalog row, placements, repair
    /// tasks and the ingest event in one transaction. On any failure nothing is
    /// acknowledged and what the sites hold is removed (if the row is surely not there).
    pub fn finish_ingest(
        &self,
        mut session: IngestSession,
        end: IngestEnd,
    ) -> Result<IngestOutcome, VaultError> {
        let (enc, dek) = session.end()?;
        self.commit_ingest(&session, end, enc, &dek)
    }

    fn commit_ingest(
        &self,
        session: &IngestSession,
        end: IngestEnd,
        enc: Encrypted,
        dek: &DataKey,
    ) -> Result<IngestOutcome, VaultError> {
        let IngestSession {
            start: meta,
            origin,
            id,
            dek_id,
            key,
            ..
        } = session;
        let (id, dek_id) = (*id, *dek_id);
        let cp = &meta.care_provider;
        let mut placements = Vec::new();
        let mut sites_ok = Vec::new();
        let mut sites_failed = Vec::new();
        for o in &enc.outcomes {
            let site = o.site.to_string();
            match &o.result {
                Ok(PutOutcome::Created) => {
                    sites_ok.push(site.clone());
                    placements.push(Placement {
                        site,
                        state: PlacementState::Ok,
                    });
                }
                Ok(PutOutcome::AlreadyExists) => {
                    sites_failed.push((
                        site.clone(),
                        "an object with this id already existed".into(),
                    ));
                    placements.push(Placement {
                        site,
                        state: PlacementState::Damaged,
                    });
                }
                Err(e) => {
                    sites_failed.push((site.clone(), e.to_string()));
                    placements.push(Placement {
                        site,
                        state: PlacementState::Missing,
                    });
                }
            }
        }
        let cleanup = || {
            for (o, store) in enc.outcomes.iter().zip(&self.stores) {
                if matches!(o.result, Ok(PutOutcome::Created)) {
                    let _ = store.delete(key);
                }
            }
        };
        if let Some(why) = &end.incomplete
            && (why.trim().is_empty()
                || why.chars().count() > MAX_INCOMPLETE_REASON
                || why.chars().any(char::is_control))
        {
            cleanup();
            return Err(VaultError::InvalidRequest(format!(
                "the reason a recording is incomplete must be one line of 1 to {MAX_INCOMPLETE_REASON} characters"
            )));
        }
        if enc.plaintext_size < end.min_len && end.incomplete.is_none() {
            cleanup();
            return Err(VaultError::Truncated {
                promised: end.min_len,
                got: enc.plaintext_size,
            });
        }
        if sites_ok.is_empty() {
            let why = sites_failed
                .iter()
                .map(|(s, e)| format!("{s}: {e}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(VaultError::NoSiteWritable(why));
        }
        let retention_until = self.retention_until(cp, meta.started_at)?;
        let plaintext_sha256 = enc.plaintext_sha256;
        let result = (|| -> Result<u64, VaultError> {
            let binding = WrapBinding {
                recording_id: id,
                dek_id,
            };
            let wrapped = self.keys.wrap_dek(cp, dek, &binding)?;
            let patient = meta
                .patient
                .as_ref()
                .map(|p| self.seal_patient(cp, p, id.as_bytes()))
                .transpose()?;
            let caller = match &meta.caller {
                None => None,
                Some(c) => {
                    let v = c.expose_value().as_bytes();
                    let sealed =
                        self.keys
                            .seal_field(cp, FieldKind::CallerNumber, id.as_bytes(), v)?;
                    Some((
                        sealed,
                        self.keys.blind_index(cp, FieldKind::CallerNumber, v)?.0,
                    ))
                }
            };
            let audit_patient = meta
                .patient
                .as_ref()
                .map(|p| self.seal_patient(cp, p, AUDIT_SEAL_CONTEXT))
                .transpose()?;
            let rec = NewRecording {
                id,
                care_provider: cp.clone(),
                care_unit: meta.care_unit.clone(),
                call_id: meta.call_id.clone(),
                started_at: meta.started_at,
                ended_at: meta.started_at + time::Duration::milliseconds(end.duration_ms as i64),
                duration_ms: end.duration_ms,
                codec: meta.codec.clone(),
                sample_rate: meta.sample_rate,
                channels: meta.channels,
                plaintext_size: enc.plaintext_size,
                plaintext_sha256,
                ciphertext_size: enc.ciphertext_size,
                ciphertext_sha256: enc.ciphertext_sha256,
                dek_id: dek_id.0,
                wrapped_dek: wrapped.bytes,
                kek_version: wrapped.kek_version.0,
                patient,
                caller,
                nurse: meta.nurse.clone(),
                retention_until,
                source: origin.source,
                incomplete: end.incomplete.clone(),
            };
            let action = match origin.source {
                RecordingSource::Import => Action::Import,
                RecordingSource::Ingest => Action::Ingest,
            };
            let mut e = AuditEvent::new(origin.actor.clone(), action, origin.origin.as_str());
            e.recording = Some(RecordingRef {
                id,
                plaintext_sha256,
            });
            e.care_provider = Some(cp.clone());
            if let Some((asg, asg_cp)) = &origin.assignment {
                e.assignment = Some(asg.clone());
                e.actor_care_provider = Some(asg_cp.clone());
            }
            e.patient = audit_patient.map(|(sealed, blind_index)| SealedPatient {
                sealed,
                blind_index,
            });
            // The event fixes the catalog row's immutable fields, so that `verify` can tell
            // an edited row from the one that was acknowledged.
            e.details = crate::verify::fixed_fields(&rec);
            e = e.detail("sites_ok", sites_ok.join(","));
            let mut change = Change::new(e).with(Mutation::InsertRecording {
                recording: Box::new(rec),
                placements,
                // What went wrong at each failed site, for the operator (`status`).
                repair_reason: truncate(
                    &format!(
                        "write failed at ingest: {}",
                        sites_failed
                            .iter()
                            .map(|(s, e)| format!("{s}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    300,
                ),
            });
            for (site, err) in &sites_failed {
                let mut t = AuditEvent::new(
                    Actor::Vault,
                    Action::RepairTaskCreated,
                    origin.origin.as_str(),
                );
                t.recording = Some(RecordingRef {
                    id,
                    plaintext_sha256,
                });
                t.care_provider = Some(cp.clone());
                t.outcome = Outcome::Failed(truncate(err, 200));
                change = change.and_event(t.detail("site", site));
            }
            let committed = self.catalog.commit(change)?;
            committed
                .leaf_indexes
                .first()
                .copied()
                .ok_or(VaultError::NoLeafIndex("ingest"))
        })();
        let leaf_index = match result {
            Ok(i) => i,
            Err(e) => {
                // Delete the blobs only if the recording is really not catalogued (a commit
                // that reported failure is rolled back, but never trust that blindly). Only a
                // definite "not there" allows deleting; when unsure, keep the blobs (an orphan
                // is reported by verify; a lost acknowledged recording is not acceptable).
                if matches!(self.catalog.recording(&id), Ok(None)) {
                    cleanup();
                }
                return Err(e);
            }
        };
        Ok(IngestOutcome {
            id,
            sites_ok,
            sites_failed,
            plaintext_size: enc.plaintext_size,
            plaintext_sha256,
            retention_until,
            leaf_index,
        })
    }

    /// Ingests a whole recording from a reader (an archive file): a session fed in 1 MiB
    /// pieces. A reader that fails aborts it.
    pub fn ingest_from(
        &self,
        grant: IngestGrant<'_>,
        start: IngestStart,
        end: IngestEnd,
        mut audio: impl Read,
    ) -> Result<IngestOutcome, VaultError> {
        let mut session = self.begin_ingest(grant, start)?;
        let mut buf = vec![0u8; BATCH_BYTES];
        loop {
            let n = match audio.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.abort_ingest(session, &e.to_string());
                    return Err(VaultError::Crypto(CryptoError::Io(e)));
                }
            };
            session.append(&buf[..n])?;
        }
        self.finish_ingest(session, end)
    }
}
