//! `verify`: every recording at every site, the catalog against the sites, and the audit
//! tree against its signed checkpoints.

use std::collections::HashSet;

use callvault_audit::event::{Action, AuditEvent};
use callvault_audit::event::{Actor, Outcome, RecordingRef};
use callvault_audit::merkle::{RootBuilder, encode_compact_range, leaf_hash};
use callvault_audit::note::verify_checkpoint;
use callvault_catalog::{Change, Mutation, Placement, PlacementState, RecordingRow};
use callvault_crypto::envelope::{EnvelopeHeader, open_blob};
use callvault_crypto::{DekId, sha256};
use callvault_types::RecordingId;

use crate::vault::{SiteBlob, blob_key};
use crate::{Vault, VaultError};

/// The immutable fields of a catalog row, as details of its ingest or import event.
/// Detail keys are stable: do not change.
pub(crate) fn fixed_fields(rec: &callvault_catalog::NewRecording) -> Vec<(String, String)> {
    let us = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1000).to_string();
    [
        ("care_unit", rec.care_unit.to_string()),
        ("call_id", rec.call_id.to_string()),
        ("started_at_us", us(rec.started_at)),
        ("ended_at_us", us(rec.ended_at)),
        ("retention_until_us", us(rec.retention_until)),
        ("bytes", rec.plaintext_size.to_string()),
        ("ciphertext_bytes", rec.ciphertext_size.to_string()),
        ("ciphertext_sha256", hex::encode(rec.ciphertext_sha256)),
        ("dek_id", hex::encode(rec.dek_id)),
        ("codec", rec.codec.clone()),
    ]
    .into_iter()
    .chain(rec.incomplete.clone().map(|why| ("incomplete", why)))
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Rows per batch handed from the catalog reader to the checker.
const LEAF_BATCH: usize = 8192;

/// Audit rows read from the catalog: event bytes back to back, and per row its index, its
/// byte range in `data`, and its stored leaf hash.
#[derive(Default)]
struct LeafBatch {
    data: Vec<u8>,
    rows: Vec<(u64, usize, usize, [u8; 32])>,
}

/// What a hasher found about one leaf.
pub(crate) struct LeafCheck {
    /// The hash the tree takes: recomputed from the event, or the stored one of a pruned
    /// leaf.
    pub(crate) leaf_hash: [u8; 32],
    /// The recomputed hash differs from the stored one.
    pub(crate) edited: bool,
    pub(crate) kind: LeafKind,
}

/// The kinds of leaf the tree builder treats differently.
#[derive(Clone, Copy)]
pub(crate) enum LeafKind {
    Plain,
    /// Pruned below the minimum index: only its hash is kept.
    Pruned,
    /// An `audit.checkpoint` event (its checkpoint must still be stored).
    Checkpoint,
    /// An `audit.prune` event (it names the minimum index).
    Prune,
    Undecodable,
}

/// Checks one batch of leaves: leaf hash against the stored one, and the encoding.
fn check_leaves(batch: &LeafBatch, min_index: u64) -> Vec<LeafCheck> {
    batch
        .rows
        .iter()
        .map(|&(idx, start, end, stored)| {
            check_leaf(idx, &batch.data[start..end], stored, min_index)
        })
        .collect()
}

/// Checks one leaf: its hash recomputed from the event against the stored one, and its
/// encoding. The one definition of a sound leaf, for `verify` and for `checkpoint`.
pub(crate) fn check_leaf(idx: u64, event: &[u8], stored: [u8; 32], min_index: u64) -> LeafCheck {
    if event.is_empty() && idx < min_index {
        return LeafCheck {
            leaf_hash: stored,
            edited: false,
            kind: LeafKind::Pruned,
        };
    }
    let lh = leaf_hash(event);
    let kind = match AuditEvent::check_encoding(event) {
        Ok(Action::Checkpoint) => LeafKind::Checkpoint,
        Ok(Action::AuditPrune) => LeafKind::Prune,
        Ok(_) => LeafKind::Plain,
        Err(_) => LeafKind::Undecodable,
    };
    LeafCheck {
        leaf_hash: lh,
        edited: lh != stored,
        kind,
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The recording, when the problem concerns one.
    pub recording: Option<String>,
    /// The site, when the problem concerns one.
    pub site: Option<String>,
    /// What is wrong.
    pub what: String,
    /// The placement state the copy was marked with (and a repair task recorded), when the
    /// problem is a missing or damaged copy.
    pub marked: Option<PlacementState>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.recording {
            write!(f, "recording {r}: ")?;
        }
        if let Some(s) = &self.site {
            write!(f, "site {s}: ")?;
        }
        f.write_str(&self.what)
    }
}

