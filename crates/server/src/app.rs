//! The HTTP application: routes, in-process testable (`app(state) -> Router`).
//!
//! Every route sees the principal the TLS layer authenticated (a request extension). Data
//! routes follow one path: policy decision → audit event (denials too) → data.

use std::ops::Range;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use callvault_auth::{AccessRequest, Action, AuthenticatedPrincipal, Policy, Purpose};
use callvault_types::RecordingId;
use callvault_vault::Vault;
use callvault_vault::access::AccessTarget;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::problem::Problem;

/// What the routes share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The vault.
    pub vault: Arc<Vault>,
    /// The access policy.
    pub policy: Arc<Policy>,
    /// Request counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/api/v1/recordings",
            get(search)
                .post(crate::upload::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::upload::MAX_AUDIO as usize + crate::upload::MAX_METADATA + (1 << 20),
                )),
        )
        .route("/api/v1/recordings/{id}", get(metadata))
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/events", get(crate::review::audit_events))
        .route("/api/v1/audit/proof/{kind}", get(crate::review::proof))
        .route(
            "/api/v1/patients/{patient_id}/access-log",
            get(crate::review::access_log),
        )
        .route("/api/v1/recordings/{id}/audio", get(audio))
        .route("/metrics", get(crate::metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
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

fn recording_id(id: &str) -> Result<RecordingId, Problem> {
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

/// Decides, audits a denial, and returns the decision.
fn decide(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    action: Action,
    id: &RecordingId,
    params: &PurposeParams,
) -> Result<callvault_auth::Authorized, Problem> {
    let purpose = purpose(params)?;
    let resource = state
        .vault
        .recording_resource(id)
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(|| Problem::not_found(format!("no recording {id}")))?;
    let req = AccessRequest {
        action,
        resource,
        purpose,
        assignment: None,
        emergency_reason: params.emergency_reason.clone(),
        case_number: params.case_number.clone(),
    };
    match state
        .policy
        .decide(who, &req, time::OffsetDateTime::now_utc())
    {
        Ok(a) => Ok(a),
        Err(denial) => {
            // The refusal is recorded before it is answered; if it cannot be, the caller
            // gets an internal error instead.
            state
                .vault
                .record_denial(who, &req, &denial, Some(id))
                .map_err(|e| Problem::internal(&e))?;
            Err(Problem::forbidden(denial.to_string()))
        }
    }
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
    sites: Vec<String>,
    audit_leaf_index: u64,
}

async fn metadata(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(params): Query<PurposeParams>,
) -> Result<Json<MetadataBody>, Problem> {
    let id = recording_id(&id)?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ViewMetadata, &id, &params)?;
        let receipt = state
            .vault
            .record_access(&authz, AccessTarget::Recording { id, range: None })
            .map_err(|e| Problem::internal(&e))?;
        let m = state
            .vault
            .read_metadata(&authz, &receipt, &id)
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
            sites: m
                .placements
                .iter()
                .filter(|p| p.state == callvault_catalog::PlacementState::Ok)
                .map(|p| p.site.clone())
                .collect(),
            audit_leaf_index: receipt.leaf_index(),
        }))
    })
    .await
}

/// The latest signed checkpoint of the audit log (C2SP signed note; no patient data, so
/// any authenticated caller may fetch it and verify it offline with the public key).
async fn checkpoint(State(state): State<AppState>) -> Result<Response, Problem> {
    blocking(move || {
        let c = state
            .vault
            .catalog()
            .latest_checkpoint()
            .map_err(|e| Problem::internal(&e))?
            .ok_or_else(|| Problem::not_found("no checkpoint has been signed yet"))?;
        Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            c.note,
        )
            .into_response())
    })
    .await
}

/// Search parameters.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    care_provider: Option<String>,
    patient: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    purpose: PurposeParams,
}

/// One search hit.
#[derive(Debug, Serialize)]
pub struct Hit {
    id: String,
    care_unit: String,
    started_at: String,
    duration_ms: u64,
}

/// The hits of an audited search.
#[derive(Debug, Serialize)]
pub struct SearchBody {
    recordings: Vec<Hit>,
    audit_leaf_index: u64,
}

