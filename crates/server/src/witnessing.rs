//! Submitting checkpoints to witnesses (C2SP tlog-witness, client side).

use callvault_vault::Vault;
use callvault_vault::config::WitnessConfig;

use crate::client::ApiClient;

/// What one witness did with the latest checkpoint.
#[derive(Debug)]
pub enum WitnessOutcome {
    /// It cosigned (timestamp of the cosignature).
    Cosigned(u64),
    /// It had cosigned the latest checkpoint already.
    UpToDate,
    /// It refused (status and its message); recorded as `audit.witness-refused`.
    Refused(u16, String),
    /// It could not be reached or answered nonsense (not recorded in the log).
    Failed(String),
}

fn submit_one(vault: &Vault, w: &WitnessConfig) -> WitnessOutcome {
    let client = match ApiClient::anonymous(&w.url, &w.ca) {
        Ok(c) => c,
        Err(e) => return WitnessOutcome::Failed(e.to_string()),
    };
    let mut old = None;
    // At most one retry: after a 409 that names the size the witness holds.
    for _ in 0..2 {
        let sub = match vault.witness_submission(w, old) {
            Ok(Some(s)) => s,
            Ok(None) => return WitnessOutcome::UpToDate,
            Err(e) => return WitnessOutcome::Failed(e.to_string()),
        };
        let body = callvault_audit::witness::format_add_checkpoint(
            sub.old_size,
            &sub.proof,
            &sub.checkpoint.note,
        );
        let r = match client.call_with(
            "POST",
            "/add-checkpoint",
            Some(("text/plain; charset=utf-8", body.as_bytes())),
        ) {
            Ok(r) => r,
            Err(e) => return WitnessOutcome::Failed(e.to_string()),
        };
        let text = String::from_utf8_lossy(&r.body).into_owned();
        match r.status {
            200 => {
                return match vault.record_cosignature(&sub, &text) {
                    Ok(t) => WitnessOutcome::Cosigned(t),
                    Err(e) => WitnessOutcome::Failed(e.to_string()),
                };
            }
            409 if r.content_type.starts_with("text/x.tlog.size") && old.is_none() => {
                match text.trim().parse::<u64>() {
                    Ok(n) => old = Some(n),
                    Err(_) => return WitnessOutcome::Failed(format!("409 with body {text:?}")),
                }
            }
            status => {
                if let Err(e) = vault.record_witness_refusal(&sub, status, &text) {
                    return WitnessOutcome::Failed(e.to_string());
                }
                return WitnessOutcome::Refused(status, text.trim().to_owned());
            }
        }
    }
    WitnessOutcome::Failed("the witness's size is not one of this log's checkpoints".into())
}

/// Submits the latest checkpoint to every configured witness; one outcome per witness.
pub fn submit_to_witnesses(vault: &Vault) -> Vec<(String, WitnessOutcome)> {
    vault
        .witnesses()
        .iter()
        .map(|w| (w.name.clone(), submit_one(vault, w)))
        .collect()
}