/// Result of a verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Recordings checked.
    pub recordings: u64,
    /// Blob copies checked.
    pub copies: u64,
    /// Audit events checked.
    pub audit_events: u64,
    /// Of which pruned (beyond the audit log's retention: hash only, checked against the
    /// signed checkpoints through the tree).
    pub audit_pruned: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    /// Everything wrong.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Vault {
    /// Verifies sites, catalog and audit log. `deep` also decrypts every copy and checks its
    /// plaintext hash. Records a `verify` audit event with the counts.
    pub fn verify(
        &self,
        deep: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, VaultError> {
        let mut report = VerifyReport::default();
        let mut known = HashSet::new();
        self.catalog.for_each_recording(&mut |row| {
            report.recordings += 1;
            known.insert(row.rec.id.to_string());
            let mut problems = self.check_recording(&row, deep, &mut report.copies);
            if let Some(p) = self.check_row_against_event(&row)? {
                problems.push(p);
            }
            self.mark_for_repair(&row, &problems)?;
            report.problems.extend(problems);
            progress(report.recordings);
            Ok(())
        })?;
        // Objects at a site that the catalog does not know.
        for store in &self.stores {
            // A site that cannot be listed (gone, unreadable) is a problem to report, not a
            // reason to stop: its copies were checked one by one above.
            let keys = match store.list() {
                Ok(k) => k,
                Err(e) => {
                    report.problems.push(Problem {
                        recording: None,
                        site: Some(store.site().to_string()),
                        what: format!("the site cannot be listed: {e}"),
                        marked: None,
                    });
                    continue;
                }
            };
            for key in keys {
                let rid = crate::vault::recording_of_key(&key);
                if rid.is_some_and(|r| known.contains(&r.to_string())) {
                    continue;
                }
                let what = self.unknown_object(&key, rid.as_ref())?;
                report.problems.push(Problem {
                    recording: None,
                    site: Some(store.site().to_string()),
                    what,
                    marked: None,
                });
            }
        }
        self.verify_audit(&mut report)?;
        self.verify_approvals(&mut report)?;
        let e = AuditEvent::new(
            crate::vault::operator().actor().clone(),
            Action::Verify,
            "cli",
        )
        .detail("deep", deep)
        .detail("recordings", report.recordings)
        .detail("copies", report.copies)
        .detail("audit_events", report.audit_events)
        .detail("problems", report.problems.len());
        self.catalog.commit(Change::new(e))?;
        Ok(report)
    }

    /// What an object at a site that no catalog row owns is: a destroyed recording's blob
    /// that came back, an interrupted upload's leftover, or an acknowledged recording whose
    /// catalog row is missing.
    fn unknown_object(
        &self,
        key: &callvault_blobstore::BlobKey,
        rid: Option<&RecordingId>,
    ) -> Result<String, VaultError> {
        let Some(rid) = rid else {
            return Ok(format!("object {key} is not in the catalog"));
        };
        if let Some(t) = self.catalog.tombstones(None, Some(rid), false)?.pop() {
            return Ok(format!(
                "object {key} belongs to recording {}, destroyed by deletion order {} (its data key no longer exists, so it cannot be decrypted); restored from a backup? `callvault repair` deletes it",
                t.recording_id, t.order_id
            ));
        }
        let acked = self
            .catalog
            .recording_events(rid, &[Action::Import.code(), Action::Ingest.code()])?;
        Ok(match acked.first() {
            Some((idx, _)) => format!(
                "object {key} belongs to recording {rid}, acknowledged by audit event {idx}, but the catalog has no row for it (a catalog restored from an older backup?); left in place"
            ),
            None => format!(
                "object {key} is not in the catalog and no audit event names it: an upload or import cut short before it was acknowledged (undecryptable: its data key was never stored); `callvault repair --remove-unacknowledged` deletes it, unless the catalog was restored from a backup since"
            ),
        })
    }

    /// Every assignment the catalog holds as approved (or revoked after approval) must have
    /// its approval in the audit log: an `assignment.approve` event naming it, or the
    /// `governance.bootstrap` event listing it. A row approved behind the vault's back has
    /// neither. Approvals whose events were pruned (beyond the log's retention) are exempt.
    fn verify_approvals(&self, report: &mut VerifyReport) -> Result<(), VaultError> {
        use callvault_catalog::AssignmentState;
        let mut recorded = std::collections::HashSet::new();
        for (_, data) in self.catalog.audit_events_by_action(&[
            Action::AssignmentApprove.code(),
            Action::GovernanceBootstrap.code(),
        ])? {
            let Ok(e) = AuditEvent::decode(&data) else {
                continue; // reported by verify_audit
            };
            for (k, v) in &e.details {
                if k == "assignment" || k == "assignments" {
                    recorded.extend(v.split(',').map(str::to_owned));
                }
            }
        }
        let pruned_before = self.catalog.audit_min_index()?.map(|m| m.1);
        for row in self.catalog.assignments(None, None)? {
            let approved = matches!(row.state, AssignmentState::Approved)
                || (row.state == AssignmentState::Revoked && row.decision.is_some());
            let Some(decision) = &row.decision else {
                continue;
            };
            if !approved
                || recorded.contains(&row.assignment.id)
                || pruned_before.is_some_and(|b| decision.at < b)
            {
                continue;
            }
            report.problems.push(Problem {
                recording: None,
                site: None,
                what: format!(
                    "assignment {} is approved in the catalog, but no audit event records its approval (forged)",
                    row.assignment.id
                ),
                marked: None,
            });
        }
        Ok(())
    }

    /// Compares a catalog row with the audit event that acknowledged it: an edited row
    /// (care unit, call id, times, retention, sizes, hashes, key id, patient) is reported.
    fn check_row_against_event(
        &self,
        row: &RecordingRow,
    ) -> Result<Option<Problem>, callvault_catalog::CatalogError> {
        let rec = &row.rec;
        let problem = |what: String| Problem {
            recording: Some(rec.id.to_string()),
            site: None,
            what,
            marked: None,
        };
        let events = self
            .catalog
            .recording_events(&rec.id, &[Action::Import.code(), Action::Ingest.code()])?;
        if events.is_empty()
            && let Some((_, before)) = self.catalog.audit_min_index()?
            && row.created_at < before
        {
            // Its ingest event lay beyond the audit log's retention and was pruned.
            return Ok(None);
        }
        let [(idx, data)] = events.as_slice() else {
            return Ok(Some(problem(format!(
                "catalog row has {} ingest/import audit events; exactly one expected",
                events.len()
            ))));
        };
        let Ok(e) = AuditEvent::decode(data) else {
            return Ok(Some(problem(format!("ingest event {idx} does not decode"))));
        };
        // The event was found through catalog columns; its own bytes must agree.
        if !matches!(e.action, Action::Import | Action::Ingest) {
            return Ok(Some(problem(format!(
                "audit event {idx} is indexed as an ingest event but is a {} event",
                e.action.code()
            ))));
        }
        let mut differs = Vec::new();
        match e.recording {
            Some(r) if r.id == rec.id && r.plaintext_sha256 == rec.plaintext_sha256 => {}
            _ => differs.push("recording id or plaintext hash".to_owned()),
        }
        if e.care_provider.as_ref() != Some(&rec.care_provider) {
            differs.push("care provider".into());
        }
        // The patient is the ingest's, or that of the latest link after it.
        let mut patient = e.patient.as_ref().map(|p| p.blind_index);
        match self.check_links(row)? {
            Ok(Some(linked)) => patient = Some(linked),
            Ok(None) => {}
            Err(what) => return Ok(Some(problem(what))),
        }
        if patient != rec.patient.as_ref().map(|p| p.1) {
            differs.push("patient".into());
        }
        for (k, v) in fixed_fields(rec) {
            if !e.details.iter().any(|(ek, ev)| *ek == k && *ev == v) {
                differs.push(k);
            }
        }
        // Both ways: an incomplete flag cleared from the row is an edit too.
        let flagged = e
            .details
            .iter()
            .find(|(k, _)| k == "incomplete")
            .map(|(_, v)| v.as_str());
        if flagged.is_some() && flagged != rec.incomplete.as_deref() {
            differs.push("incomplete".into());
        }
        Ok((!differs.is_empty()).then(|| {
            problem(format!(
                "catalog row differs from its ingest audit event {idx} in: {}",
                differs.join(", ")
            ))
        }))
    }

    /// Compares a recording's stored links to patients with their `patient.link` events,
    /// one by one: the latest link's patient (blind index) if all agree and there is one,
    /// or what differs.
    fn check_links(
        &self,
        row: &RecordingRow,
    ) -> Result<Result<Option<[u8; 32]>, String>, callvault_catalog::CatalogError> {
        let id = &row.rec.id;
        let stored = self.catalog.patient_links(id)?;
        let mut events = Vec::new();
        for (idx, data) in self
            .catalog
            .recording_events(id, &[Action::PatientLink.code()])?
        {
            let Ok(e) = AuditEvent::decode(&data) else {
                return Ok(Err(format!("patient link event {idx} does not decode")));
            };
            // Refused attempts are link events too; only granted ones made a link.
            if e.outcome == Outcome::Granted {
                events.push((idx, e));
            }
        }
        if stored.len() != events.len() {
            return Ok(Err(format!(
                "the catalog holds {} links of the recording to patients, the audit log {}",
                stored.len(),
                events.len()
            )));
        }
        for (link, (idx, e)) in stored.iter().zip(&events) {
            let n = e
                .details
                .iter()
                .find(|(k, _)| k == "link")
                .map(|(_, v)| v.as_str());
            if n != Some(link.n.to_string().as_str())
                || e.patient.as_ref().map(|p| p.blind_index) != Some(link.patient.1)
            {
                return Ok(Err(format!(
                    "patient link {} differs from its audit event {idx}",
                    link.n
                )));
            }
        }
        Ok(Ok(stored.last().map(|l| l.patient.1)))
    }

    /// Records a missing or damaged copy durably (placement state and repair task, with an
    /// audit event) unless it is already known, so that `repair` heals it.
    pub(crate) fn mark_for_repair(
        &self,
        row: &RecordingRow,
        problems: &[Problem],
    ) -> Result<(), callvault_catalog::CatalogError> {
        let placements = self.catalog.placements(&row.rec.id)?;
        for p in problems {
            let (Some(site), Some(state)) = (&p.site, p.marked) else {
                continue;
            };
            let known = placements
                .iter()
                .any(|pl| &pl.site == site && pl.state != PlacementState::Ok);
            if known {
                continue;
            }
            let mut e = AuditEvent::new(Actor::Vault, Action::RepairTaskCreated, "verify");
            e.recording = Some(RecordingRef {
                id: row.rec.id,
                plaintext_sha256: row.rec.plaintext_sha256,
            });
            e.care_provider = Some(row.rec.care_provider.clone());
            e.outcome = Outcome::Failed(p.what.chars().take(200).collect());
            self.catalog
                .commit(
                    Change::new(e.detail("site", site)).with(Mutation::SetPlacement {
                        recording_id: row.rec.id,
                        placement: Placement {
                            site: site.clone(),
                            state,
                        },
                        reason: format!("found by verify: {}", p.what),
                    }),
                )?;
        }
        Ok(())
    }

    pub(crate) fn check_recording(
        &self,
        row: &RecordingRow,
        deep: bool,
        copies: &mut u64,
    ) -> Vec<Problem> {
        let rid = row.rec.id.to_string();
        let problem = |site: &str, what: String, marked: Option<PlacementState>| Problem {
            recording: Some(rid.clone()),
            site: Some(site.to_owned()),
            what,
            marked,
        };
        let mut out = Vec::new();
        let key = match blob_key(&row.rec.id) {
            Ok(k) => k,
            Err(e) => {
                out.push(Problem {
                    recording: Some(rid.clone()),
                    site: None,
                    what: e.to_string(),
                    marked: None,
                });
                return out;
            }
        };
        let placements = self.catalog.placements(&row.rec.id).unwrap_or_default();
        let mut dek = None;
        for store in &self.stores {
            let site = store.site().to_string();
            *copies += 1;
            let pending = placements
                .iter()
                .any(|p| p.site == site && p.state != callvault_catalog::PlacementState::Ok);
            let note = if pending {
                " (under-replicated, repair task open)"
            } else {
                ""
            };
            let len = match store.head(&key) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    out.push(problem(
                        &site,
                        format!("copy is missing{note}"),
                        Some(PlacementState::Missing),
                    ));
                    continue;
                }
                Err(e) => {
                    out.push(problem(&site, format!("cannot stat copy: {e}"), None));
                    continue;
                }
            };
            if len != row.rec.ciphertext_size {
                out.push(problem(
                    &site,
                    format!(
                        "copy has {len} bytes; catalog says {}{note}",
                        row.rec.ciphertext_size
                    ),
                    Some(PlacementState::Damaged),
                ));
                continue;
            }
            match store.get_range(&key, 0..len) {
                Ok(data) if sha256(&data) == row.rec.ciphertext_sha256 => {}
                Ok(_) => {
                    out.push(problem(
                        &site,
                        format!("copy is damaged: ciphertext hash differs from the catalog{note}"),
                        Some(PlacementState::Damaged),
                    ));
                    continue;
                }
                Err(e) => {
                    out.push(problem(&site, format!("cannot read copy: {e}"), None));
                    continue;
                }
            }
            if deep {
                if dek.is_none() {
                    match self.data_key(&row.rec) {
                        Ok(k) => dek = Some(k),
                        Err(e) => {
                            out.push(problem(&site, format!("cannot unwrap data key: {e}"), None));
                            continue;
                        }
                    }
                }
                let Some(k) = dek.as_ref() else { continue };
                let src = SiteBlob::new(&**store, key.clone(), len);
                let expected = EnvelopeHeader::v1(row.rec.id, DekId(row.rec.dek_id));
                let hashed = open_blob(src, &expected, k).and_then(|b| b.hash_all());
                match hashed {
                    Ok(h) if h == row.rec.plaintext_sha256 => {}
                    Ok(_) => out.push(problem(
                        &site,
                        "decrypted audio does not match the catalog's plaintext hash".into(),
                        Some(PlacementState::Damaged),
                    )),
                    Err(e) => out.push(problem(
                        &site,
                        format!("decryption failed: {e}"),
                        Some(PlacementState::Damaged),
                    )),
                }
            }
        }
        out
    }

    /// Recomputes every leaf hash from the stored events and the tree root at every signed
    /// checkpoint, and checks each checkpoint's signature.
    /// Returns the size and root of the recomputed tree.
    pub(crate) fn verify_audit(
        &self,
        report: &mut VerifyReport,
    ) -> Result<RootBuilder, VaultError> {
        let size = self.catalog.audit_size()?;
        let checkpoints = self.catalog.checkpoints()?;
        let audit = |what: String| Problem {
            recording: None,
            site: None,
            what: format!("audit log: {what}"),
            marked: None,
        };
        let mut signed = Vec::new();
        for c in &checkpoints {
            match verify_checkpoint(&self.verifier, &c.note) {
                Ok(cp) if cp.size == c.size && cp.root_hash == c.root_hash => signed.push(cp),
                Ok(_) => report.problems.push(audit(format!(
                    "checkpoint at size {} does not match its signed note",
                    c.size
                ))),
                Err(e) => report.problems.push(audit(format!(
                    "checkpoint at size {} has a bad signature: {e}",
                    c.size
                ))),
            }
        }
        // The compact range stored with each checkpoint, checked against the recomputed
        // tree at its size: the next checkpoint extends from it.
        let ranges: std::collections::HashMap<u64, &[u8]> = checkpoints
            .iter()
            .filter_map(|c| c.compact_range.as_deref().map(|r| (c.size, r)))
            .collect();
        let min_index = self.catalog.audit_min_index()?.map_or(0, |m| m.0);
        // Minimum indexes named by `audit.prune` events: the catalog's must be one of them.
        let mut prunes: Vec<u64> = Vec::new();
        let mut rb = RootBuilder::new();
        let mut expected_idx = 0u64;
        let mut next_cp = signed.iter().peekable();
        // A checkpoint of the empty tree.
        while let Some(cp) = next_cp.peek() {
            if cp.size != 0 {
                break;
            }
            if cp.root_hash != rb.root() {
                report
                    .problems
                    .push(audit("checkpoint of the empty log has a wrong root".into()));
            }
            next_cp.next();
        }
        // Three stages, so that both cores work: one thread reads rows from the catalog into
        // numbered batches; hashers (one per core) check each batch's leaves (leaf hash,
        // encoding); this thread takes the checked batches back in order and builds the
        // tree (roots and compact ranges at checkpoints).
        let mut problems = Vec::new();
        let mut checkpoint_events = Vec::new();
        let hashers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, LeafBatch)>(2 * hashers);
        let rx = std::sync::Mutex::new(rx);
        let (done_tx, done_rx) =
            std::sync::mpsc::sync_channel::<(u64, LeafBatch, Vec<LeafCheck>)>(2 * hashers);
        std::thread::scope(|scope| -> Result<(), VaultError> {
            let catalog = &self.catalog;
            let reader = scope.spawn(move || -> Result<(), VaultError> {
                let mut batch = LeafBatch::default();
                let mut seq = 0u64;
                catalog.for_each_audit_leaf(0, size, &mut |idx, event, stored| {
                    let start = batch.data.len();
                    batch.data.extend_from_slice(event);
                    batch.rows.push((idx, start, batch.data.len(), *stored));
                    if batch.rows.len() >= LEAF_BATCH {
                        // A closed receiver means the checker stopped; stop reading.
                        tx.send((seq, std::mem::take(&mut batch)))
                            .map_err(|_| callvault_catalog::CatalogError::WriterStopped)?;
                        seq += 1;
                    }
                    Ok(())
                })?;
                if !batch.rows.is_empty() {
                    let _ = tx.send((seq, batch));
                }
                Ok(())
            });
            for _ in 0..hashers {
                let (rx, done_tx) = (&rx, done_tx.clone());
                scope.spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((seq, batch)) = next else { return };
                        let checks = check_leaves(&batch, min_index);
                        if done_tx.send((seq, batch, checks)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut waiting = std::collections::BTreeMap::new();
            let mut next_seq = 0u64;
            for (seq, batch, checks) in done_rx {
                waiting.insert(seq, (batch, checks));
                while let Some((batch, checks)) = waiting.remove(&next_seq) {
                    next_seq += 1;
                    for (&(idx, start, end, _), check) in batch.rows.iter().zip(&checks) {
                        if idx != expected_idx {
                            problems
                                .push(audit(format!("events {expected_idx}..{idx} are missing")));
                            expected_idx = idx;
                        }
                        match check.kind {
                            // Pruned (beyond the audit log's retention): only the hash is
                            // kept, and the tree roots below still check it against the
                            // checkpoints.
                            LeafKind::Pruned => report.audit_pruned += 1,
                            LeafKind::Plain => {}
                            LeafKind::Checkpoint => {
                                checkpoint_events.push((idx, batch.data[start..end].to_vec()));
                            }
                            LeafKind::Prune => {
                                if let Ok(e) = AuditEvent::decode(&batch.data[start..end]) {
                                    prunes.extend(
                                        e.details
                                            .iter()
                                            .filter(|(k, _)| k == "min_index")
                                            .filter_map(|(_, v)| v.parse::<u64>().ok()),
                                    );
                                }
                            }
                            LeafKind::Undecodable => {
                                problems.push(audit(format!("event {idx} does not decode")));
                            }
                        }
                        if check.edited {
                            problems.push(audit(format!(
                                "event {idx} does not match its stored leaf hash (edited)"
                            )));
                        }
                        rb.push(check.leaf_hash);
                        expected_idx += 1;
                        report.audit_events += 1;
                        while let Some(cp) = next_cp.peek() {
                            if cp.size != rb.size() {
                                break;
                            }
                            report.checkpoints += 1;
                            if cp.root_hash != rb.root() {
                                problems.push(audit(format!(
                                    "tree root at size {} differs from the signed checkpoint (events edited, removed or reordered)",
                                    cp.size
                                )));
                            }
                            if ranges
                                .get(&cp.size)
                                .is_some_and(|r| *r != encode_compact_range(&rb).as_slice())
                            {
                                problems.push(audit(format!(
                                    "the compact range stored with the checkpoint at size {} differs from the tree (edited)",
                                    cp.size
                                )));
                            }
                            next_cp.next();
                        }
                    }
                }
            }
            if !waiting.is_empty() {
                return Err(VaultError::WorkerPanicked("audit hasher"));
            }
            reader
                .join()
                .map_err(|_| VaultError::WorkerPanicked("audit reader"))?
        })?;
        report.problems.extend(problems);
        for cp in next_cp {
            report.problems.push(audit(format!(
                "signed checkpoint covers {} events but the log holds only {} (events deleted)",
                cp.size,
                rb.size()
            )));
        }
        if signed.is_empty() {
            report
                .problems
                .push(audit("no valid signed checkpoint".into()));
        }
        // A pruned log names its minimum index in an `audit.prune` event above it; without
        // one, someone emptied events behind the vault's back.
        if min_index > 0 && !prunes.contains(&min_index) {
            report.problems.push(audit(format!(
                "the log is pruned below leaf {min_index}, but no audit.prune event records that (events destroyed)"
            )));
        }
        // Every checkpoint the log says was issued must still be there.
        for (idx, data) in checkpoint_events {
            let Ok(e) = AuditEvent::decode(&data) else {
                continue; // reported above
            };
            let size = e
                .details
                .iter()
                .find(|(k, _)| k == "size")
                .and_then(|(_, v)| v.parse::<u64>().ok());
            match size {
                Some(sz) if checkpoints.iter().any(|c| c.size == sz) => {}
                Some(sz) => report.problems.push(audit(format!(
                    "event {idx} records a checkpoint of size {sz} that is no longer stored (checkpoint deleted)"
                ))),
                None => report.problems.push(audit(format!("checkpoint event {idx} has no size"))),
            }
        }
        Ok(rb)
    }
}

