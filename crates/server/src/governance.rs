//! Governance routes: users, assignment requests, four-eyes decisions, revocation and the
//! access review, for privilege administrators (purpose *administration*, right
//! `manage-privileges`, at the care provider concerned).
//!
//! Each route asks the policy first (a refusal is audited like any other), then calls the
//! vault, which checks the four-eyes rule and commits the step with its audit event. An
//! approval or revocation then rebuilds the policy in force, so it applies to the very next
//! request — and a revoked assignment's open audio streams stop at their next chunk.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use callvault_auth::{
    AccessRequest, Action, AssignmentId, AuthenticatedPrincipal, Authorized, Purpose, Resource,
    Right, UserEntry,
};
use callvault_catalog::{AssignmentRow, AssignmentState, UserRow};
use callvault_types::{CareProvider, CareUnit, HsaId};
use callvault_vault::governance::{AssignmentRequest, GovernanceReceipt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::app::{authorize_async, vault_blocking};
use crate::problem::Problem;
use crate::wire::{CommentBody, RequestBody, UserBody};

/// Largest JSON body of a governance request.
pub const MAX_BODY: usize = 64 << 10;

pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    json_limited(body, MAX_BODY)
}

pub(crate) fn json_limited<T: DeserializeOwned>(body: &[u8], max: usize) -> Result<T, Problem> {
    if body.len() > max {
        return Err(Problem::bad_request(format!(
            "the request body is larger than {max} bytes"
        )));
    }
    // serde quotes the values it refuses, and a value may be a personal number.
    serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(format!(
            "request body: {}",
            callvault_types::redact::parser_message(&e.to_string())
        ))
    })
}

pub(crate) fn care_provider(s: &str) -> Result<CareProvider, Problem> {
    CareProvider::parse(s).map_err(|e| Problem::bad_request(format!("care_provider: {e}")))
}

pub(crate) fn time_field(field: &str, s: &str) -> Result<OffsetDateTime, Problem> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| Problem::bad_request(format!("{field} must be RFC 3339: {e}")))
}

fn t(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The administration decision for `cp` (a refusal is audited and answered 403).
async fn admin(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    cp: CareProvider,
) -> Result<Authorized, Problem> {
    administration(state, who, cp, Action::ManagePrivileges).await
}

/// The policy's decision on an administration action at `cp` (a refusal is audited and
/// answered 403).
pub(crate) async fn administration(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    cp: CareProvider,
    action: Action,
) -> Result<Authorized, Problem> {
    let req = AccessRequest {
        action,
        resource: Resource {
            care_provider: cp,
            care_unit: None,
        },
        purpose: Purpose::Administration,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    };
    authorize_async(state, who, &req, None).await
}

/// The care provider of a listing: as given, or the only one the caller administers.
fn listing_care_provider(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    given: Option<&str>,
) -> Result<CareProvider, Problem> {
    care_provider_of(state, who, given, Right::ManagePrivileges)
}

/// The care provider of a request: as given, or the only one where the caller holds an
/// assignment with `right`.
pub(crate) fn care_provider_of(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    given: Option<&str>,
    right: Right,
) -> Result<CareProvider, Problem> {
    crate::app::infer_care_provider(state, who, given, |a| a.rights.contains(&right))
}

/// The care provider an existing assignment is for (what the policy decides on).
async fn assignment_care_provider(state: &AppState, id: &str) -> Result<CareProvider, Problem> {
    let v = Arc::clone(&state.vault);
    let key = id.to_owned();
    let row = vault_blocking(move || v.assignment(&key)).await?;
    row.map(|r| r.assignment.care_provider)
        .ok_or_else(|| Problem::not_found(format!("no assignment {id}")))
}

/// Rebuilds the policy after an approval or revocation. If that fails, a revocation is
/// still applied to the policy in memory: revoked access never outlives the request.
async fn refresh_policy(state: &AppState, revoked: Option<&str>) {
    let v = Arc::clone(&state.vault);
    match tokio::task::spawn_blocking(move || v.policy()).await {
        Ok(Ok(p)) => state.policy.replace(p),
        other => {
            if let Some(id) = revoked.and_then(|id| AssignmentId::parse(id).ok()) {
                let current = state.policy.current();
                state.policy.replace(current.without(&id));
            }
            tracing::error!("rebuilding the policy failed: {other:?}");
        }
    }
}

/// Answer of a governance step.
#[derive(Debug, Serialize)]
pub struct ReceiptBody {
    /// The assignment concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    assignment: Option<String>,
    /// Leaf index of the step's audit event.
    audit_leaf_index: u64,
}

fn receipt(status: StatusCode, r: GovernanceReceipt) -> Response {
    (
        status,
        Json(ReceiptBody {
            assignment: r.assignment,
            audit_leaf_index: r.leaf_index,
        }),
    )
        .into_response()
}

/// `POST /api/v1/governance/users`: register a user of the administrator's care provider.
pub(crate) async fn register_user(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: UserBody = json(&body)?;
    let mut user = UserEntry::new(&b.hsa_id, &b.name, &b.title, &b.care_provider)
        .map_err(Problem::bad_request)?;
    if let Some(p) = &b.personal_id {
        user = user.with_personal_id(p).map_err(Problem::bad_request)?;
    }
    let authz = admin(&state, &who, user.care_provider.clone()).await?;
    let v = Arc::clone(&state.vault);
    let r = vault_blocking(move || v.register_user(&authz, &user)).await?;
    Ok(receipt(StatusCode::CREATED, r))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    care_provider: Option<String>,
    state: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Serialize)]
