//! Maintenance operations: signed checkpoints, key rotation by re-wrapping, and repair of
//! under-replicated or damaged copies.

use callvault_audit::event::{Action, Actor, AuditEvent, Outcome, RecordingRef};
use callvault_audit::merkle::{RootBuilder, decode_compact_range, encode_compact_range};
use callvault_audit::note::{Checkpoint, sign_checkpoint, verify_checkpoint};
use callvault_catalog::{Change, Mutation, Placement, PlacementState, Rewrap, StoredCheckpoint};
use callvault_crypto::{DekId, EnvelopeHeader, WrapBinding};
use std::sync::Arc;

use callvault_blobstore::{BlobKey, BlobStore};
use callvault_types::CareProvider;
use time::OffsetDateTime;

use crate::vault::{blob_key, recording_of_key, truncate};
use crate::verify::LeafKind;
use crate::{Vault, VaultError};

/// Refuses to sign when the log does not verify.
fn refuse_unless_clean(problems: &[String]) -> Result<(), VaultError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(VaultError::LogDoesNotVerify(problems.to_vec()))
}

/// A site and objects at it.
pub type SiteObjects = (Arc<dyn BlobStore>, Vec<BlobKey>);

/// The most objects `remove_unacknowledged_objects` deletes at one site in one run: far more
/// than the uploads in flight when a server or an import dies.
pub const MAX_UNACKNOWLEDGED_PER_SITE: usize = 256;

impl Vault {
    /// Signs a checkpoint of the whole audit log and stores it (with its own audit event
    /// and the tree's compact range).
    ///
    /// It costs what is new, not the whole log: the tree is extended from the compact range
    /// stored with the latest checkpoint — once its signature verifies and the range folds
    /// to its signed root — over the events since, each checked against its stored leaf
    /// hash and its encoding. Without a usable range (a log whose checkpoints predate them)
    /// the whole log is verified, as `verify` does, and the range starts there. Either way
    /// a log that does not verify is never signed, so an edit made after one checkpoint
    /// cannot be laundered into the next: the new root extends the signed one, never the
    /// stored rows below it.
    pub fn checkpoint(&self) -> Result<StoredCheckpoint, VaultError> {
        let rb = match self.extend_latest_checkpoint()? {
            Some(rb) => rb,
            None => self.verified_tree()?,
        };
        let (size, root_hash) = (rb.size(), rb.root());
        let cp = Checkpoint {
            origin: self.config.audit_origin.clone(),
            size,
            root_hash,
            extensions: Vec::new(),
        };
        let note = sign_checkpoint(&self.signer, &cp)?;
        let stored = StoredCheckpoint {
            size,
            root_hash,
            note,
            created_at: OffsetDateTime::now_utc(),
            compact_range: Some(encode_compact_range(&rb)),
        };
        let e = AuditEvent::new(Actor::Vault, Action::Checkpoint, "cli").detail("size", size);
        self.catalog
            .commit(Change::new(e).with(Mutation::StoreCheckpoint(stored.clone())))?;
        Ok(stored)
    }

    /// The whole log, verified (as `verify` does), as a tree builder.
    fn verified_tree(&self) -> Result<RootBuilder, VaultError> {
        let mut report = crate::verify::VerifyReport::default();
        let rb = self.verify_audit(&mut report)?;
        let fatal: Vec<String> = report
            .problems
            .iter()
            // A fresh log has no checkpoint yet; that is what we are about to fix.
            .filter(|p| !p.what.ends_with("no valid signed checkpoint"))
            .map(ToString::to_string)
            .collect();
        refuse_unless_clean(&fatal)?;
        Ok(rb)
    }

