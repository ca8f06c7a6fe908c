//! The witness side of C2SP [tlog-witness](https://c2sp.org/tlog-witness): parsing an
//! `add-checkpoint` request and deciding, against what the witness has cosigned before,
//! whether to cosign — or which status the spec gives for the refusal. Pure: the caller
//! keeps the state durably and checks-and-updates it atomically.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::merkle::{Hash, verify_consistency};
use crate::note::{Checkpoint, NoteVerifier, verify_checkpoint};

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: String,
}

/// What a witness last cosigned for a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// Why a witness refuses a checkpoint; [`WitnessError::status`] is the HTTP status the
/// spec requires.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The request is malformed, or its old size exceeds the checkpoint's size (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The checkpoint's origin is not a log this witness knows (404).
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// No signature on the checkpoint verifies with the log's key (403).
    #[error("the checkpoint is not signed by the log's key: {0}")]
    BadSignature(String),
    /// The old size is not the size the witness last cosigned (409, with that size).
    #[error("old size does not match; the witness last cosigned size {latest}")]
    OldSizeMismatch {
        /// The size the witness holds.
        latest: u64,
    },
    /// Same size as the last cosigned checkpoint but a different root: a fork (409).
    #[error("a different tree of the same size was cosigned before: the log has forked")]
    SameSizeDifferentRoot,
    /// The consistency proof does not verify (422): the log has forked or the proof is
    /// wrong.
    #[error("the consistency proof does not verify: {0}")]
    InconsistentProof(String),
}

impl WitnessError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::UnknownLog(_) => 404,
            Self::BadSignature(_) => 403,
            Self::OldSizeMismatch { .. } | Self::SameSizeDifferentRoot => 409,
            Self::InconsistentProof(_) => 422,
        }
    }
}

fn bad(m: impl Into<String>) -> WitnessError {
    WitnessError::BadRequest(m.into())
}

/// Parses an `add-checkpoint` body: `old <size>`, up to 63 base64 proof lines, an empty
/// line, then the checkpoint note.
pub fn parse_add_checkpoint(body: &str) -> Result<AddCheckpoint, WitnessError> {
    let (head, note) = body
        .split_once("\n\n")
        .ok_or_else(|| bad("no empty line before the checkpoint"))?;
    let mut lines = head.split('\n');
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .ok_or_else(|| bad("the first line must be `old <size>`"))?;
    if old.is_empty()
        || !old.bytes().all(|b| b.is_ascii_digit())
        || (old.len() > 1 && old.starts_with('0'))
    {
        return Err(bad("old size is not a canonical decimal number"));
    }
    let old_size: u64 = old
        .parse()
        .map_err(|_| bad("old size is not a canonical decimal number"))?;
    let mut proof = Vec::new();
    for l in lines {
        if proof.len() == MAX_PROOF_LINES {
            return Err(bad(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            )));
        }
        let h: Hash = STANDARD
            .decode(l)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("a consistency proof line is not base64 of 32 bytes"))?;
        proof.push(h);
    }
    Ok(AddCheckpoint {
        old_size,
        proof,
        note: note.to_owned(),
    })
}

