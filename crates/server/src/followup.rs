//! Log follow-up routes for log reviewers (right `read-audit`, purpose *logguppföljning*):
//! run the rules over a period, list runs, read a run as JSON, CSV or a printable HTML
//! report, and judge findings; a patient's log extract (right `read-access-log`). Marking a patient's protected identity is records
//! management (`POST /api/v1/records/protected-patients`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use callvault_auth::{Action, AuthenticatedPrincipal};
use callvault_catalog::Verdict;
use callvault_types::PatientId;
use callvault_vault::followup::FollowUpRequest;
use serde::Deserialize;

use crate::AppState;
use crate::app::blocking;
use crate::governance::{care_provider, json, time_field};
use crate::log_review::{ReviewParams, decide};
use crate::problem::Problem;
use crate::wire::{ExtractBody, ProtectBody, ReviewBody, RunBody};

fn params(mut p: ReviewParams, headers: &HeaderMap) -> Result<ReviewParams, Problem> {
    p.purpose = p.purpose.with_headers(headers)?;
    if p.limit.is_some() {
        return Err(Problem::bad_request(
            "limit does not apply to follow-up routes",
        ));
    }
    Ok(p)
}

/// `POST /api/v1/audit/follow-up?care_provider=&purpose=logguppfoljning`: run the rules over
/// `[from, to)`; answers the run with its findings (201).
pub async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ReviewParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let q = params(q, &headers)?;
    let b: RunBody = json(&body)?;
    let seed = match b.seed {
        None => None,
        Some(s) => {
            let v = hex::decode(s.trim())
                .map_err(|_| Problem::bad_request("seed must be 64 hexadecimal digits"))?;
            Some(
                <[u8; 32]>::try_from(v)
                    .map_err(|_| Problem::bad_request("seed must be 64 hexadecimal digits"))?,
            )
        }
    };
    let req = FollowUpRequest {
        from: time_field("from", &b.from)?,
        to: time_field("to", &b.to)?,
        settings: b.settings,
        seed,
    };
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &q)?;
        let report = state.vault.run_follow_up(&authz, req)?;
        Ok((StatusCode::CREATED, Json(report)).into_response())
    })
    .await
}

/// `GET /api/v1/audit/follow-up?care_provider=&purpose=logguppfoljning`: the runs.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ReviewParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let q = params(q, &headers)?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &q)?;
        let runs = state.vault.follow_up_runs(&authz)?;
        Ok(Json(runs).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    format: Option<String>,
    #[serde(flatten)]
    review: ReviewParams,
}

/// `GET /api/v1/audit/follow-up/{id}?care_provider=&purpose=&format=json|csv|html`: one run
/// with its findings and reviews; `html` is the printable report.
pub async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(q): Query<ShowParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv" | "html") {
        return Err(Problem::bad_request(format!(
            "format {format:?} is not one of: json, csv, html"
        )));
    }
    let p = params(q.review, &headers)?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &p)?;
        let report = state.vault.follow_up(&authz, &id, &format)?;
        Ok(match format.as_str() {
            "csv" => (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                report.to_csv()?,
            )
                .into_response(),
            "html" => (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'",
                    ),
                ],
                report.to_html(),
            )
                .into_response(),
            _ => Json(report).into_response(),
        })
    })
    .await
}

/// `POST /api/v1/audit/follow-up/{id}/findings/{n}?care_provider=&purpose=`: judge a
/// finding `justified` or `unjustified`, with a comment. Never one's own access (403).
pub async fn review(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path((id, n)): Path<(String, u32)>,
    Query(q): Query<ReviewParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let q = params(q, &headers)?;
    let b: ReviewBody = json(&body)?;
    let verdict = Verdict::parse(b.verdict.trim()).ok_or_else(|| {
        Problem::bad_request(format!(
            "verdict {:?} is not one of: justified, unjustified",
            b.verdict
        ))
    })?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &q)?;
        let leaf = state
            .vault
            .review_finding(&authz, &id, n, verdict, &b.comment)?;
        Ok(Json(serde_json::json!({
            "run": id, "finding": n, "verdict": verdict.as_str(), "audit_leaf_index": leaf
        }))
        .into_response())
    })
    .await
}

