//! Records-management routes for records managers (purpose *administration*, right
//! `manage-records`): legal holds, the retention report, deletion orders (IVO decisions and
//! retention purges) with four-eyes approval, execution and deletion certificates.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use callvault_auth::{Action, AuthenticatedPrincipal, Authorized, Right};
use callvault_types::{CareProvider, PatientId, RecordingId};
use callvault_vault::records_management::{IvoDecision, RecordsReceipt, Scope};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::app::vault_blocking;
use crate::governance::{
    administration, care_provider, care_provider_of, json, json_limited, time_field,
};
use crate::problem::Problem;
use crate::wire::{HoldBody, OrderBody, PruneBody, TextBody};

/// Largest body of an IVO decision registration (the document travels base64-encoded).
pub const MAX_DECISION_BODY: usize = 16 << 20;

async fn records(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    cp: CareProvider,
) -> Result<Authorized, Problem> {
    administration(state, who, cp, Action::ManageRecords).await
}

#[derive(Debug, Serialize)]
struct ReceiptBody {
    id: String,
    recordings: u64,
    audit_leaf_index: u64,
}

fn receipt(status: StatusCode, r: RecordsReceipt) -> Response {
    (
        status,
        Json(ReceiptBody {
            id: r.id,
            recordings: r.recordings,
            audit_leaf_index: r.leaf_index,
        }),
    )
        .into_response()
}