/// Recordings of one patient at one care provider, through the blind index; the search
/// itself is an audited access naming the (sealed) patient.
async fn search(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchBody>, Problem> {
    let cp = params.care_provider.as_deref().ok_or_else(|| {
        Problem::bad_request("the query parameter care_provider (HSA-ID) is required")
    })?;
    let cp = callvault_types::CareProvider::parse(cp)
        .map_err(|e| Problem::bad_request(format!("care_provider: {e}")))?;
    let patient = params
        .patient
        .as_deref()
        .ok_or_else(|| Problem::bad_request("the query parameter patient is required"))?;
    // Never echo the patient id in an error.
    let patient = callvault_types::PatientId::parse_any(patient)
        .map_err(|e| Problem::bad_request(format!("patient: {e}")))?;
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
    let (from, to) = (time(&params.from, "from")?, time(&params.to, "to")?);
    let purpose = purpose(&params.purpose)?;
    blocking(move || {
        let req = AccessRequest {
            action: Action::Search,
            resource: callvault_auth::Resource {
                care_provider: cp,
                care_unit: None,
            },
            purpose,
            assignment: None,
            emergency_reason: params.purpose.emergency_reason.clone(),
            case_number: params.purpose.case_number.clone(),
        };
        let authz = match state
            .policy
            .decide(&who, &req, time::OffsetDateTime::now_utc())
        {
            Ok(a) => a,
            Err(denial) => {
                state
                    .vault
                    .record_denial(&who, &req, &denial, None)
                    .map_err(|e| Problem::internal(&e))?;
                return Err(Problem::forbidden(denial.to_string()));
            }
        };
        let receipt = state
            .vault
            .record_access(&authz, AccessTarget::PatientSearch { patient, from, to })
            .map_err(|e| Problem::internal(&e))?;
        let hits = state
            .vault
            .search_patient(&authz, &receipt)
            .map_err(|e| Problem::internal(&e))?;
        let t = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        Ok(Json(SearchBody {
            recordings: hits
                .into_iter()
                .map(|h| Hit {
                    id: h.id.to_string(),
                    care_unit: h.care_unit.to_string(),
                    started_at: t(h.started_at),
                    duration_ms: h.duration_ms,
                })
                .collect(),
            audit_leaf_index: receipt.leaf_index(),
        }))
    })
    .await
}

/// Most bytes one audio response carries (a larger range is answered in part: `206` with
/// the first bytes, as HTTP allows).
pub const MAX_AUDIO_RESPONSE: u64 = 32 << 20;

/// A parsed `Range: bytes=` header (RFC 9110 §14.1.2).
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `a-b` (inclusive end, as written).
    FromTo(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a Range header; `Ok(None)` for none, `Err` for a malformed one. Several ranges
/// are answered with the first one only (allowed by RFC 9110).
pub fn parse_range(h: Option<&HeaderValue>) -> Result<Option<ByteRange>, Problem> {
    let Some(h) = h else { return Ok(None) };
    let s = h
        .to_str()
        .map_err(|_| Problem::bad_request("Range header is not ASCII"))?;
    let spec = s
        .strip_prefix("bytes=")
        .ok_or_else(|| Problem::bad_request("Range must be in bytes, e.g. Range: bytes=0-1023"))?;
    let first = spec.split(',').next().unwrap_or_default().trim();
    let bad = || Problem::bad_request(format!("Range {s:?} is malformed"));
    let (a, b) = first.split_once('-').ok_or_else(bad)?;
    let num = |x: &str| x.parse::<u64>().map_err(|_| bad());
    Ok(Some(match (a.is_empty(), b.is_empty()) {
        (true, false) => ByteRange::Suffix(num(b)?),
        (false, true) => ByteRange::From(num(a)?),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad());
            }
            ByteRange::FromTo(a, b)
        }
        (true, true) => return Err(bad()),
    }))
}

/// The half-open byte range to serve, or `None` if unsatisfiable.
pub fn resolve(r: &ByteRange, len: u64) -> Option<Range<u64>> {
    let range = match *r {
        ByteRange::FromTo(a, b) if a < len => a..(b + 1).min(len),
        ByteRange::From(a) if a < len => a..len,
        ByteRange::Suffix(n) if n > 0 && len > 0 => len - n.min(len)..len,
        _ => return None,
    };
    Some(range.start..range.end.min(range.start + MAX_AUDIO_RESPONSE))
}

async fn audio(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(params): Query<PurposeParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let id = recording_id(&id)?;
    let requested = parse_range(headers.get(header::RANGE))?;
    blocking(move || {
        let authz = decide(&state, &who, Action::Play, &id, &params)?;
        let len = state
            .vault
            .recording_audio_len(&id)
            .map_err(|e| Problem::internal(&e))?
            .ok_or_else(|| Problem::not_found(format!("no recording {id}")))?;
        let range = match &requested {
            None if len > MAX_AUDIO_RESPONSE => 0..MAX_AUDIO_RESPONSE,
            None => 0..len,
            Some(r) => resolve(r, len).ok_or(Problem::range_not_satisfiable(len))?,
        };
        let partial = requested.is_some() || range.end - range.start < len;
        let receipt = state
            .vault
            .record_access(
                &authz,
                AccessTarget::Recording {
                    id,
                    range: Some(range.clone()),
                },
            )
            .map_err(|e| Problem::internal(&e))?;
        let mut body = Vec::with_capacity((range.end - range.start) as usize);
        state
            .vault
            .play(&authz, &receipt, &id, |c| {
                body.extend_from_slice(c);
                Ok(())
            })
            .map_err(|e| Problem::internal(&e))?;
        let mut resp = (
            if partial {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            },
            [
                (header::CONTENT_TYPE, "audio/wav".to_owned()),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            body,
        )
            .into_response();
        if partial
            && let Ok(v) =
                HeaderValue::from_str(&format!("bytes {}-{}/{len}", range.start, range.end - 1))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&receipt.leaf_index().to_string()) {
            resp.headers_mut().insert("x-callvault-audit-leaf", v);
        }
        Ok(resp)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Result<Option<ByteRange>, Problem> {
        parse_range(Some(&HeaderValue::from_str(s).expect("header")))
    }

    #[test]
    fn range_shapes() {
        let len = 1000;
        let res = |s: &str| r(s).expect("parse").and_then(|b| resolve(&b, len));
        assert_eq!(res("bytes=0-0"), Some(0..1));
        assert_eq!(res("bytes=0-999"), Some(0..1000));
        assert_eq!(res("bytes=500-"), Some(500..1000));
        assert_eq!(res("bytes=-100"), Some(900..1000));
        assert_eq!(res("bytes=-5000"), Some(0..1000));
        assert_eq!(res("bytes=990-5000"), Some(990..1000));
        assert_eq!(res("bytes=0-9, 20-29"), Some(0..10));
        assert_eq!(res("bytes=1000-"), None);
        assert_eq!(res("bytes=-0"), None);
        assert!(r("bytes=9-1").is_err());
        assert!(r("items=0-1").is_err());
        assert!(r("bytes=a-b").is_err());
        assert!(r("bytes=-").is_err());
        assert_eq!(parse_range(None).expect("none"), None);
    }
}
