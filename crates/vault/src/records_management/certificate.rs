//! Deletion certificates: issuing one after an order is executed, and verifying one offline
//! with the audit log's public key only.

use base64::Engine as _;
use callvault_audit::event::{Action as EventAction, Actor, AuditEvent};
use callvault_auth::Authorized;
use callvault_catalog::{Change, DeletionState, Mutation};
use callvault_types::{CareProvider, RecordingId};
use serde::{Deserialize, Serialize};

use super::{CERTIFICATE_V1, t};
use crate::{Vault, VaultError};

/// One proof of a deletion certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertificateProof {
    /// Recording id.
    pub recording: String,
    /// Leaf index of its `recording.shred` event.
    pub leaf_index: u64,
    /// The encoded event (base64): the leaf data.
    pub event: String,
    /// Audit path (base64 hashes), RFC 9162.
    pub hashes: Vec<String>,
}

/// A deletion certificate: the signed statement, the checkpoint it refers to, and an
/// inclusion proof of every shred event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeletionCertificate {
    /// `callvault-deletion-certificate-v1`.
    pub format: String,
    /// The statement, a C2SP signed note by the audit log's key.
    pub statement: String,
    /// The signed checkpoint the proofs verify against.
    pub checkpoint: String,
    /// One per destroyed recording.
    pub proofs: Vec<CertificateProof>,
}

/// What a verified certificate says.
#[derive(Clone, Debug)]
pub struct VerifiedCertificate {
    /// The order.
    pub order: String,
    /// Recordings proven destroyed.
    pub recordings: Vec<RecordingId>,
    /// The statement's text.
    pub statement: String,
}

impl Vault {
    /// Signs a checkpoint covering the order's shred events and stores the certificate.
    pub(super) fn issue_certificate(
        &self,
        cp: &CareProvider,
        id: &str,
    ) -> Result<DeletionCertificate, VaultError> {
        let order = self.load_order(cp, id)?;
        let checkpoint = self.checkpoint()?;
        let hashes = self.catalog.audit_leaf_hashes(checkpoint.size)?;
        let tombs = self.catalog.tombstones(Some(id), None, false)?;
        let b64 = |h: &[u8]| base64::engine::general_purpose::STANDARD.encode(h);
        let o = &order.order;
        let mut lines = vec![
            CERTIFICATE_V1.to_owned(),
            format!("order {}", o.id),
            format!("kind {}", o.kind.as_str()),
            format!("care-provider {}", o.care_provider),
            format!("reference {}", o.reference),
        ];
        if let Some(d) = &o.decision_date {
            lines.push(format!("decision-date {d}"));
        }
        if let Some(h) = &o.document_sha256 {
            lines.push(format!("decision-document-sha256 {}", hex::encode(h)));
        }
        lines.push(format!(
            "registered-by {} {}",
            o.registered_by,
            t(o.registered_at)
        ));
        if let Some((by, at, _)) = &order.decision {
            lines.push(format!("approved-by {by} {}", t(*at)));
        }
        if let Some((_, Some(at))) = &order.executed {
            lines.push(format!("executed-at {}", t(*at)));
        }
        lines.push(format!(
            "checkpoint {} {}",
            checkpoint.size,
            b64(&checkpoint.root_hash)
        ));
        lines.push(format!("recordings {}", tombs.len()));
        let mut proofs = Vec::with_capacity(tombs.len());
        for tomb in &tombs {
            let events = self
                .catalog
                .recording_events(&tomb.recording_id, &[EventAction::Shred.code()])?;
            let (leaf, event) = events.into_iter().next().ok_or_else(|| {
                VaultError::DamagedRecord(format!(
                    "no recording.shred event for destroyed recording {}",
                    tomb.recording_id
                ))
            })?;
            let path = callvault_audit::merkle::inclusion_proof(&hashes, leaf)?;
            lines.push(format!(
                "destroyed {} plaintext-sha256 {} ciphertext-sha256 {} dek {} leaf {leaf}",
                tomb.recording_id,
                hex::encode(tomb.plaintext_sha256),
                hex::encode(tomb.ciphertext_sha256),
                hex::encode(tomb.dek_id)
            ));
            proofs.push(CertificateProof {
                recording: tomb.recording_id.to_string(),
                leaf_index: leaf,
                event: b64(&event),
                hashes: path.iter().map(|h| b64(h)).collect(),
            });
        }
        let mut text = lines.join("\n");
        text.push('\n');
        let statement = self.signer.sign(&text)?;
        let cert = DeletionCertificate {
            format: "callvault-deletion-certificate-v1".into(),
            statement,
            checkpoint: checkpoint.note.clone(),
            proofs,
        };
        let json = serde_json::to_string_pretty(&cert)?;
        let mut e = AuditEvent::new(Actor::Vault, EventAction::DeletionCertificate, "deletion")
            .detail("order", id)
            .detail(
                "certificate_sha256",
                crate::governance::sha256_hex(json.as_bytes()),
            )
            .detail("checkpoint_size", checkpoint.size);
        e.care_provider = Some(cp.clone());
        self.commit_step(Change::new(e).with(Mutation::StoreCertificate {
            id: id.to_owned(),
            text: json,
        }))?;
        Ok(cert)
    }