struct UserOut {
    hsa_id: String,
    name: String,
    title: String,
    care_provider: String,
    registered_at: String,
    registered_by: String,
}

impl From<UserRow> for UserOut {
    fn from(u: UserRow) -> Self {
        Self {
            hsa_id: u.hsa_id.to_string(),
            name: u.name,
            title: u.title,
            care_provider: u.care_provider.to_string(),
            registered_at: t(u.registered_at),
            registered_by: u.registered_by,
        }
    }
}

/// `GET /api/v1/governance/users`: the care provider's registered users (audited).
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let cp = listing_care_provider(&state, &who, q.care_provider.as_deref())?;
    let authz = admin(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let users = vault_blocking(move || v.list_users(&authz)).await?;
    Ok(Json(users.into_iter().map(UserOut::from).collect::<Vec<_>>()).into_response())
}

fn parse_request(b: RequestBody) -> Result<AssignmentRequest, Problem> {
    let mut care_units = BTreeSet::new();
    for u in &b.care_units {
        care_units.insert(
            CareUnit::parse(u)
                .map_err(|e| Problem::bad_request(format!("care unit {u:?}: {e}")))?,
        );
    }
    let purpose = Purpose::parse(&b.purpose).ok_or_else(|| {
        Problem::bad_request(format!(
            "purpose {:?} is not one of: {}",
            b.purpose,
            Purpose::ALL.map(Purpose::slug).join(", ")
        ))
    })?;
    let mut rights = BTreeSet::new();
    for r in &b.rights {
        rights.insert(Right::parse(r).ok_or_else(|| {
            Problem::bad_request(format!(
                "right {r:?} is not one of: {}",
                Right::ALL.map(Right::as_str).join(", ")
            ))
        })?);
    }
    Ok(AssignmentRequest {
        holder: HsaId::parse(&b.holder)
            .map_err(|e| Problem::bad_request(format!("holder: {e}")))?,
        care_provider: care_provider(&b.care_provider)?,
        care_units,
        purpose,
        rights,
        valid_from: time_field("valid_from", &b.valid_from)?,
        valid_until: time_field("valid_until", &b.valid_until)?,
        justification: b.justification,
    })
}

/// `POST /api/v1/governance/assignments`: request an assignment.
pub(crate) async fn request_assignment(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let req = parse_request(json(&body)?)?;
    let authz = admin(&state, &who, req.care_provider.clone()).await?;
    let v = Arc::clone(&state.vault);
    let r = vault_blocking(move || v.request_assignment(&authz, &req)).await?;
    Ok(receipt(StatusCode::CREATED, r))
}

#[derive(Debug, Serialize)]
struct DecisionOut {
    by: String,
    at: String,
    comment: Option<String>,
}

#[derive(Debug, Serialize)]
struct AssignmentOut {
    id: String,
    holder: String,
    care_provider: String,
    care_units: Vec<String>,
    purpose: String,
    rights: Vec<String>,
    valid_from: String,
    valid_until: String,
    justification: String,
    origin: String,
    state: &'static str,
    requested_by: String,
    requested_at: String,
    decision: Option<DecisionOut>,
    revocation: Option<DecisionOut>,
}