/// `POST /api/v1/records/protected-patients`: mark a patient as having protected identity
/// (or lift the mark with `"protected": false`); records managers.
pub async fn protect(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: ProtectBody = json(&body)?;
    let cp = care_provider(&b.care_provider)?;
    // Never echo the patient id in an error.
    let patient = PatientId::parse_any(&b.patient)
        .map_err(|e| Problem::bad_request(format!("patient: {e}")))?;
    let authz = crate::governance::administration(&state, &who, cp, Action::ManageRecords).await?;
    blocking(move || {
        let leaf = state
            .vault
            .mark_protected(&authz, &patient, b.protected, &b.reference)?;
        Ok(Json(serde_json::json!({
            "protected": b.protected, "audit_leaf_index": leaf
        }))
        .into_response())
    })
    .await
}

/// `POST /api/v1/audit/log-extract?care_provider=&purpose=logguppfoljning`: a patient's log
/// extract (loggutdrag) as PDF (Swedish), CSV or JSON; log reviewers (`read-access-log`).
/// The patient travels in the body, never in a URL; the answer is never cached.
pub async fn log_extract(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<ReviewParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    use callvault_reporting::extract::ExtractFormat;
    let q = params(q, &headers)?;
    let b: ExtractBody = json(&body)?;
    let format = ExtractFormat::parse(b.format.trim()).ok_or_else(|| {
        Problem::bad_request(format!(
            "format {:?} is not one of: pdf, csv, json",
            b.format
        ))
    })?;
    let patient = PatientId::parse_any(&b.patient)
        .map_err(|e| Problem::bad_request(format!("patient: {e}")))?;
    let from = b.from.map(|f| time_field("from", &f)).transpose()?;
    let to = b.to.map(|t| time_field("to", &t)).transpose()?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAccessLog, &q)?;
        let x = state
            .vault
            .log_extract(&authz, &patient, from, to, format)?;
        let name = format!(
            "loggutdrag-{}-{}",
            x.care_provider,
            x.generated_at.get(..10).unwrap_or("")
        );
        let (ctype, ext, bytes) = match format {
            ExtractFormat::Pdf => ("application/pdf", "pdf", x.to_pdf()),
            ExtractFormat::Csv => ("text/csv; charset=utf-8", "csv", x.to_csv()?.into_bytes()),
            ExtractFormat::Json => ("application/json", "json", x.to_json().into_bytes()),
        };
        Ok((
            [
                (header::CONTENT_TYPE, ctype.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{ext}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            bytes,
        )
            .into_response())
    })
    .await
}

/// Query of the FHIR export routes.
#[derive(Debug, Deserialize)]
pub struct FhirParams {
    from: Option<String>,
    to: Option<String>,
    patient_identifiers: Option<String>,
    #[serde(flatten)]
    review: ReviewParams,
}

fn patient_identifiers(
    s: Option<&str>,
) -> Result<callvault_reporting::fhir::PatientIdentifiers, Problem> {
    let s = s.unwrap_or("pseudonym");
    callvault_reporting::fhir::PatientIdentifiers::parse(s).ok_or_else(|| {
        Problem::bad_request(format!(
            "patient_identifiers {s:?} is not one of: pseudonym, clear"
        ))
    })
}

/// `GET /api/v1/audit/fhir/AuditEvent?care_provider=&purpose=&from=&to=`: the care
/// provider's audit events in `[from, to)` as FHIR R4 AuditEvent NDJSON (IHE BALP).
pub async fn fhir_export(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(q): Query<FhirParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let ids = patient_identifiers(q.patient_identifiers.as_deref())?;
    let from = time_field(
        "from",
        q.from
            .as_deref()
            .ok_or_else(|| Problem::bad_request("the query parameter from is required"))?,
    )?;
    let to = time_field(
        "to",
        q.to.as_deref()
            .ok_or_else(|| Problem::bad_request("the query parameter to is required"))?,
    )?;
    let p = params(q.review, &headers)?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &p)?;
        let (ndjson, _) = state.vault.fhir_export(&authz, from, to, ids)?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/fhir+ndjson"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            ndjson,
        )
            .into_response())
    })
    .await
}

/// `GET /api/v1/audit/fhir/AuditEvent/{index}?care_provider=&purpose=`: one event.
pub async fn fhir_event(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(index): Path<u64>,
    Query(q): Query<FhirParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let ids = patient_identifiers(q.patient_identifiers.as_deref())?;
    if q.from.is_some() || q.to.is_some() {
        return Err(Problem::bad_request("from and to apply to the export only"));
    }
    let p = params(q.review, &headers)?;
    blocking(move || {
        let authz = decide(&state, &who, Action::ReadAudit, &p)?;
        let v = state.vault.fhir_event(&authz, index, ids)?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/fhir+json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            v.to_string(),
        )
            .into_response())
    })
    .await
}