/// The body of an `add-checkpoint` request.
pub fn format_add_checkpoint(old_size: u64, proof: &[Hash], note: &str) -> String {
    let mut out = format!("old {old_size}\n");
    for h in proof {
        out.push_str(&STANDARD.encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}

/// Decides a request: the checkpoint to cosign, or why not, in the order the spec checks.
/// `logs` are the logs the witness knows (one verifier key each), `seen` what it last
/// cosigned for this request's origin. The caller must check `seen` and store the result
/// atomically.
pub fn decide(
    logs: &[NoteVerifier],
    seen: impl Fn(&str) -> Option<Seen>,
    req: &AddCheckpoint,
) -> Result<Checkpoint, WitnessError> {
    let origin = req
        .note
        .split('\n')
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("the checkpoint has no origin line"))?;
    let verifier = logs
        .iter()
        .find(|v| v.name() == origin)
        .ok_or_else(|| WitnessError::UnknownLog(origin.to_owned()))?;
    let cp = verify_checkpoint(verifier, &req.note).map_err(|e| match e {
        crate::note::NoteError::NoMatchingSignature | crate::note::NoteError::InvalidSignature => {
            WitnessError::BadSignature(e.to_string())
        }
        other => bad(format!("checkpoint: {other}")),
    })?;
    if req.old_size > cp.size {
        return Err(bad(format!(
            "old size {} is larger than the checkpoint's size {}",
            req.old_size, cp.size
        )));
    }
    let latest = seen(origin);
    let latest_size = latest.as_ref().map_or(0, |s| s.size);
    if req.old_size != latest_size {
        return Err(WitnessError::OldSizeMismatch {
            latest: latest_size,
        });
    }
    match latest {
        None => {
            if !req.proof.is_empty() {
                return Err(WitnessError::InconsistentProof(
                    "the proof must be empty when the old size is zero".into(),
                ));
            }
        }
        Some(s) if s.size == cp.size => {
            if s.root != cp.root_hash {
                return Err(WitnessError::SameSizeDifferentRoot);
            }
        }
        Some(s) => verify_consistency(s.size, cp.size, &s.root, &cp.root_hash, &req.proof)
            .map_err(|e| WitnessError::InconsistentProof(e.to_string()))?,
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, leaf_hash, root};
    use crate::note::{NoteSigner, sign_checkpoint};

    const ORIGIN: &str = "audit.callvault.test.example";

    fn leaves(n: u64, forked_at: Option<u64>) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let tag = if Some(i) == forked_at {
                    "forged"
                } else {
                    "event"
                };
                leaf_hash(format!("{tag} {i}").as_bytes())
            })
            .collect()
    }

    fn note(signer: &NoteSigner, l: &[Hash]) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: l.len() as u64,
            root_hash: root(l),
            extensions: Vec::new(),
        };
        sign_checkpoint(signer, &cp).expect("sign")
    }

    fn req(old_size: u64, proof: Vec<Hash>, note: String) -> AddCheckpoint {
        let body = format_add_checkpoint(old_size, &proof, &note);
        let parsed = parse_add_checkpoint(&body).expect("parse");
        assert_eq!(
            parsed,
            AddCheckpoint {
                old_size,
                proof,
                note
            }
        );
        parsed
    }

    #[test]
    fn cosigns_honest_growth_and_refuses_forks_with_the_specified_status() {
        let (log, _) = NoteSigner::generate(ORIGIN).expect("log key");
        let logs = vec![NoteVerifier::from_verifier_key(&log.verifier_key()).expect("vkey")];
        let honest = leaves(12, None);
        let none = |_: &str| None;
        // First contact: old size 0, empty proof.
        let cp = decide(&logs, none, &req(0, vec![], note(&log, &honest[..5]))).expect("first");
        assert_eq!(cp.size, 5);
        let seen5 = |_: &str| {
            Some(Seen {
                size: 5,
                root: root(&honest[..5]),
            })
        };
        // Honest growth 5 → 10 with a consistency proof.
        let proof = consistency_proof(&honest[..10], 5).expect("proof");
        decide(&logs, seen5, &req(5, proof, note(&log, &honest[..10]))).expect("growth");
        // The client's old size is stale: 409 with the size the witness holds.
        let err =
            decide(&logs, seen5, &req(3, vec![], note(&log, &honest[..10]))).expect_err("stale");
        assert_eq!(
            (err.status(), err.clone()),
            (409, WitnessError::OldSizeMismatch { latest: 5 })
        );
        // A fork of the same size: 409.
        let seen10 = |_: &str| {
            Some(Seen {
                size: 10,
                root: root(&honest[..10]),
            })
        };
        let forked = leaves(12, Some(7));
        let err =
            decide(&logs, seen10, &req(10, vec![], note(&log, &forked[..10]))).expect_err("fork");
        assert_eq!(
            (err.status(), err),
            (409, WitnessError::SameSizeDifferentRoot)
        );
        // A fork of overlapping size: the forked tree's own proof does not reach the honest
        // root the witness holds: 422.
        let seen8 = |_: &str| {
            Some(Seen {
                size: 8,
                root: root(&honest[..8]),
            })
        };
        let proof = consistency_proof(&forked[..12], 8).expect("proof");
        let err =
            decide(&logs, seen8, &req(8, proof, note(&log, &forked[..12]))).expect_err("fork");
        assert_eq!(err.status(), 422, "{err}");
        // Same size, same root: fine (idempotent resubmission).
        decide(&logs, seen10, &req(10, vec![], note(&log, &honest[..10]))).expect("same");
        // A proof when the old size is zero: 422.
        let err = decide(
            &logs,
            none,
            &req(0, vec![[0; 32]], note(&log, &honest[..5])),
        )
        .expect_err("proof");
        assert_eq!(err.status(), 422);
        // Old size beyond the checkpoint: 400.
        let err =
            decide(&logs, seen5, &req(11, vec![], note(&log, &honest[..10]))).expect_err("old");
        assert_eq!(err.status(), 400);
        // Unknown origin: 404. Signed by another key under the same name: 403.
        let (other, _) = NoteSigner::generate("other.example").expect("key");
        let cp_other = sign_checkpoint(
            &other,
            &Checkpoint {
                origin: "other.example".into(),
                size: 1,
                root_hash: honest[0],
                extensions: vec![],
            },
        )
        .expect("sign");
        assert_eq!(
            decide(&logs, none, &req(0, vec![], cp_other))
                .expect_err("origin")
                .status(),
            404
        );
        let (impostor, _) = NoteSigner::generate(ORIGIN).expect("key");
        let err =
            decide(&logs, none, &req(0, vec![], note(&impostor, &honest[..5]))).expect_err("sig");
        assert_eq!(err.status(), 403, "{err}");
    }

    #[test]
    fn malformed_requests_are_400() {
        for body in [
            "",
            "old 5\n",
            "new 5\n\nx\n",
            "old 05\n\nx\n",
            "old -1\n\nx\n",
            "old 5\nnot base64\n\nx\n",
            "old 5\nAAAA\n\nx\n",
        ] {
            let e = parse_add_checkpoint(body).expect_err(body);
            assert_eq!(e.status(), 400, "{body:?}");
        }
        let many = format!(
            "old 1\n{}\nx\n",
            format!("{}\n", STANDARD.encode([0u8; 32])).repeat(64)
        );
        assert!(
            parse_add_checkpoint(&many)
                .expect_err("64 lines")
                .to_string()
                .contains("more than 63")
        );
    }
}
