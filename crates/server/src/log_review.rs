//! Log review (logguppföljning): the audit log and a patient's access log, for log
//! reviewers only; reading them is itself an audited access.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use callvault_audit::event::{AuditEvent, Outcome};
use callvault_auth::{AccessRequest, Action, AuthenticatedPrincipal, Authorized, Resource};
use callvault_types::{CareProvider, PatientId};
use callvault_vault::access::target::{AuditLog, PatientAccessLog};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::app::{PurposeParams, blocking, purpose};
use crate::problem::Problem;
use crate::wire::AccessLogBody;

/// Most events one request returns.
pub const MAX_EVENTS: u64 = 1000;

/// Query of the review routes.
#[derive(Debug, Deserialize)]
pub struct ReviewParams {
    pub(crate) care_provider: Option<String>,
    pub(crate) limit: Option<u64>,
    #[serde(flatten)]
    pub(crate) purpose: PurposeParams,
}

/// One audit event as a reviewer sees it: no sealed values, patients only as an index prefix.
#[derive(Debug, Serialize)]
pub struct EventBody {
    index: u64,
    time: String,
    actor: String,
    actor_care_unit: Option<String>,
    assignment: Option<String>,
    action: &'static str,
    outcome: &'static str,
    reason: Option<String>,
    recording: Option<String>,
    care_provider: Option<String>,
    purpose: Option<String>,
    emergency_access: bool,
    details: Vec<(String, String)>,
}

fn body(idx: u64, e: AuditEvent) -> EventBody {
    let (outcome, reason) = match e.outcome {
        Outcome::Granted => ("granted", None),
        Outcome::Denied(r) => ("denied", Some(r)),
        Outcome::Failed(r) => ("failed", Some(r)),
    };
    EventBody {
        index: idx,
        time: e.time.format(&Rfc3339).unwrap_or_default(),
        actor: e.actor.to_string(),
        actor_care_unit: e.actor_care_unit.map(|u| u.to_string()),
        assignment: e.assignment,
        action: e.action.code(),
        outcome,
        reason,
        recording: e.recording.map(|r| r.id.to_string()),
        care_provider: e.care_provider.map(|c| c.to_string()),
        purpose: e.purpose,
        emergency_access: e
            .details
            .iter()
            .any(|(k, v)| k == "emergency_access" && v == "true"),
        details: e
            .details
            .into_iter()
            .filter(|(k, _)| !k.ends_with("_sealed"))
            .collect(),
    }
}

pub(crate) fn decide(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    action: Action,
    params: &ReviewParams,
) -> Result<Authorized, Problem> {
    let cp = params.care_provider.as_deref().ok_or_else(|| {
        Problem::bad_request("the query parameter care_provider (HSA-ID) is required")
    })?;
    let cp =
        CareProvider::parse(cp).map_err(|e| Problem::bad_request(format!("care_provider: {e}")))?;
    let req = AccessRequest {
        action,
        resource: Resource {
            care_provider: cp,
            care_unit: None,
        },
        purpose: purpose(&params.purpose)?,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    };
    crate::app::authorize(state, who, &req, None)
}

/// `GET /api/v1/audit/events?care_provider=&purpose=logguppfoljning&limit=`
pub async fn audit_events(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(mut params): Query<ReviewParams>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<EventBody>>, Problem> {
    params.purpose = params.purpose.with_headers(&headers)?;
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &params)?;
        let receipt = state
            .vault
            .record_access(authz, AuditLog { limit })
            .map_err(|e| Problem::internal(&e))?;
        let events = state
            .vault
            .read_audit_events(&receipt)
            .map_err(|e| Problem::internal(&e))?;
        Ok(Json(events.into_iter().map(|(i, e)| body(i, e)).collect()))
    })
    .await
}

