//! The log side of witnessing: what to send each configured witness (the latest checkpoint,
//! the size the witness last cosigned, a consistency proof between them), checking and
//! storing the cosignatures that come back, and recording refusals loudly. The HTTP
//! exchange itself is the server crate's (`callvault_server::witnessing`).

use callvault_audit::cosignature::CosignatureVerifier;
use callvault_audit::event::{Action, Actor, AuditEvent, Outcome};
use callvault_catalog::{Change, Mutation, StoredCheckpoint};

use crate::config::WitnessConfig;
use crate::{Vault, VaultError};

/// What to submit to one witness.
#[derive(Clone, Debug)]
pub struct WitnessSubmission {
    /// The witness.
    pub witness: WitnessConfig,
    /// The size the witness last cosigned for this log (0: never).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<[u8; 32]>,
    /// The checkpoint.
    pub checkpoint: StoredCheckpoint,
}

fn text_of(note: &str) -> &str {
    note.rfind("\n\n").map_or(note, |i| &note[..=i])
}

impl Vault {
    /// The configured witnesses.
    pub fn witnesses(&self) -> &[WitnessConfig] {
        &self.config.witnesses
    }

    /// What to send `witness` so that it cosigns the latest checkpoint, assuming it holds
    /// `old_size` (what it last cosigned for us, or the size it told us in a 409). `None` if
    /// it already cosigned the latest checkpoint.
    pub fn witness_submission(
        &self,
        witness: &WitnessConfig,
        old_size: Option<u64>,
    ) -> Result<Option<WitnessSubmission>, VaultError> {
        let checkpoint = self
            .catalog
            .latest_checkpoint()?
            .ok_or_else(|| VaultError::NoCheckpoint)?;
        let old_size = match old_size {
            Some(s) => s,
            None => self.catalog.witness_size(&witness.name)?.unwrap_or(0),
        };
        if old_size == checkpoint.size
            && self
                .catalog
                .cosignatures(checkpoint.size)?
                .iter()
                .any(|(w, _)| w == &witness.name)
        {
            return Ok(None);
        }
        let proof = if old_size == 0 || old_size == checkpoint.size {
            Vec::new()
        } else {
            self.consistency_proof(old_size)?.proof
        };
        Ok(Some(WitnessSubmission {
            witness: witness.clone(),
            old_size,
            proof,
            checkpoint,
        }))
    }

    /// Checks a witness's answer (its signature lines) against its key and the checkpoint,
    /// and stores the cosignature with an `audit.cosigned` event. Returns its timestamp.
    pub fn record_cosignature(
        &self,
        sub: &WitnessSubmission,
        answer: &str,
    ) -> Result<u64, VaultError> {
        let v = CosignatureVerifier::from_verifier_key(&sub.witness.verifier_key)
            .map_err(|e| VaultError::Witness(format!("key of {}: {e}", sub.witness.name)))?;
        let text = text_of(&sub.checkpoint.note);
        let mut found = None;
        for line in answer.lines() {
            match v.verify_line(text, line) {
                Ok(t) => {
                    found = Some((line.to_owned(), t));
                    break;
                }
                Err(callvault_audit::note::NoteError::NoMatchingSignature) => continue,
                Err(e) => {
                    return Err(VaultError::Witness(format!(
                        "{} answered with a bad cosignature: {e}",
                        sub.witness.name
                    )));
                }
            }
        }
        let (line, time) = found.ok_or_else(|| {
            VaultError::Witness(format!(
                "{} answered without a cosignature by its key",
                sub.witness.name
            ))
        })?;
        let e = AuditEvent::new(Actor::Vault, Action::Cosigned, "witness")
            .detail("witness", &sub.witness.name)
            .detail("size", sub.checkpoint.size)
            .detail("time", time);
        self.catalog
            .commit(Change::new(e).with(Mutation::StoreCosignature {
                size: sub.checkpoint.size,
                witness: sub.witness.name.clone(),
                line,
                time,
            }))?;
        Ok(time)
    }

    /// Records that a witness refused a checkpoint (an inconsistent proof or a fork is
    /// evidence that this log, or its signing key, is being misused).
    pub fn record_witness_refusal(
        &self,
        sub: &WitnessSubmission,
        status: u16,
        answer: &str,
    ) -> Result<(), VaultError> {
        let mut e = AuditEvent::new(Actor::Vault, Action::WitnessRefused, "witness")
            .detail("witness", &sub.witness.name)
            .detail("size", sub.checkpoint.size)
            .detail("old_size", sub.old_size)
            .detail("status", status);
        e.outcome = Outcome::Failed(crate::vault::truncate(answer.trim(), 200));
        self.catalog.commit(Change::new(e))?;
        Ok(())
    }

    /// The latest checkpoint with every stored cosignature appended (a note whose extra
    /// signature lines any C2SP verifier ignores unless it trusts those witnesses).
    pub fn cosigned_checkpoint(&self) -> Result<Option<String>, VaultError> {
        let Some(cp) = self.catalog.latest_checkpoint()? else {
            return Ok(None);
        };
        let mut note = cp.note;
        for (_, line) in self.catalog.cosignatures(cp.size)? {
            note.push_str(&line);
            note.push('\n');
        }
        Ok(Some(note))
    }
}
