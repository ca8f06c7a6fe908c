//! Executing deletion orders: crypto-shredding, blob deletion at every site, resumption,
//! and blobs of destroyed recordings that reappear.

use std::collections::BTreeSet;

use callvault_audit::event::{Action as EventAction, Actor, AuditEvent, RecordingRef};
use callvault_auth::Authorized;
use callvault_catalog::{Change, DeletionState, Mutation};
use callvault_types::CareProvider;

use super::DeletionCertificate;
use crate::vault::blob_key;
use crate::{Vault, VaultError};

impl Vault {
    /// Executes (or resumes) an approved order and returns its deletion certificate. Refused
    /// while any of its recordings is under legal hold.
    pub fn execute_deletion(
        &self,
        authz: &Authorized,
        id: &str,
    ) -> Result<DeletionCertificate, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        let e = Self::decided_event(authz, EventAction::DeletionExecute).detail("order", id);
        self.run_order(&cp, id, e)
    }

    /// Finishes every order whose execution was interrupted (a crash, a site that was
    /// down): run by the server at start and by `callvault deletion resume`. Returns the
    /// orders finished.
    pub fn resume_deletions<'m>(
        &self,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<Vec<String>, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let mut done = Vec::new();
        for o in self
            .catalog
            .deletion_orders(None, None, Some(DeletionState::Executing))?
        {
            let mut e = AuditEvent::new(actor.clone(), EventAction::DeletionExecute, "resume")
                .detail("order", &o.order.id)
                .detail("resumed", "true");
            e.care_provider = Some(o.order.care_provider.clone());
            self.run_order(&o.order.care_provider, &o.order.id, e)?;
            done.push(o.order.id);
        }
        Ok(done)
    }

    fn run_order(
        &self,
        cp: &CareProvider,
        id: &str,
        start: AuditEvent,
    ) -> Result<DeletionCertificate, VaultError> {
        let order = self.load_order(cp, id)?;
        match order.state {
            DeletionState::Approved | DeletionState::Executing => {}
            DeletionState::Executed => return self.deletion_certificate(cp, id),
            other => {
                return Err(VaultError::Refused(format!(
                    "deletion order {id} is {}; only an approved order is executed",
                    other.as_str()
                )));
            }
        }
        let items = self.catalog.deletion_items(id)?;
        // A legal hold stops the whole order before anything is destroyed.
        let mut held = BTreeSet::new();
        let mut held_n = 0;
        for (rid, shredded) in &items {
            if !shredded {
                let h = self.catalog.active_holds_of(rid)?;
                if !h.is_empty() {
                    held_n += 1;
                    held.extend(h);
                }
            }
        }
        if held_n > 0 {
            return Err(VaultError::Refused(format!(
                "{held_n} recordings of deletion order {id} are under legal hold ({}); release the holds first",
                held.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let by = start.actor.to_string();
        self.commit_step(Change::new(start).with(Mutation::StartDeletion {
            id: id.to_owned(),
            by,
        }))?;
        let kind = order.order.kind;
        for (rid, shredded) in &items {
            if *shredded {
                continue;
            }
            let Some(row) = self.catalog.recording(rid)? else {
                return Err(VaultError::Refused(format!(
                    "recording {rid} of deletion order {id} is neither catalogued nor shredded"
                )));
            };
            let mut e = AuditEvent::new(Actor::Vault, EventAction::Shred, "deletion")
                .detail("order", id)
                .detail("kind", kind.as_str())
                .detail("reference", &order.order.reference)
                .detail("dek_id", hex::encode(row.rec.dek_id));
            e.recording = Some(RecordingRef {
                id: *rid,
                plaintext_sha256: row.rec.plaintext_sha256,
            });
            e.care_provider = Some(cp.clone());
            let at = e.time;
            self.commit_step(Change::new(e).with(Mutation::ShredRecording {
                order_id: id.to_owned(),
                recording_id: *rid,
                at,
            }))?;
        }
        // Blobs at every site; a failed site leaves the order executing.
        let mut failures = Vec::new();
        for tomb in self.catalog.tombstones(Some(id), None, true)? {
            let key = blob_key(&tomb.recording_id)?;
            let mut ok = true;
            for store in &self.stores {
                match store.delete(&key) {
                    Ok(()) => {}
                    Err(callvault_blobstore::BlobError::NotFound { .. }) => {}
                    Err(e) => {
                        ok = false;
                        failures.push(format!(
                            "{} at site {}: {e}",
                            tomb.recording_id,
                            store.site()
                        ));
                    }
                }
            }
            if ok {
                let mut e = AuditEvent::new(Actor::Vault, EventAction::BlobsDeleted, "deletion")
                    .detail("order", id)
                    .detail(
                        "sites",
                        self.stores
                            .iter()
                            .map(|s| s.site().to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                e.recording = Some(RecordingRef {
                    id: tomb.recording_id,
                    plaintext_sha256: tomb.plaintext_sha256,
                });
                e.care_provider = Some(cp.clone());
                self.commit_step(Change::new(e).with(Mutation::BlobsDeleted(tomb.recording_id)))?;
            }
        }
        if !failures.is_empty() {
            return Err(VaultError::Refused(format!(
                "the data keys are destroyed, but blobs could not be deleted ({}); execute the order again when the sites are back",
                failures.join("; ")
            )));
        }
        // No page image from before the deletion stays in the write-ahead log.
        self.catalog.truncate_wal()?;
        let mut e = AuditEvent::new(Actor::Vault, EventAction::DeletionDone, "deletion")
            .detail("order", id)
            .detail("recordings", items.len());
        e.care_provider = Some(cp.clone());
        let at = e.time;
        self.commit_step(Change::new(e).with(Mutation::FinishDeletion {
            id: id.to_owned(),
            at,
        }))?;
        self.issue_certificate(cp, id)
    }

    /// Deletes blobs of destroyed recordings that are present at a site again (a site
    /// restored from a backup taken before the deletion). They cannot be decrypted — their
    /// data keys are gone — but they should not linger. Each is recorded. Returns how many.
    pub fn delete_destroyed_blobs<'m>(
        &self,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<u64, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let mut n = 0;
        for store in &self.stores {
            for key in store.list()? {
                let Some(rid) = crate::vault::recording_of_key(&key) else {
                    continue;
                };
                let Some(tomb) = self.catalog.tombstones(None, Some(&rid), false)?.pop() else {
                    continue;
                };
                let mut e = AuditEvent::new(actor.clone(), EventAction::BlobsDeleted, "repair")
                    .detail("order", &tomb.order_id)
                    .detail("sites", store.site())
                    .detail("reappeared", "true");
                e.recording = Some(RecordingRef {
                    id: rid,
                    plaintext_sha256: tomb.plaintext_sha256,
                });
                e.care_provider = Some(tomb.care_provider.clone());
                // Recorded before it happens: no crash leaves a deletion unrecorded; a
                // deletion that fails is recorded as failed, and the next pass tries again.
                self.commit_step(Change::new(e.clone()))?;
                if let Err(err) = store.delete(&key) {
                    e.outcome = callvault_audit::event::Outcome::Failed(
                        err.to_string().chars().take(200).collect(),
                    );
                    self.commit_step(Change::new(e))?;
                    continue;
                }
                n += 1;
            }
        }
        Ok(n)
    }
}