/// `POST /api/v1/patients/access-log?care_provider=&purpose=logguppfoljning` with
/// `{"patient": "…"}`: every audit event about the patient at the care provider.
pub async fn access_log(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(mut params): Query<ReviewParams>,
    headers: axum::http::HeaderMap,
    request: axum::body::Bytes,
) -> Result<Json<Vec<EventBody>>, Problem> {
    params.purpose = params.purpose.with_headers(&headers)?;
    let b: AccessLogBody = crate::governance::json(&request)?;
    let patient = PatientId::parse_any(&b.patient)
        .map_err(|e| Problem::bad_request(format!("patient: {e}")))?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAccessLog, &params)?;
        let receipt = state
            .vault
            .record_access(authz, PatientAccessLog { patient })
            .map_err(|e| Problem::internal(&e))?;
        let events = state
            .vault
            .patient_access_log(&receipt)
            .map_err(|e| Problem::internal(&e))?;
        Ok(Json(events.into_iter().map(|(i, e)| body(i, e)).collect()))
    })
    .await
}

/// `GET /api/v1/audit/verifier-key`: the audit log's public verifier key in the C2SP
/// signed-note vkey form (`<origin>+<key id>+<base64(type || public key)>`), so that anyone
/// who checks checkpoints can get it without operator access. A public key: any
/// authenticated caller may fetch it, and it is not an audit event.
pub async fn verifier_key(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        format!("{}\n", state.vault.verifier_key()),
    )
        .into_response()
}

/// Query of the proof routes.
#[derive(Debug, Deserialize)]
pub struct ProofParams {
    index: Option<u64>,
    old_size: Option<u64>,
}

/// An RFC 6962 proof against the latest signed checkpoint (hashes in standard base64).
#[derive(Debug, Serialize)]
pub struct ProofBody {
    kind: &'static str,
    index: Option<u64>,
    leaf_hash: Option<String>,
    old_size: Option<u64>,
    tree_size: u64,
    hashes: Vec<String>,
    checkpoint: String,
    old_checkpoint: Option<String>,
}

fn b64(h: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// `GET /api/v1/audit/proof/inclusion?index=N` and `.../consistency?old_size=M`: proofs hold
/// only hashes, so any authenticated caller may fetch them; fetching is recorded.
pub async fn proof(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(kind): Path<String>,
    Query(params): Query<ProofParams>,
) -> Result<Json<ProofBody>, Problem> {
    blocking(move || {
        // What the caller asked for may not exist yet (no checkpoint, none of that size, an
        // index beyond it): a client error. A proof that does not verify is damage.
        let audit_err = |e: callvault_vault::VaultError| {
            use callvault_vault::VaultError as V;
            match e {
                e @ (V::NoCheckpoint | V::NoCheckpointOfSize(_) | V::NotCovered { .. }) => {
                    Problem::bad_request(e.to_string())
                }
                V::Proof(callvault_audit::merkle::ProofError::InvalidSizes { .. }) => {
                    Problem::bad_request(
                        "old_size must be at least 1 and at most the latest checkpoint's size",
                    )
                }
                other => Problem::internal(&other),
            }
        };
        let body = match kind.as_str() {
            "inclusion" => {
                let index = params
                    .index
                    .ok_or_else(|| Problem::bad_request("the query parameter index is required"))?;
                let p = state.vault.inclusion_proof(index).map_err(audit_err)?;
                ProofBody {
                    kind: "inclusion",
                    index: Some(p.index),
                    leaf_hash: Some(b64(&p.leaf_hash)),
                    old_size: None,
                    tree_size: p.checkpoint.size,
                    hashes: p.proof.iter().map(b64).collect(),
                    checkpoint: p.checkpoint.note,
                    old_checkpoint: None,
                }
            }
            "consistency" => {
                let old = params.old_size.ok_or_else(|| {
                    Problem::bad_request("the query parameter old_size is required")
                })?;
                let p = state.vault.consistency_proof(old).map_err(audit_err)?;
                ProofBody {
                    kind: "consistency",
                    index: None,
                    leaf_hash: None,
                    old_size: Some(p.old.size),
                    tree_size: p.new.size,
                    hashes: p.proof.iter().map(b64).collect(),
                    checkpoint: p.new.note,
                    old_checkpoint: Some(p.old.note),
                }
            }
            _ => return Err(Problem::not_found("proofs are inclusion or consistency")),
        };
        state
            .vault
            .record_audit_read(&who, &format!("{} proof", body.kind))
            .map_err(|e| Problem::internal(&e))?;
        Ok(Json(body))
    })
    .await
}