impl From<AssignmentRow> for AssignmentOut {
    fn from(r: AssignmentRow) -> Self {
        let a = r.assignment;
        let d = |d: callvault_catalog::AssignmentDecision| DecisionOut {
            by: d.by,
            at: t(d.at),
            comment: d.comment,
        };
        Self {
            id: a.id,
            holder: a.holder.to_string(),
            care_provider: a.care_provider.to_string(),
            care_units: a.care_units.iter().map(ToString::to_string).collect(),
            purpose: a.purpose,
            rights: a.rights,
            valid_from: t(a.valid_from),
            valid_until: t(a.valid_until),
            justification: a.justification,
            origin: match a.origin {
                callvault_catalog::AssignmentOrigin::Request => "request".into(),
                callvault_catalog::AssignmentOrigin::Import(sha) => format!("import:{sha}"),
                callvault_catalog::AssignmentOrigin::Bootstrap => "bootstrap".into(),
            },
            state: r.state.as_str(),
            requested_by: a.requested_by,
            requested_at: t(a.requested_at),
            decision: r.decision.map(d),
            revocation: r.revocation.map(d),
        }
    }
}

fn parse_state(s: Option<&str>) -> Result<Option<AssignmentState>, Problem> {
    let Some(s) = s else { return Ok(None) };
    [
        AssignmentState::Requested,
        AssignmentState::Approved,
        AssignmentState::Rejected,
        AssignmentState::Revoked,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
    .map(Some)
    .ok_or_else(|| {
        Problem::bad_request(format!(
            "state {s:?} is not one of: requested, approved, rejected, revoked"
        ))
    })
}

/// `GET /api/v1/governance/assignments`: the care provider's assignments (audited).
pub(crate) async fn list_assignments(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let filter = parse_state(q.state.as_deref())?;
    let cp = listing_care_provider(&state, &who, q.care_provider.as_deref())?;
    let authz = admin(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let rows = vault_blocking(move || v.list_assignments(&authz, filter)).await?;
    Ok(Json(
        rows.into_iter()
            .map(AssignmentOut::from)
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// A decision on, or the revocation of, an assignment.
#[derive(Clone, Copy, Debug)]
enum Step {
    Approve,
    Reject,
    Revoke,
}

/// `POST /api/v1/governance/assignments/{id}/approve`.
pub(crate) async fn approve(
    state: State<AppState>,
    who: Extension<AuthenticatedPrincipal>,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    assignment_step(state, who, id, Step::Approve, body).await
}

/// `POST /api/v1/governance/assignments/{id}/reject`.
pub(crate) async fn reject(
    state: State<AppState>,
    who: Extension<AuthenticatedPrincipal>,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    assignment_step(state, who, id, Step::Reject, body).await
}

/// `POST /api/v1/governance/assignments/{id}/revoke`.
pub(crate) async fn revoke(
    state: State<AppState>,
    who: Extension<AuthenticatedPrincipal>,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    assignment_step(state, who, id, Step::Revoke, body).await
}

async fn assignment_step(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    step: Step,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: CommentBody = if body.is_empty() {
        CommentBody::default()
    } else {
        json(&body)?
    };
    let cp = assignment_care_provider(&state, &id).await?;
    let authz = admin(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let key = id.clone();
    let r = match step {
        Step::Revoke => {
            let reason = b
                .reason
                .ok_or_else(|| Problem::bad_request("a revocation needs a reason"))?;
            let r = vault_blocking(move || v.revoke_assignment(&authz, &key, &reason)).await?;
            refresh_policy(&state, Some(&id)).await;
            r
        }
        Step::Approve | Step::Reject => {
            let approve = matches!(step, Step::Approve);
            if !approve && b.comment.is_none() {
                return Err(Problem::bad_request("a rejection needs a comment"));
            }
            let r = vault_blocking(move || {
                v.decide_assignment(&authz, &key, approve, b.comment.as_deref())
            })
            .await?;
            if approve {
                refresh_policy(&state, None).await;
            }
            r
        }
    };
    Ok(receipt(StatusCode::OK, r))
}

/// `GET /api/v1/governance/access-review`: every assignment in force at the care provider
/// with requester, approver, age, last use and flags; `format=json` (default), `csv` or
/// `text` (printable). Audited.
pub(crate) async fn access_review(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let format = q.format.as_deref().unwrap_or("json").to_owned();
    if !matches!(format.as_str(), "json" | "csv" | "text") {
        return Err(Problem::bad_request(format!(
            "format {format:?} is not one of: json, csv, text"
        )));
    }
    let cp = listing_care_provider(&state, &who, q.care_provider.as_deref())?;
    let authz = admin(&state, &who, cp).await?;
    let v = Arc::clone(&state.vault);
    let review = vault_blocking(move || v.access_review(&authz)).await?;
    Ok(match format.as_str() {
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            review.to_csv().map_err(|e| Problem::internal(&e))?,
        )
            .into_response(),
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            review.to_text(),
        )
            .into_response(),
        _ => (
            [(header::CONTENT_TYPE, "application/json")],
            review.to_json(),
        )
            .into_response(),
    })
}
