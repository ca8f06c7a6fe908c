//! The HTTP application: routes, in-process testable (`app(state) -> Router`).
//!
//! Every route sees the principal the TLS layer authenticated (a request extension). Data
//! routes follow one path: policy decision → audit event (denials too) → data.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use callvault_auth::{AccessRequest, Action, AuthenticatedPrincipal, Policy, Purpose};
use callvault_types::RecordingId;
use callvault_vault::Vault;
use callvault_vault::access::target::{CallSearch, Metadata, PatientSearch};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::problem::Problem;

/// What the routes share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The vault.
    pub vault: Arc<Vault>,
    /// The access policy in force (rebuilt from the vault after approvals and revocations).
    pub policy: Arc<PolicySlot>,
    /// Request counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Resource limits.
    pub limits: crate::config::Limits,
    /// Free audio stream slots.
    pub audio_streams: Arc<tokio::sync::Semaphore>,
    /// Free upload slots.
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// The web UI's form secret and emergency-access grants.
    pub web: Arc<crate::web::WebState>,
}

/// The policy in force. A request takes the current one once and decides with it; a reload
/// (SIGHUP) replaces it for the requests that follow.
#[derive(Debug)]
pub struct PolicySlot(std::sync::RwLock<Arc<Policy>>);

impl PolicySlot {
    /// A slot holding `policy`.
    pub fn new(policy: Policy) -> Self {
        Self(std::sync::RwLock::new(Arc::new(policy)))
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `policy` in force for the requests that follow.
    pub fn replace(&self, policy: Policy) {
        let new = Arc::new(policy);
        match self.0.write() {
            Ok(mut p) => *p = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

impl AppState {
    /// State for a vault and policy under the given limits.
    pub fn new(vault: Arc<Vault>, policy: Policy, limits: crate::config::Limits) -> Self {
        Self {
            vault,
            policy: Arc::new(PolicySlot::new(policy)),
            metrics: crate::metrics::Metrics::default(),
            limits,
            audio_streams: Arc::new(tokio::sync::Semaphore::new(limits.max_audio_streams)),
            uploads: Arc::new(tokio::sync::Semaphore::new(limits.max_uploads)),
            web: Arc::new(crate::web::WebState::new()),
        }
    }
}

/// The router.
pub fn app(state: AppState) -> Router {
    // The upload handler enforces the exact part limits; this only bounds the whole body.
    let body_limit = usize::try_from(
        (state.limits.max_audio_bytes)
            .saturating_add(state.limits.max_metadata_bytes)
            .saturating_add(1 << 20),
    )
    .unwrap_or(usize::MAX);
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/api/v1/recordings",
            post(crate::upload::upload).layer(axum::extract::DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/api/v1/recordings/search",
            post(search).layer(axum::extract::DefaultBodyLimit::max(SEARCH_BODY_MAX)),
        )
        .route("/api/v1/recordings/{id}", get(metadata))
        .route(
            "/api/v1/recordings/{id}/patient",
            post(crate::link::link_patient).layer(axum::extract::DefaultBodyLimit::max(
                crate::link::LINK_BODY_MAX,
            )),
        )
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/events", get(crate::log_review::audit_events))
        .route("/api/v1/audit/proof/{kind}", get(crate::log_review::proof))
        .route(
            "/api/v1/patients/access-log",
            post(crate::log_review::access_log)
                .layer(axum::extract::DefaultBodyLimit::max(SEARCH_BODY_MAX)),
        )
        .route(
            "/api/v1/audit/verifier-key",
            get(crate::log_review::verifier_key),
        )
        .route(
            "/api/v1/audit/follow-up",
            get(crate::followup::list).post(crate::followup::run),
        )
        .route("/api/v1/audit/follow-up/{id}", get(crate::followup::show))
        .route(
            "/api/v1/audit/follow-up/{id}/findings/{n}",
            post(crate::followup::review),
        )
        .route(
            "/api/v1/audit/fhir/AuditEvent",
            get(crate::followup::fhir_export),
        )
        .route(
            "/api/v1/audit/fhir/AuditEvent/{index}",
            get(crate::followup::fhir_event),
        )
        .route(
            "/api/v1/audit/log-extract",
            post(crate::followup::log_extract),
        )
        .route(
            "/api/v1/records/audit-prunes",
            get(crate::records_management::list_audit_prunes)
                .post(crate::records_management::register_audit_prune),
        )
        .route(
            "/api/v1/records/audit-prunes/{id}/{step}",
            post(crate::records_management::audit_prune_step),
        )
        .route(
            "/api/v1/records/protected-patients",
            post(crate::followup::protect),
        )
        .route(
            "/api/v1/recordings/{id}/audio",
            get(crate::audio::audio).head(crate::refusals::head_not_served),
        )
        .route("/metrics", get(crate::metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/governance/users",
            get(crate::governance::list_users).post(crate::governance::register_user),
        )
        .route(
            "/api/v1/governance/assignments",
            get(crate::governance::list_assignments).post(crate::governance::request_assignment),
        )
        .route(
            "/api/v1/governance/assignments/{id}/approve",
            post(crate::governance::approve),
        )
        .route(
            "/api/v1/governance/assignments/{id}/reject",
            post(crate::governance::reject),
        )
        .route(
            "/api/v1/governance/assignments/{id}/revoke",
            post(crate::governance::revoke),
        )
        .route(
            "/api/v1/governance/access-review",
            get(crate::governance::access_review),
        )
        .route(
            "/api/v1/records/holds",
            get(crate::records_management::list_holds).post(crate::records_management::set_hold),
        )
        .route(
            "/api/v1/records/holds/{id}/release",
            post(crate::records_management::release_hold),
        )
        .route(
            "/api/v1/records/retention",
            get(crate::records_management::retention),
        )
        .route(
            "/api/v1/records/deletions",
            get(crate::records_management::list_orders)
                .post(crate::records_management::register_order)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::records_management::MAX_DECISION_BODY,
                )),
        )
        .route(
            "/api/v1/records/deletions/{id}/approve",
            post(crate::records_management::approve_order),
        )
        .route(
            "/api/v1/records/deletions/{id}/reject",
            post(crate::records_management::reject_order),
        )
        .route(
            "/api/v1/records/deletions/{id}/execute",
            post(crate::records_management::execute_order),
        )
        .route(
            "/api/v1/records/deletions/{id}/certificate",
            get(crate::records_management::certificate),
        )
        .route(
            "/api/v1/records/deletions/{id}/document",
            get(crate::records_management::document),
        )
        // Extractor rejections (query, path, JSON) answer as problems, like every other
        // refusal of the API. The web pages below have their own error pages.
        .layer(axum::middleware::map_response(
            crate::problem::rejections_as_problems,
        ))
        .merge(crate::web::routes())
        // Inside the metrics layer: a refusal that cannot be recorded is counted as the
        // internal error it becomes.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::refusals::audit_refusals,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// The checked-in OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route template the router serves (the OpenAPI document must describe exactly these).
pub const ROUTES: [&str; 37] = [
    "/healthz",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/recordings",
    "/api/v1/recordings/search",
    "/api/v1/recordings/{id}",
    "/api/v1/recordings/{id}/audio",
    "/api/v1/recordings/{id}/patient",
    "/api/v1/audit/checkpoint",
    "/api/v1/audit/verifier-key",
    "/api/v1/audit/events",
    "/api/v1/audit/proof/{kind}",
    "/api/v1/patients/access-log",
    "/api/v1/audit/follow-up",
    "/api/v1/audit/follow-up/{id}",
    "/api/v1/audit/follow-up/{id}/findings/{n}",
    "/api/v1/audit/log-extract",
    "/api/v1/audit/fhir/AuditEvent",
    "/api/v1/audit/fhir/AuditEvent/{index}",
    "/api/v1/governance/users",
    "/api/v1/governance/assignments",
    "/api/v1/governance/assignments/{id}/approve",
    "/api/v1/governance/assignments/{id}/reject",
    "/api/v1/governance/assignments/{id}/revoke",
    "/api/v1/governance/access-review",
    "/api/v1/records/holds",
    "/api/v1/records/holds/{id}/release",
    "/api/v1/records/retention",
    "/api/v1/records/deletions",
    "/api/v1/records/deletions/{id}/approve",
    "/api/v1/records/deletions/{id}/reject",
    "/api/v1/records/deletions/{id}/execute",
    "/api/v1/records/deletions/{id}/certificate",
    "/api/v1/records/deletions/{id}/document",
    "/api/v1/records/protected-patients",
    "/api/v1/records/audit-prunes",
    "/api/v1/records/audit-prunes/{id}/{step}",
];

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Purpose and its companions, from query parameters.
#[derive(Debug, Deserialize)]
pub struct PurposeParams {
    /// Purpose of use.
    pub(crate) purpose: Option<String>,
    /// Emergency-access reason.
    pub(crate) emergency_reason: Option<String>,
    /// Investigation case number.
    pub(crate) case_number: Option<String>,
    /// The assignment to act under, when the caller holds several for the purpose.
    pub(crate) assignment: Option<String>,
}

impl PurposeParams {
    /// The chosen assignment, checked.
    pub(crate) fn assignment_id(&self) -> Result<Option<callvault_auth::AssignmentId>, Problem> {
        self.assignment
            .as_deref()
            .map(|a| {
                callvault_auth::AssignmentId::parse(a)
                    .map_err(|e| Problem::bad_request(format!("assignment: {e}")))
            })
            .transpose()
    }
}

/// Header names that may carry the purpose and its companions instead of the query.
pub const PURPOSE_HEADERS: [(&str, &str); 3] = [
    ("purpose", "x-callvault-purpose"),
    ("emergency_reason", "x-callvault-emergency-reason"),
    ("case_number", "x-callvault-case-number"),
];

impl PurposeParams {
    /// Fills in what the query left out from the `X-Callvault-*` headers (UTF-8 values). A
    /// value given both ways must be the same.
    pub(crate) fn with_headers(mut self, headers: &HeaderMap) -> Result<Self, Problem> {
        for (param, name) in PURPOSE_HEADERS {
            let mut values = headers.get_all(name).iter();
            let Some(v) = values.next() else { continue };
            // A header given twice is refused, as a query parameter given twice is: which
            // of the two was meant is not for the server to guess.
            if values.next().is_some() {
                return Err(Problem::bad_request(format!(
                    "header {name} is given more than once"
                )));
            }
            let v = std::str::from_utf8(v.as_bytes())
                .map_err(|_| Problem::bad_request(format!("header {name} is not UTF-8")))?
                .trim()
                .to_owned();
            let slot = match param {
                "purpose" => &mut self.purpose,
                "emergency_reason" => &mut self.emergency_reason,
                _ => &mut self.case_number,
            };
            match slot {
                Some(q) if q.trim() != v => {
                    return Err(Problem::bad_request(format!(
                        "{param} is given as a query parameter and as header {name} with different values"
                    )));
                }
                _ => *slot = Some(v),
            }
        }
        Ok(self)
    }
}

pub(crate) fn purpose(p: &PurposeParams) -> Result<Purpose, Problem> {
    let raw = p.purpose.as_deref().ok_or_else(|| {
        Problem::bad_request(
            "the query parameter purpose is required (e.g. purpose=vard-och-behandling)",
        )
    })?;
    Purpose::parse(raw).ok_or_else(|| {
        Problem::bad_request(format!(
            "purpose {raw:?} is not one of: {}",
            Purpose::ALL.map(Purpose::slug).join(", ")
        ))
    })
}

pub(crate) fn recording_id(id: &str) -> Result<RecordingId, Problem> {
    RecordingId::parse(id).map_err(|e| Problem::bad_request(e.to_string()))
}

/// Runs blocking vault work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Problem::internal(&e))?
}

/// [`blocking`] for vault work whose error is a `VaultError`, answered as
/// [`Problem::from_vault`].
pub(crate) async fn vault_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, callvault_vault::VaultError> + Send + 'static,
) -> Result<T, Problem> {
    blocking(move || Ok(f()?)).await
}

/// Decides an action on one recording, audits a refusal, and returns the decision. A
/// recording that does not exist is refused, and recorded, exactly as one of a care
/// provider the caller has no assignment at (no existence oracle). Runs on the async
/// worker: the catalog read is a short indexed lookup, and a refusal's event is awaited.
pub(crate) async fn decide(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    action: Action,
    id: &RecordingId,
    params: &PurposeParams,
) -> Result<callvault_auth::Authorized, Problem> {
    let purpose = purpose(params)?;
    let assignment = params.assignment_id()?;
    let Some(resource) = state
        .vault
        .recording_resource(id)
        .map_err(|e| Problem::internal(&e))?
    else {
        let denial = state.policy.current().refuse_unknown(
            who,
            &callvault_auth::UnknownResourceRequest {
                purpose,
                assignment: assignment.as_ref(),
                emergency_reason: params.emergency_reason.as_deref(),
                case_number: params.case_number.as_deref(),
            },
            time::OffsetDateTime::now_utc(),
        );
        record_unknown_recording(state, who, action, id, purpose, &denial).await?;
        return Err(Problem::recording_denied(id, &denial).recorded());
    };
    let req = AccessRequest {
        action,
        resource,
        purpose,
        assignment,
        emergency_reason: params.emergency_reason.clone(),
        case_number: params.case_number.clone(),
    };
    match decide_recorded(state, who, &req, Some(id)).await? {
        Ok(a) => Ok(a),
        Err(d) => Err(Problem::recording_denied(id, &d).recorded()),
    }
}

/// Records the refusal of an action on a recording that does not exist: the denial the
/// caller was given, and (for the log reviewer only) that there was no such recording.
pub(crate) async fn record_unknown_recording(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    action: Action,
    id: &RecordingId,
    purpose: Purpose,
    denial: &callvault_auth::Denial,
) -> Result<(), Problem> {
    let refusal = callvault_vault::access::Refusal {
        action,
        recording: Some(*id),
        actor_care_provider: crate::refusals::actor_care_provider(state, who),
        purpose: Some(purpose.as_str().to_owned()),
        reason: format!("{denial}; no such recording"),
        details: Vec::new(),
    };
    state.vault.record_refusal_async(who, &refusal).await?;
    Ok(())
}

/// The policy's decision on `req`; a denial is recorded before it is returned (if it
/// cannot be, the caller gets an internal error instead).
pub(crate) async fn decide_recorded(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    req: &AccessRequest,
    recording: Option<&RecordingId>,
) -> Result<Result<callvault_auth::Authorized, callvault_auth::Denial>, Problem> {
    let decision = state
        .policy
        .current()
        .decide(who, req, time::OffsetDateTime::now_utc());
    if let Err(denial) = &decision {
        state
            .vault
            .record_denial_async(who, req, denial, recording)
            .await?;
    }
    Ok(decision)
}

/// The policy's decision on `req`; a refusal is recorded before it is answered (if it
/// cannot be, the caller gets an internal error instead). For handlers on a blocking thread.
pub(crate) fn authorize(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    req: &AccessRequest,
    recording: Option<&RecordingId>,
) -> Result<callvault_auth::Authorized, Problem> {
    state
        .policy
        .current()
        .decide(who, req, time::OffsetDateTime::now_utc())
        .or_else(|denial| {
            state
                .vault
                .record_denial(who, req, &denial, recording)
                .map_err(|e| Problem::internal(&e))?;
            Err(Problem::forbidden(denial.to_string()).recorded())
        })
}

/// [`authorize`] for async handlers: the denial's event is awaited, not blocked on.
pub(crate) async fn authorize_async(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    req: &AccessRequest,
    recording: Option<&RecordingId>,
) -> Result<callvault_auth::Authorized, Problem> {
    decide_recorded(state, who, req, recording)
        .await?
        .map_err(|denial| Problem::forbidden(denial.to_string()).recorded())
}

/// Metadata of one recording (decrypted for the authorized, audited caller).
#[derive(Debug, Serialize)]
pub struct MetadataBody {
    id: String,
    care_provider: String,
    care_unit: String,
    call_id: String,
    started_at: String,
    ended_at: String,
    duration_ms: u64,
    codec: String,
    size: u64,
    sha256: String,
    patient_id: Option<String>,
    caller_number: Option<String>,
    nurse_hsa_id: Option<String>,
    retention_until: String,
    legal_hold: bool,
    /// Why the recording is incomplete (cut off, a stream missing), if it is.
    incomplete: Option<String>,
    /// Links to patients made after the call: who, when, whether a correction.
    links: Vec<LinkView>,
    sites: Vec<String>,
    audit_leaf_index: u64,
}

/// One link of a recording to a patient, as metadata shows it (never the patient an
/// earlier link named).
#[derive(Debug, Serialize)]
pub struct LinkView {
    n: u32,
    linked_by: String,
    linked_at: String,
    correction: bool,
}

async fn metadata(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(params): Query<PurposeParams>,
    headers: HeaderMap,
) -> Result<Json<MetadataBody>, Problem> {
    let id = recording_id(&id)?;
    let params = params.with_headers(&headers)?;
    // No blocking thread: the reads are short, and the audit event's group commit is
    // awaited.
    let authz = decide(&state, &who, Action::ViewMetadata, &id, &params).await?;
    let receipt = state
        .vault
        .record_access_async(authz, Metadata { id })
        .await?;
    {
        let m = state
            .vault
            .read_metadata(&receipt)
            .map_err(|e| Problem::internal(&e))?;
        let t = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        Ok(Json(MetadataBody {
            id: m.id.to_string(),
            care_provider: m.care_provider.to_string(),
            care_unit: m.care_unit.to_string(),
            call_id: m.call_id,
            started_at: t(m.started_at),
            ended_at: t(m.ended_at),
            duration_ms: m.duration_ms,
            codec: m.codec,
            size: m.size,
            sha256: m.sha256.iter().map(|b| format!("{b:02x}")).collect(),
            patient_id: m.patient.map(|p| p.expose_value().to_owned()),
            caller_number: m.caller.map(|c| c.expose_value().to_owned()),
            nurse_hsa_id: m.nurse.map(|n| n.to_string()),
            retention_until: t(m.retention_until),
            legal_hold: m.legal_hold,
            incomplete: m.incomplete,
            links: m
                .links
                .into_iter()
                .map(|l| LinkView {
                    n: l.n,
                    linked_by: l.linked_by,
                    linked_at: t(l.linked_at),
                    correction: l.correction,
                })
                .collect(),
            sites: m
                .placements
                .iter()
                .filter(|p| p.state == callvault_catalog::PlacementState::Ok)
                .map(|p| p.site.clone())
                .collect(),
            audit_leaf_index: receipt.leaf_index(),
        }))
    }
}

/// The latest signed checkpoint of the audit log (C2SP signed note; no patient data, so
/// any authenticated caller may fetch it and verify it offline with the public key).
/// `?cosigned=true`: the checkpoint with the witnesses' cosignatures appended.
#[derive(Debug, Deserialize)]
pub struct CheckpointParams {
    cosigned: Option<bool>,
}

async fn checkpoint(
    State(state): State<AppState>,
    Query(q): Query<CheckpointParams>,
) -> Result<Response, Problem> {
    blocking(move || {
        let note = if q.cosigned.unwrap_or(false) {
            state
                .vault
                .cosigned_checkpoint()
                .map_err(|e| Problem::internal(&e))?
        } else {
            state
                .vault
                .catalog()
                .latest_checkpoint()
                .map_err(|e| Problem::internal(&e))?
                .map(|c| c.note)
        }
        .ok_or_else(|| Problem::not_found("no checkpoint has been signed yet"))?;
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
    })
    .await
}

/// One search hit.
#[derive(Debug, Serialize)]
pub struct Hit {
    id: String,
    care_unit: String,
    started_at: String,
    duration_ms: u64,
    /// Whether the recording is linked to a patient.
    linked: bool,
}

/// The hits of an audited search.
#[derive(Debug, Serialize)]
pub struct SearchBody {
    recordings: Vec<Hit>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
    audit_leaf_index: u64,
}

/// The largest search or access-log request body (a patient id and a few filters).
pub const SEARCH_BODY_MAX: usize = 16 << 10;

/// Hits per page unless `limit` says otherwise, and the most `limit` may ask for.
pub const SEARCH_PAGE: usize = 100;
/// See [`SEARCH_PAGE`].
pub const SEARCH_PAGE_MAX: usize = 1000;

/// A page cursor: the last hit's start (Unix microseconds) and id. Opaque to clients.
fn cursor_of(h: &callvault_vault::access::SearchHit) -> String {
    format!("{}.{}", h.started_at.unix_timestamp_nanos() / 1000, h.id)
}

fn parse_cursor(s: &str) -> Result<(time::OffsetDateTime, RecordingId), Problem> {
    let bad =
        || Problem::bad_request("cursor is not one this server issued; start the search again");
    let (us, id) = s.split_once('.').ok_or_else(bad)?;
    let us: i128 = us.parse().map_err(|_| bad())?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(us * 1000).map_err(|_| bad())?;
    Ok((t, RecordingId::parse(id).map_err(|_| bad())?))
}

/// The care provider of a search: as given, or, if not given, the only one the caller
/// holds assignments at (for this purpose).
fn search_care_provider(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    given: Option<&str>,
    purpose: Purpose,
) -> Result<callvault_types::CareProvider, Problem> {
    infer_care_provider(state, who, given, |a| a.purpose == purpose)
}

/// A care provider as given in a request, or, if not given, the only one at which the
/// caller holds an assignment that `keep` accepts.
pub(crate) fn infer_care_provider(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    given: Option<&str>,
    keep: impl Fn(&callvault_auth::Assignment) -> bool,
) -> Result<callvault_types::CareProvider, Problem> {
    if let Some(cp) = given {
        return callvault_types::CareProvider::parse(cp)
            .map_err(|e| Problem::bad_request(format!("care_provider: {e}")));
    }
    let policy = state.policy.current();
    let mut cps: Vec<_> = policy
        .assignments()
        .held_by(who.hsa_id())
        .filter(|a| keep(a))
        .map(|a| a.care_provider.clone())
        .collect();
    cps.sort();
    cps.dedup();
    match cps.len() {
        1 => Ok(cps.remove(0)),
        _ => Err(Problem::bad_request(
            "the query parameter care_provider (HSA-ID) is required: it cannot be inferred from your assignments",
        )),
    }
}

/// `POST /api/v1/recordings/search`: recordings of one patient at one care provider,
/// through the blind index; the search itself is an audited access naming the (sealed)
/// patient. The purpose comes as query parameters or `X-Callvault-*` headers, the patient
/// and the filters in the JSON body.
async fn search(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(params): Query<PurposeParams>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SearchBody>, Problem> {
    let purpose_params = params.with_headers(&headers)?;
    let params: crate::wire::SearchRequest = crate::governance::json(&body)?;
    let target = search_target(&params)?;
    let time = |v: &Option<String>, name: &str| -> Result<Option<time::OffsetDateTime>, Problem> {
        v.as_deref()
            .map(|s| {
                time::OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                    Problem::bad_request(format!(
                        "{name} must be RFC 3339, e.g. 2026-10-01T00:00:00Z"
                    ))
                })
            })
            .transpose()
    };
    let purpose = purpose(&purpose_params)?;
    let cp = search_care_provider(&state, &who, params.care_provider.as_deref(), purpose)?;
    let limit = match params.limit {
        None => SEARCH_PAGE,
        Some(l) if (1..=SEARCH_PAGE_MAX).contains(&l) => l,
        Some(_) => {
            return Err(Problem::bad_request(format!(
                "limit must be a whole number from 1 to {SEARCH_PAGE_MAX}"
            )));
        }
    };
    let filter = callvault_vault::access::SearchFilter {
        from: time(&params.from, "from")?,
        to: time(&params.to, "to")?,
        care_unit: params
            .care_unit
            .as_deref()
            .map(callvault_types::CareUnit::parse)
            .transpose()
            .map_err(|e| Problem::bad_request(format!("care_unit: {e}")))?,
        nurse: params
            .nurse
            .as_deref()
            .map(callvault_types::HsaId::parse)
            .transpose()
            .map_err(|e| Problem::bad_request(format!("nurse: {e}")))?,
        after: params.cursor.as_deref().map(parse_cursor).transpose()?,
        // One more than shown, to know whether there is a next page.
        limit: Some(limit + 1),
    };
    let req = AccessRequest {
        action: Action::Search,
        resource: callvault_auth::Resource {
            care_provider: cp,
            care_unit: None,
        },
        purpose,
        assignment: purpose_params.assignment_id()?,
        emergency_reason: purpose_params.emergency_reason.clone(),
        case_number: purpose_params.case_number.clone(),
    };
    // On the async worker, like metadata: an indexed lookup, and the event is awaited.
    let authz = authorize_async(&state, &who, &req, None).await?;
    let (leaf, hits) = match target {
        Ok(patient) => {
            let receipt = state
                .vault
                .record_access_async(authz, PatientSearch { patient, filter })
                .await?;
            (receipt.leaf_index(), state.vault.search_patient(&receipt))
        }
        Err(call) => {
            let receipt = state.vault.record_access_async(authz, call).await?;
            (receipt.leaf_index(), state.vault.search_call(&receipt))
        }
    };
    let mut hits = hits.map_err(|e| Problem::internal(&e))?;
    let next_cursor = if hits.len() > limit {
        hits.truncate(limit);
        hits.last().map(cursor_of)
    } else {
        None
    };
    let t = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    Ok(Json(SearchBody {
        recordings: hits
            .into_iter()
            .map(|h| Hit {
                id: h.id.to_string(),
                care_unit: h.care_unit.to_string(),
                started_at: t(h.started_at),
                duration_ms: h.duration_ms,
                linked: h.linked,
            })
            .collect(),
        next_cursor,
        audit_leaf_index: leaf,
    }))
}

/// What a search body asks for: a patient (`Ok`, its filters read by the caller), or one
/// call by care unit and call id (`Err`, the whole target; no other filter applies).
fn search_target(
    p: &crate::wire::SearchRequest,
) -> Result<Result<callvault_types::PatientId, CallSearch>, Problem> {
    match (&p.patient, &p.call_id) {
        (Some(patient), None) => {
            // Never echo the patient id in an error.
            let patient = callvault_types::PatientId::parse_any(patient)
                .map_err(|e| Problem::bad_request(format!("patient: {e}")))?;
            Ok(Ok(patient))
        }
        (None, Some(call_id)) => {
            if p.from.is_some() || p.to.is_some() || p.nurse.is_some() || p.cursor.is_some() {
                return Err(Problem::bad_request(
                    "a call search takes care_unit and call_id only",
                ));
            }
            let Some(unit) = p.care_unit.as_deref() else {
                return Err(Problem::bad_request(
                    "a call search needs care_unit beside call_id",
                ));
            };
            Ok(Err(CallSearch {
                care_unit: callvault_types::CareUnit::parse(unit)
                    .map_err(|e| Problem::bad_request(format!("care_unit: {e}")))?,
                call_id: callvault_types::CallId::parse(call_id)
                    .map_err(|e| Problem::bad_request(format!("call_id: {e}")))?,
            }))
        }
        (Some(_), Some(_)) => Err(Problem::bad_request(
            "search for a patient or for a call (care_unit and call_id), not both",
        )),
        (None, None) => Err(Problem::bad_request(
            "a search needs patient, or care_unit and call_id",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_exactly_the_served_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
        let mut served = ROUTES.to_vec();
        documented.sort_unstable();
        served.sort_unstable();
        assert_eq!(documented, served);
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                let responses = op["responses"].as_object().expect("responses");
                assert!(!responses.is_empty(), "{method} {path} has responses");
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path} has an operationId"
                );
            }
        }
        // Every $ref resolves.
        let text = OPENAPI;
        for r in text.split("\"$ref\": \"#/components/").skip(1) {
            let target = r.split('"').next().expect("ref");
            let (kind, name) = target.split_once('/').expect("kind/name");
            assert!(
                doc["components"][kind][name].is_object(),
                "unresolved $ref {target}"
            );
        }
    }
}