    /// The tree extended from the latest checkpoint's compact range over the events since,
    /// or `None` when the latest checkpoint has no compact range (or there is none).
    fn extend_latest_checkpoint(&self) -> Result<Option<RootBuilder>, VaultError> {
        let Some(last) = self.catalog.latest_checkpoint()? else {
            return Ok(None);
        };
        let Some(range) = &last.compact_range else {
            return Ok(None);
        };
        let refuse = |what: String| refuse_unless_clean(&[format!("audit log: {what}")]);
        match verify_checkpoint(&self.verifier, &last.note) {
            Ok(signed) if signed.size == last.size && signed.root_hash == last.root_hash => {}
            Ok(_) => refuse(format!(
                "checkpoint at size {} does not match its signed note",
                last.size
            ))?,
            Err(e) => refuse(format!(
                "checkpoint at size {} has a bad signature: {e}",
                last.size
            ))?,
        }
        let mut rb = match decode_compact_range(range) {
            Ok(rb) if rb.size() == last.size && rb.root() == last.root_hash => rb,
            Ok(_) => {
                refuse(format!(
                    "the compact range stored with the checkpoint at size {} does not fold to its signed root (edited)",
                    last.size
                ))?;
                return Ok(None);
            }
            Err(e) => {
                refuse(format!(
                    "the compact range stored with the checkpoint at size {}: {e}",
                    last.size
                ))?;
                return Ok(None);
            }
        };
        let size = self.catalog.audit_size()?;
        if size < last.size {
            refuse(format!(
                "signed checkpoint covers {} events but the log holds only {size} (events deleted)",
                last.size
            ))?;
        }
        let mut problems = Vec::new();
        let mut expected = last.size;
        // Checkpoints the new events say were issued (the latest one's event is among them).
        let mut issued = Vec::new();
        self.catalog
            .for_each_audit_leaf(last.size, size, &mut |idx, event, stored| {
                if idx != expected {
                    problems.push(format!("audit log: events {expected}..{idx} are missing"));
                }
                // Events above a checkpoint are never pruned: no minimum index applies.
                let leaf = crate::verify::check_leaf(idx, event, *stored, 0);
                if leaf.edited {
                    problems.push(format!(
                        "audit log: event {idx} does not match its stored leaf hash (edited)"
                    ));
                }
                match leaf.kind {
                    LeafKind::Checkpoint => issued.push((idx, event.to_vec())),
                    LeafKind::Undecodable => {
                        problems.push(format!("audit log: event {idx} does not decode"));
                    }
                    LeafKind::Plain | LeafKind::Prune | LeafKind::Pruned => {}
                }
                rb.push(leaf.leaf_hash);
                expected = idx + 1;
                Ok(())
            })?;
        if expected != size {
            problems.push(format!("audit log: events {expected}..{size} are missing"));
        }
        if !issued.is_empty() {
            let stored: Vec<u64> = self.catalog.checkpoints()?.iter().map(|c| c.size).collect();
            for (idx, data) in issued {
                let size = AuditEvent::decode(&data).ok().and_then(|e| {
                    e.details
                        .iter()
                        .find(|(k, _)| k == "size")
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                });
                if !size.is_some_and(|s| stored.contains(&s)) {
                    problems.push(format!(
                        "audit log: event {idx} records a checkpoint that is no longer stored (checkpoint deleted)"
                    ));
                }
            }
        }
        refuse_unless_clean(&problems)?;
        Ok(Some(rb))
    }

