//! `POST /api/v1/recordings/{id}/patient`: link a recording to the patient the call was
//! about, or correct its link (see `callvault_vault::link`). The patient travels in the
//! body, never in the URL. Who may: the nurse who took the call, or someone with the right
//! `link-patient`; purpose care and treatment, never emergency access.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use callvault_auth::{Action, AuthenticatedPrincipal};
use callvault_types::PatientId;
use serde::Serialize;

use crate::app::{AppState, PurposeParams, decide, recording_id, vault_blocking};
use crate::problem::Problem;

/// The largest link request body (a patient id and a reason of at most 1000 characters).
pub const LINK_BODY_MAX: usize = 16 << 10;

/// What a link did.
#[derive(Debug, Serialize)]
pub struct LinkBody {
    recording: String,
    /// 1 for the first link, one more for each correction.
    link: u32,
    /// Whether it replaced a patient the recording had.
    corrected: bool,
    audit_leaf_index: u64,
}

/// Links a recording to its patient.
pub async fn link_patient(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(params): Query<PurposeParams>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<LinkBody>, Problem> {
    let id = recording_id(&id)?;
    let params = params.with_headers(&headers)?;
    let req: crate::wire::LinkRequest = crate::governance::json(&body)?;
    // Never echo the patient id in an error.
    let patient = PatientId::parse_any(&req.patient_id)
        .map_err(|e| Problem::bad_request(format!("patient_id: {e}")))?;
    let authz = decide(&state, &who, Action::LinkPatient, &id, &params).await?;
    let vault = state.vault.clone();
    let linked =
        vault_blocking(move || vault.link_patient(&authz, &id, &patient, req.reason.as_deref()))
            .await?;
    Ok(Json(LinkBody {
        recording: id.to_string(),
        link: linked.n,
        corrected: linked.corrected,
        audit_leaf_index: linked.leaf_index,
    }))
}