/// An inclusion proof of one audit event in a signed checkpoint.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// Leaf index.
    pub index: u64,
    /// Leaf hash.
    pub leaf_hash: [u8; 32],
    /// Audit path.
    pub proof: Vec<[u8; 32]>,
    /// The signed checkpoint it proves against.
    pub checkpoint: callvault_catalog::StoredCheckpoint,
}

/// A consistency proof between two signed checkpoints.
#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    /// Older checkpoint.
    pub old: callvault_catalog::StoredCheckpoint,
    /// Newer checkpoint.
    pub new: callvault_catalog::StoredCheckpoint,
    /// Proof hashes.
    pub proof: Vec<[u8; 32]>,
}

impl Vault {
    /// Verifies only the audit log (leaf hashes, roots, checkpoint signatures).
    pub fn verify_audit_log(&self) -> Result<VerifyReport, VaultError> {
        let mut r = VerifyReport::default();
        self.verify_audit(&mut r)?;
        Ok(r)
    }

    /// Proves that event `index` is in the latest signed checkpoint; checked before returning.
    pub fn inclusion_proof(&self, index: u64) -> Result<InclusionProof, VaultError> {
        use callvault_audit::merkle::{inclusion_proof, verify_inclusion};
        let checkpoint = self
            .catalog
            .latest_checkpoint()?
            .ok_or_else(|| VaultError::NoCheckpoint)?;
        if index >= checkpoint.size {
            return Err(VaultError::NotCovered {
                index,
                size: checkpoint.size,
            });
        }
        let hashes = self.catalog.audit_leaf_hashes(checkpoint.size)?;
        let proof = inclusion_proof(&hashes, index)?;
        let leaf_hash = hashes[index as usize];
        verify_inclusion(
            index,
            checkpoint.size,
            &leaf_hash,
            &proof,
            &checkpoint.root_hash,
        )?;
        Ok(InclusionProof {
            index,
            leaf_hash,
            proof,
            checkpoint,
        })
    }

    /// Proves that the checkpoint at `old_size` is a prefix of the latest one.
    pub fn consistency_proof(&self, old_size: u64) -> Result<ConsistencyProof, VaultError> {
        use callvault_audit::merkle::{consistency_proof, verify_consistency};
        let all = self.catalog.checkpoints()?;
        let old = all
            .iter()
            .find(|c| c.size == old_size)
            .cloned()
            .ok_or(VaultError::NoCheckpointOfSize(old_size))?;
        let new = all.last().cloned().ok_or(VaultError::NoCheckpoint)?;
        let hashes = self.catalog.audit_leaf_hashes(new.size)?;
        let proof = consistency_proof(&hashes, old_size)?;
        verify_consistency(old.size, new.size, &old.root_hash, &new.root_hash, &proof)?;
        Ok(ConsistencyProof { old, new, proof })
    }
}