/// A scope in a request body: `recordings`, or `patient` with an optional period.
#[derive(Debug)]
struct ScopeBody {
    recordings: Vec<String>,
    patient: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn scope(b: ScopeBody) -> Result<Scope, Problem> {
    match (b.recordings.is_empty(), b.patient) {
        (false, None) => {
            if b.from.is_some() || b.to.is_some() {
                return Err(Problem::bad_request(
                    "from and to apply to a patient scope only",
                ));
            }
            let mut ids = Vec::with_capacity(b.recordings.len());
            for r in &b.recordings {
                ids.push(
                    RecordingId::parse(r)
                        .map_err(|e| Problem::bad_request(format!("recording {r:?}: {e}")))?,
                );
            }
            Ok(Scope::Recordings(ids))
        }
        (true, Some(p)) => Ok(Scope::Patient {
            // Never echo the patient id in an error.
            patient: PatientId::parse_any(&p)
                .map_err(|e| Problem::bad_request(format!("patient: {e}")))?,
            from: b.from.map(|f| time_field("from", &f)).transpose()?,
            to: b.to.map(|t| time_field("to", &t)).transpose()?,
        }),
        _ => Err(Problem::bad_request(
            "give either recordings (a list of ids) or patient (with optional from and to)",
        )),
    }
}

/// `POST /api/v1/records/holds`: set a legal hold.
pub(crate) async fn set_hold(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: HoldBody = json(&body)?;
    let cp = care_provider(&b.care_provider)?;
    let scope = scope(ScopeBody {
        recordings: b.recordings,
        patient: b.patient,
        from: b.from,
        to: b.to,
    })?;
    let authz = records(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let r = vault_blocking(move || v.set_legal_hold(&authz, &scope, &b.reason, &b.case_reference))
        .await?;
    Ok(receipt(StatusCode::CREATED, r))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CpQuery {
    care_provider: Option<String>,
    limit: Option<usize>,
}

/// The records decision at the care provider the query names (or the caller's only one).
async fn records_for(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    q: &CpQuery,
) -> Result<Authorized, Problem> {
    let cp = care_provider_of(state, who, q.care_provider.as_deref(), Right::ManageRecords)?;
    records(state, who, cp).await
}

/// `GET /api/v1/records/holds`: the care provider's legal holds (audited).
pub(crate) async fn list_holds(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<CpQuery>,
) -> Result<Response, Problem> {
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let holds = vault_blocking(move || v.legal_holds(&authz)).await?;
    Ok(Json(holds).into_response())
}

fn text_body(body: &[u8]) -> Result<TextBody, Problem> {
    if body.is_empty() {
        Ok(TextBody::default())
    } else {
        json(body)
    }
}

/// `POST /api/v1/records/holds/{id}/release`.
pub(crate) async fn release_hold(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(q): Query<CpQuery>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b = text_body(&body)?;
    let reason = b
        .reason
        .ok_or_else(|| Problem::bad_request("a release needs a reason"))?;
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let r = vault_blocking(move || v.release_legal_hold(&authz, &id, &reason)).await?;
    Ok(receipt(StatusCode::OK, r))
}

/// `GET /api/v1/records/retention`: recordings past their retention date (audited).
pub(crate) async fn retention(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<CpQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 10000"));
    }
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let report = vault_blocking(move || v.retention_report(&authz, limit)).await?;
    Ok(Json(report).into_response())
}

/// `POST /api/v1/records/deletions`: register an IVO decision or a retention purge.
pub(crate) async fn register_order(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: OrderBody = json_limited(&body, MAX_DECISION_BODY)?;
    let cp = care_provider(&b.care_provider)?;
    let scope_body = ScopeBody {
        recordings: b.recordings,
        patient: b.patient,
        from: b.from,
        to: b.to,
    };
    let v = Arc::clone(&state.vault);
    let r = match b.kind.as_str() {
        "ivo" => {
            let case_number = b
                .case_number
                .ok_or_else(|| Problem::bad_request("an IVO decision needs its case_number"))?;
            let date = b
                .decision_date
                .ok_or_else(|| Problem::bad_request("an IVO decision needs its decision_date"))?;
            let decision_date =
                time::Date::parse(&date, &time::format_description::well_known::Iso8601::DATE)
                    .map_err(|e| {
                        Problem::bad_request(format!("decision_date must be YYYY-MM-DD: {e}"))
                    })?;
            let document = base64::engine::general_purpose::STANDARD
                .decode(b.document_base64.as_deref().ok_or_else(|| {
                    Problem::bad_request("an IVO decision needs its document (document_base64)")
                })?)
                .map_err(|e| Problem::bad_request(format!("document_base64: {e}")))?;
            let d = IvoDecision {
                case_number,
                decision_date,
                scope: scope(scope_body)?,
                document,
            };
            let authz = records(&state, &who, cp).await?;
            vault_blocking(move || v.register_ivo_decision(&authz, &d)).await?
        }
        "retention" => {
            if !scope_body.recordings.is_empty() || scope_body.patient.is_some() {
                return Err(Problem::bad_request(
                    "a retention purge covers every recording past retention; it takes no scope",
                ));
            }
            let reference = b
                .reference
                .ok_or_else(|| Problem::bad_request("a retention purge needs a reference"))?;
            let authz = records(&state, &who, cp).await?;
            vault_blocking(move || v.register_retention_purge(&authz, &reference)).await?
        }
        other => {
            return Err(Problem::bad_request(format!(
                "kind {other:?} is not one of: ivo, retention"
            )));
        }
    };
    Ok(receipt(StatusCode::CREATED, r))
}

/// `GET /api/v1/records/deletions`: the care provider's deletion orders (audited).
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<CpQuery>,
) -> Result<Response, Problem> {
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let orders = vault_blocking(move || v.deletion_orders(&authz)).await?;
    Ok(Json(orders).into_response())
}

async fn order_authz(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    id: &str,
) -> Result<Authorized, Problem> {
    let v = Arc::clone(&state.vault);
    let key = id.to_owned();
    let cp = vault_blocking(move || v.deletion_order_care_provider(&key))
        .await?
        .ok_or_else(|| Problem::not_found(format!("no deletion order {id}")))?;
    records(state, who, cp).await
}

/// `POST /api/v1/records/deletions/{id}/approve`.
pub(crate) async fn approve_order(
    state: State<AppState>,
    who: Extension<AuthenticatedPrincipal>,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    decide_order(state, who, id, true, body).await
}

/// `POST /api/v1/records/deletions/{id}/reject`.
pub(crate) async fn reject_order(
    state: State<AppState>,
    who: Extension<AuthenticatedPrincipal>,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    decide_order(state, who, id, false, body).await
}

async fn decide_order(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    approve: bool,
    body: Bytes,
) -> Result<Response, Problem> {
    let b = text_body(&body)?;
    if !approve && b.comment.is_none() {
        return Err(Problem::bad_request("a rejection needs a comment"));
    }
    let authz = order_authz(&state, &who, &id).await?;
    let v = Arc::clone(&state.vault);
    let r = vault_blocking(move || v.decide_deletion(&authz, &id, approve, b.comment.as_deref()))
        .await?;
    Ok(receipt(StatusCode::OK, r))
}

/// `POST /api/v1/records/deletions/{id}/execute`: destroy, then answer the certificate.
pub(crate) async fn execute_order(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let authz = order_authz(&state, &who, &id).await?;
    let v = Arc::clone(&state.vault);
    let cert = vault_blocking(move || v.execute_deletion(&authz, &id)).await?;
    // The certificate's checkpoint goes to the witnesses (in the background: the answer
    // does not wait for them; a witness that is down gets it with the next checkpoint).
    let v = Arc::clone(&state.vault);
    tokio::task::spawn_blocking(move || {
        for (name, outcome) in crate::witnessing::submit_to_witnesses(&v) {
            if !matches!(
                outcome,
                crate::witnessing::WitnessOutcome::Cosigned(_)
                    | crate::witnessing::WitnessOutcome::UpToDate
            ) {
                tracing::info!("witness {name}: {outcome:?}");
            }
        }
    });
    Ok(Json(cert).into_response())
}

/// `GET /api/v1/records/deletions/{id}/certificate`.
pub(crate) async fn certificate(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let authz = order_authz(&state, &who, &id).await?;
    let v = Arc::clone(&state.vault);
    let cert = vault_blocking(move || v.deletion_certificate_for(&authz, &id)).await?;
    Ok(Json(cert).into_response())
}

/// `GET /api/v1/records/deletions/{id}/document`: an IVO order's decision document (audited).
pub(crate) async fn document(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let authz = order_authz(&state, &who, &id).await?;
    let v = Arc::clone(&state.vault);
    let doc = vault_blocking(move || v.decision_document(&authz, &id)).await?;
    let kind = if doc.starts_with(b"%PDF-") {
        "application/pdf"
    } else {
        "application/octet-stream"
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        doc,
    )
        .into_response())
}