    /// Rotates a care provider's KEK and re-wraps every data key under the new version, in
    /// audited batches. Audio is not re-encrypted. `progress(done, total)` is called per
    /// batch. A rotation cut short (a crash, kill -9) is resumed by running it again: while
    /// data keys remain under an older version than the current one, no new version is
    /// created and the re-wrap continues where it stopped.
    pub fn rotate_keys<'m>(
        &self,
        cp: &CareProvider,
        by: impl Into<crate::Maintainer<'m>>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(u32, u64), VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let current = self.keys.current_kek(cp)?;
        let below = |v: u32| -> Result<u64, VaultError> {
            Ok(self
                .catalog
                .stats()?
                .per_kek_version
                .iter()
                .filter(|(c, x, _)| c == cp.as_str() && *x < v)
                .map(|(_, _, n)| n)
                .sum::<u64>())
        };
        let pending = below(current.0)?;
        let new = if pending > 0 {
            // An interrupted rotation: finish it.
            let mut e = AuditEvent::new(actor.clone(), Action::KeyRotation, "cli");
            e.care_provider = Some(cp.clone());
            self.catalog.commit(Change::new(
                e.detail("to_version", current.0)
                    .detail("keys_to_rewrap", pending)
                    .detail("resumed", true),
            ))?;
            current
        } else {
            // The event first: a version never exists without its rotation recorded (a
            // crash after it leaves a recorded rotation that the next run performs).
            let mut e = AuditEvent::new(actor.clone(), Action::KeyRotation, "cli");
            e.care_provider = Some(cp.clone());
            self.catalog.commit(Change::new(
                e.detail("from_version", current.0)
                    .detail("to_version", current.0 + 1)
                    .detail("keys_to_rewrap", below(current.0 + 1)?),
            ))?;
            self.keys.rotate_kek(cp)?
        };
        let total = below(new.0)?;
        let mut done = 0u64;
        progress(0, total);
        loop {
            let batch = self.catalog.recordings_below_kek(cp, new.0, 500)?;
            if batch.is_empty() {
                break;
            }
            let mut items = Vec::with_capacity(batch.len());
            for row in &batch {
                let dek = self.data_key(&row.rec)?;
                let binding = WrapBinding {
                    recording_id: row.rec.id,
                    dek_id: DekId(row.rec.dek_id),
                };
                let w = self.keys.wrap_dek(cp, &dek, &binding)?;
                items.push(Rewrap {
                    recording_id: row.rec.id,
                    wrapped_dek: w.bytes,
                    kek_version: w.kek_version.0,
                });
            }
            let n = items.len() as u64;
            let mut e = AuditEvent::new(actor.clone(), Action::KeyRewrap, "cli");
            e.care_provider = Some(cp.clone());
            self.catalog.commit(
                Change::new(e.detail("to_version", new.0).detail("count", n))
                    .with(Mutation::Rewrap(items)),
            )?;
            done += n;
            progress(done, total);
        }
        Ok((new.0, done))
    }

    /// Finishes what a crash may have left unfinished — the one recovery `serve` runs before
    /// it accepts connections and `callvault repair` runs first: interrupted deletion orders
    /// are executed to the end; interrupted key rotations are finished with
    /// [`Rotations::Finish`] (hours for millions of keys under an HSM: the operator's
    /// `repair`) and only reported with [`Rotations::Report`] (the server, which must serve;
    /// meanwhile every key version still unwraps).
    pub fn recover<'m>(
        &self,
        by: impl Into<crate::Maintainer<'m>>,
        rotations: Rotations,
    ) -> Result<Recovery, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let finished_deletions = self.resume_deletions(by)?;
        let mut out = Vec::new();
        for (care_provider, pending) in self.interrupted_rotations()? {
            let outcome = match rotations {
                Rotations::Report => RotationOutcome::Left,
                // One rotation that cannot be finished (a data key that does not unwrap)
                // does not keep the others, or the repair after, from running.
                Rotations::Finish => match self.rotate_keys(&care_provider, by, |_, _| {}) {
                    Ok((version, rewrapped)) => RotationOutcome::Finished { version, rewrapped },
                    Err(e) => RotationOutcome::Failed(e.to_string()),
                },
            };
            out.push(RotationRecovery {
                care_provider,
                pending,
                outcome,
            });
        }
        Ok(Recovery {
            finished_deletions,
            rotations: out,
        })
    }

    /// Care providers whose key rotation was cut short (a crash, kill -9): data keys remain
    /// wrapped under a KEK version older than the current one. With each, how many. Such a
    /// rotation is finished by `rotate_keys` (`callvault repair` or `keys rotate`).
    pub fn interrupted_rotations(&self) -> Result<Vec<(CareProvider, u64)>, VaultError> {
        let per_version = self.catalog.stats()?.per_kek_version;
        let mut out = Vec::new();
        for k in self.keys.list_keks()? {
            if !k.current {
                continue;
            }
            let pending: u64 = per_version
                .iter()
                .filter(|(c, v, _)| c == k.care_provider.as_str() && *v < k.version.0)
                .map(|(_, _, n)| n)
                .sum();
            if pending > 0 {
                out.push((k.care_provider, pending));
            }
        }
        Ok(out)
    }

    /// Destroys a care provider's retired KEK versions that no data key uses any more (after
    /// a completed rotation). Each destruction is recorded before it is carried out, so none
    /// is ever unaudited. Returns the versions destroyed.
    ///
    /// Together with a rotation this is what makes a destruction reach backups: a catalog
    /// backup taken before a recording was destroyed holds its data key wrapped under a
    /// version that no longer exists.
    pub fn destroy_retired_keys<'m>(
        &self,
        cp: &CareProvider,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<Vec<u32>, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let current = self.keys.current_kek(cp)?;
        let in_use = self.catalog.stats()?.per_kek_version;
        let mut destroyed = Vec::new();
        for k in self.keys.list_keks()? {
            if &k.care_provider != cp || k.version.0 >= current.0 {
                continue;
            }
            let used = in_use
                .iter()
                .find(|(c, v, _)| c == cp.as_str() && *v == k.version.0)
                .map_or(0, |(_, _, n)| *n);
            if used > 0 {
                continue;
            }
            let mut e = AuditEvent::new(actor.clone(), Action::KeyDestroy, "cli");
            e.care_provider = Some(cp.clone());
            self.catalog.commit(Change::new(
                e.detail("version", k.version.0)
                    .detail("current_version", current.0),
            ))?;
            self.keys.destroy_kek(cp, k.version)?;
            destroyed.push(k.version.0);
        }
        Ok(destroyed)
    }

    /// Copies recordings with open repair tasks from a site holding a good copy (matching
    /// the catalog's ciphertext hash and decrypting to its plaintext hash) to the site that
    /// lacks it. Every step is audited. Returns (repaired, still open).
    pub fn repair<'m>(
        &self,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<(u64, u64), VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let mut repaired = 0;
        let mut open = 0;
        for task in self.catalog.open_repair_tasks()? {
            let Some(row) = self.catalog.recording(&task.recording_id)? else {
                open += 1;
                continue;
            };
            let key = blob_key(&row.rec.id)?;
            let Some(target) = self.stores.iter().find(|s| s.site().as_str() == task.site) else {
                open += 1;
                continue;
            };
            // A source copy must match the catalog's ciphertext hash *and* decrypt, under
            // this recording's own key and header, to the catalog's plaintext hash: a copy
            // swapped in from elsewhere, or damaged in a way only decryption shows, is never
            // copied over another site.
            let dek = match self.data_key(&row.rec) {
                Ok(k) => k,
                Err(_) => {
                    open += 1;
                    continue;
                }
            };
            let expected = EnvelopeHeader::v1(row.rec.id, DekId(row.rec.dek_id));
            let good = self
                .stores
                .iter()
                .filter(|s| s.site().as_str() != task.site)
                .find_map(|s| {
                    let data = s.get_range(&key, 0..row.rec.ciphertext_size).ok()?;
                    if callvault_crypto::sha256(&data) != row.rec.ciphertext_sha256 {
                        return None;
                    }
                    let plain = callvault_crypto::envelope::open_blob(&data[..], &expected, &dek)
                        .and_then(|b| b.hash_all())
                        .ok()?;
                    (plain == row.rec.plaintext_sha256).then_some(data)
                });
            let Some(data) = good else {
                open += 1;
                continue;
            };
            let mut e = AuditEvent::new(actor.clone(), Action::Repaired, "cli");
            e.recording = Some(RecordingRef {
                id: row.rec.id,
                plaintext_sha256: row.rec.plaintext_sha256,
            });
            e.care_provider = Some(row.rec.care_provider.clone());
            e = e.detail("site", &task.site);
            // A damaged copy must go before the good one can be put (put never overwrites).
            // The removal is audited before it happens, so no crash leaves it unrecorded.
            let present = match target.head(&key) {
                Ok(p) => p.is_some(),
                Err(err) => {
                    e.outcome = Outcome::Failed(truncate(&err.to_string(), 200));
                    self.catalog.commit(Change::new(e))?;
                    open += 1;
                    continue;
                }
            };
            if present {
                let removal = e.clone().detail("step", "remove damaged copy");
                self.catalog.commit(Change::new(removal))?;
                if let Err(err) = target.delete(&key) {
                    e.outcome = Outcome::Failed(truncate(&err.to_string(), 200));
                    self.catalog.commit(Change::new(e))?;
                    open += 1;
                    continue;
                }
            }
            e = e.detail("removed_damaged_copy", present);
            if let Err(err) = callvault_blobstore::put_bytes(&**target, &key, &data) {
                e.outcome = Outcome::Failed(truncate(&err.to_string(), 200));
                self.catalog.commit(Change::new(e))?;
                open += 1;
                continue;
            }
            self.catalog
                .commit(Change::new(e).with(Mutation::SetPlacement {
                    recording_id: row.rec.id,
                    placement: Placement {
                        site: task.site.clone(),
                        state: PlacementState::Ok,
                    },
                    reason: String::new(),
                }))?;
            repaired += 1;
        }
        Ok((repaired, open))
    }

    /// Objects at the sites that no recording ever owned, per site: no catalog row, no
    /// tombstone, and no ingest or import event naming the id. After a crash that is the
    /// ciphertext of an upload or import cut short after its blobs were written and before
    /// its catalog commit: never acknowledged, its data key never stored, so it can never
    /// be decrypted.
    ///
    /// But the catalog holds the audit log too: after the catalog went back in time (a
    /// restore from an older backup, a promoted asynchronous replica) the objects of every
    /// recording acknowledged since look exactly the same, and their data keys exist only
    /// in the newer catalog. Hence deleting them is the operator's explicit decision
    /// (`callvault repair --remove-unacknowledged`), never automatic.
    ///
    /// A crash leaves at most one object per upload in flight. More than
    /// [`MAX_UNACKNOWLEDGED_PER_SITE`] unknown objects at a site is not that — a site shared
    /// with another vault's data directory, or a catalog gone back in time, would look like
    /// this — and is refused as an error.
    pub fn unacknowledged_objects(&self) -> Result<Vec<SiteObjects>, VaultError> {
        let mut found = Vec::new();
        for store in &self.stores {
            let mut unknown = Vec::new();
            for key in store.list()? {
                let Some(rid) = recording_of_key(&key) else {
                    continue;
                };
                if self.catalog.recording(&rid)?.is_none()
                    && self.catalog.tombstones(None, Some(&rid), false)?.is_empty()
                    && self
                        .catalog
                        .recording_events(&rid, &[Action::Import.code(), Action::Ingest.code()])?
                        .is_empty()
                {
                    unknown.push(key);
                }
            }
            if unknown.len() > MAX_UNACKNOWLEDGED_PER_SITE {
                return Err(VaultError::Refused(format!(
                    "site {} holds {} objects that this vault never acknowledged, more than interrupted uploads leave (at most {MAX_UNACKNOWLEDGED_PER_SITE}); is the site shared with another vault's data directory? Nothing was deleted",
                    store.site(),
                    unknown.len()
                )));
            }
            found.push((Arc::clone(store), unknown));
        }
        Ok(found)
    }

    /// Deletes the [`Vault::unacknowledged_objects`] — the operator's decision, see there.
    /// Each deletion is recorded before it happens, and a deletion that fails is recorded
    /// as failed. Returns how many objects were deleted.
    ///
    /// Only for a vault no server is running on (`callvault repair` holds the data
    /// directory's lock): inside a server, an upload in flight looks the same until its
    /// commit.
    pub fn remove_unacknowledged_objects<'m>(
        &self,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<u64, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let mut n = 0;
        for (store, unknown) in self.unacknowledged_objects()? {
            for key in unknown {
                let e = AuditEvent::new(actor.clone(), Action::OrphanRemoved, "repair")
                    .detail("site", store.site())
                    .detail("object", key.as_str());
                self.catalog.commit(Change::new(e.clone()))?;
                if let Err(err) = store.delete(&key) {
                    let mut failed = e;
                    failed.outcome = Outcome::Failed(truncate(&err.to_string(), 200));
                    self.catalog.commit(Change::new(failed))?;
                    continue;
                }
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Whether [`Vault::recover`] finishes interrupted key rotations or only reports them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rotations {
    /// Finish them (the operator's `repair`).
    Finish,
    /// Report them (the server at start).
    Report,
}

/// What [`Vault::recover`] found and did.
#[derive(Debug)]
pub struct Recovery {
    /// Deletion orders a crash interrupted, now executed to the end.
    pub finished_deletions: Vec<String>,
    /// Key rotations a crash interrupted.
    pub rotations: Vec<RotationRecovery>,
}

/// One interrupted key rotation.
#[derive(Debug)]
pub struct RotationRecovery {
    /// Whose.
    pub care_provider: CareProvider,
    /// Data keys that were under older KEK versions.
    pub pending: u64,
    /// What became of it.
    pub outcome: RotationOutcome,
}

/// What became of an interrupted key rotation.
#[derive(Debug)]
pub enum RotationOutcome {
    /// Finished: every data key re-wrapped under this version.
    Finished {
        /// The current KEK version.
        version: u32,
        /// Data keys re-wrapped now.
        rewrapped: u64,
    },
    /// Could not be finished (why).
    Failed(String),
    /// Left for the operator (`callvault repair`).
    Left,
}