    /// The stored certificate of an executed order.
    pub fn deletion_certificate(
        &self,
        cp: &CareProvider,
        id: &str,
    ) -> Result<DeletionCertificate, VaultError> {
        let order = self.load_order(cp, id)?;
        if order.state != DeletionState::Executed {
            return Err(VaultError::Refused(format!(
                "deletion order {id} is {}; a certificate exists once it is executed",
                order.state.as_str()
            )));
        }
        match self.catalog.deletion_certificate(id)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| VaultError::DamagedRecord(format!("stored certificate of {id}: {e}"))),
            // Executed but interrupted before the certificate was stored.
            None => self.issue_certificate(cp, id),
        }
    }

    /// A certificate for an authorized records manager.
    pub fn deletion_certificate_for(
        &self,
        authz: &Authorized,
        id: &str,
    ) -> Result<DeletionCertificate, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_records(authz, &cp)?;
        self.deletion_certificate(&cp, id)
    }
}

/// Why a certificate does not verify.
fn bad(m: impl Into<String>) -> VaultError {
    VaultError::Certificate(m.into())
}

/// The verifier of an audit log's public key string (`callvault audit verifier-key`).
pub fn verifier_from_key(key: &str) -> Result<callvault_audit::note::NoteVerifier, VaultError> {
    callvault_audit::note::NoteVerifier::from_verifier_key(key.trim())
        .map_err(|e| VaultError::InvalidRequest(format!("verifier key: {e}")))
}

/// Verifies a deletion certificate offline with the audit log's verifier key: the
/// statement's signature, the checkpoint's signature and that it is the one the statement
/// names, and for every destroyed recording the statement lists, a `recording.shred` event
/// of that recording (with that plaintext hash) included in the checkpoint's tree.
pub fn verify_certificate(
    verifier: &callvault_audit::note::NoteVerifier,
    json: &str,
) -> Result<VerifiedCertificate, VaultError> {
    use callvault_audit::merkle::{leaf_hash, verify_inclusion};
    let cert: DeletionCertificate =
        serde_json::from_str(json).map_err(|e| bad(format!("not a certificate: {e}")))?;
    if cert.format != "callvault-deletion-certificate-v1" {
        return Err(bad(format!("unknown format {:?}", cert.format)));
    }
    let text = verifier
        .verify(&cert.statement)
        .map_err(|e| bad(format!("statement signature: {e}")))?;
    let cp = callvault_audit::note::verify_checkpoint(verifier, &cert.checkpoint)
        .map_err(|e| bad(format!("checkpoint: {e}")))?;
    let mut lines = text.lines();
    if lines.next() != Some(CERTIFICATE_V1) {
        return Err(bad("the statement is not a deletion certificate"));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut order = String::new();
    let mut listed: Vec<(RecordingId, [u8; 32], u64)> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        match f.as_slice() {
            ["order", id] => order = (*id).to_owned(),
            ["checkpoint", size, root] => {
                let root = b64.decode(root).map_err(|_| bad("checkpoint root"))?;
                if size.parse::<u64>().ok() != Some(cp.size) || root != cp.root_hash {
                    return Err(bad("the checkpoint is not the one the statement names"));
                }
            }
            [
                "destroyed",
                id,
                "plaintext-sha256",
                pt,
                "ciphertext-sha256",
                _,
                "dek",
                _,
                "leaf",
                leaf,
            ] => {
                let id = RecordingId::parse(id).map_err(|_| bad("recording id"))?;
                let pt: [u8; 32] = hex::decode(pt)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| bad("plaintext hash"))?;
                listed.push((id, pt, leaf.parse().map_err(|_| bad("leaf index"))?));
            }
            _ => {}
        }
    }
    if listed.len() != cert.proofs.len() {
        return Err(bad(
            "the statement and the proofs list different recordings",
        ));
    }
    for ((id, pt, leaf), proof) in listed.iter().zip(&cert.proofs) {
        if proof.recording != id.to_string() || proof.leaf_index != *leaf {
            return Err(bad(format!("proof of {id} does not match the statement")));
        }
        let event = b64
            .decode(&proof.event)
            .map_err(|_| bad("event encoding"))?;
        let e = AuditEvent::decode(&event).map_err(|e| bad(format!("event of {id}: {e}")))?;
        if e.action != EventAction::Shred
            || e.recording.map(|r| (r.id, r.plaintext_sha256)) != Some((*id, *pt))
        {
            return Err(bad(format!("leaf {leaf} is not the shred event of {id}")));
        }
        let hashes: Vec<[u8; 32]> = proof
            .hashes
            .iter()
            .map(|h| {
                b64.decode(h)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| bad("proof hash"))
            })
            .collect::<Result<_, _>>()?;
        verify_inclusion(*leaf, cp.size, &leaf_hash(&event), &hashes, &cp.root_hash)
            .map_err(|e| bad(format!("inclusion of {id}: {e}")))?;
    }
    Ok(VerifiedCertificate {
        order,
        recordings: listed.into_iter().map(|(id, _, _)| id).collect(),
        statement: text,
    })
}