/// `GET /api/v1/records/audit-prunes`: prune orders of the audit log (audited).
pub(crate) async fn list_audit_prunes(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<CpQuery>,
) -> Result<Response, Problem> {
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let list = vault_blocking(move || v.audit_prunes(&authz)).await?;
    Ok(Json(list).into_response())
}

/// `POST /api/v1/records/audit-prunes`: register an order to prune the audit events
/// before a date at least `[audit] retention_years` ago.
pub(crate) async fn register_audit_prune(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: PruneBody = json(&body)?;
    let before = time_field("before", &b.before)?;
    let cp = care_provider_of(
        &state,
        &who,
        b.care_provider.as_deref(),
        Right::ManageRecords,
    )?;
    let authz = records(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let o = vault_blocking(move || v.register_audit_prune(&authz, before)).await?;
    Ok((StatusCode::CREATED, Json(o)).into_response())
}

/// `POST /api/v1/records/audit-prunes/{id}/approve` and `.../execute`: approve the order for
/// the caller's care provider (never by the person who registered it), or execute it once
/// every care provider has approved.
pub(crate) async fn audit_prune_step(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path((id, step)): Path<(String, String)>,
    Query(q): Query<CpQuery>,
) -> Result<Response, Problem> {
    if step != "approve" && step != "execute" {
        return Err(Problem::not_found(format!("no step {step:?}")));
    }
    let authz = records_for(&state, &who, &q).await?;
    let v = Arc::clone(&state.vault);
    let o = vault_blocking(move || {
        if step == "approve" {
            v.approve_audit_prune(&authz, &id)
        } else {
            v.execute_audit_prune(&authz, &id)
        }
    })
    .await?;
    Ok(Json(o).into_response())
}
