//! RFC 9457 problem details: clear messages for client errors, nothing internal.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error response.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for the caller (never internal details or patient data).
    pub detail: String,
    /// The refusal is already an audit event (the policy path recorded it).
    #[serde(skip)]
    recorded: bool,
}

/// The type slug of a `503` for storage that cannot be written now (`Retry-After: 30`).
const STORAGE_UNAVAILABLE: &str = "storage-unavailable";

impl Problem {
    /// A problem of `status` with a type slug.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("https://callvault.example/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            recorded: false,
        }
    }

    /// Marks the refusal as recorded in the audit log already, so that the refusal
    /// middleware does not record it twice.
    pub(crate) fn recorded(mut self) -> Self {
        self.recorded = true;
        self
    }

    /// The uniform refusal of a request on one recording: a recording of a care provider the
    /// caller has no assignment at and a recording that does not exist get the same answer
    /// (no existence oracle); other refusals keep the policy's reason.
    pub fn recording_denied(id: &callvault_types::RecordingId, d: &callvault_auth::Denial) -> Self {
        match d {
            callvault_auth::Denial::OtherCareProvider => {
                Self::not_found(format!("no recording {id} is available to you"))
            }
            d => Self::forbidden(d.to_string()),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 403, with the policy's reason.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 416.
    pub fn range_not_satisfiable(len: u64) -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            "Range not satisfiable",
            format!("the recording has {len} bytes"),
        )
    }

    /// 503 with `Retry-After: 1`: a bounded resource is exhausted; nothing was done.
    pub fn busy(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Service busy",
            detail,
        )
    }

    /// A vault error: `503` when the catalog writer is saturated or storage cannot be
    /// written now, else `500`.
    pub fn from_vault(e: callvault_vault::VaultError) -> Self {
        use callvault_vault::VaultError as V;
        match e {
            V::Catalog(callvault_catalog::CatalogError::Busy) => {
                Self::busy("the audit log writer is saturated; nothing was returned; retry shortly")
            }
            // Storage that cannot be written now (every site full, read-only or gone; the
            // catalog locked or its disk full): nothing was stored or acknowledged, and the
            // same request succeeds once the fault is gone. The cause goes to the log.
            e @ (V::NoSiteWritable(_)
            | V::Catalog(callvault_catalog::CatalogError::CommitFailed(_))) => {
                tracing::error!("storage unavailable: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    STORAGE_UNAVAILABLE,
                    "Storage unavailable",
                    "the vault cannot write its storage now; nothing was stored; retry later",
                )
            }
            V::InvalidRequest(m) => Self::bad_request(m),
            V::Link(why) => Self::bad_request(why.to_string()),
            // Refused on what the vault found; the refusal is already an audit event.
            V::Denied { denial, .. } => Self::forbidden(denial.to_string()).recorded(),
            // Another change came first (two links at once): nothing was changed.
            V::Catalog(callvault_catalog::CatalogError::Conflict(m)) => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict", m)
            }
            V::FourEyes(m) => Self::forbidden(m),
            V::NotFound(id) => Self::not_found(format!("no recording {id} is available to you")),
            e @ (V::NoSuchAssignment(_) | V::NoSuchOrder(_) | V::NoSuch(_)) => {
                Self::not_found(e.to_string())
            }
            V::Refused(m) => Self::new(StatusCode::CONFLICT, "conflict", "Conflict", m),
            V::UnknownCareProvider(cp) => Self::not_found(format!(
                "care provider {cp} is not registered in this vault"
            )),
            other => Self::internal(&other),
        }
    }

    /// 500: the cause goes to the log, not to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "internal error; no data was returned",
        )
    }
}

/// A vault error as the caller sees it ([`Problem::from_vault`]): `?` on a vault call in a
/// handler answers with it.
impl From<callvault_vault::VaultError> for Problem {
    fn from(e: callvault_vault::VaultError) -> Self {
        Self::from_vault(e)
    }
}

/// A report that could not be written (CSV): an internal error; the access was audited.
impl From<callvault_reporting::ReportError> for Problem {
    fn from(e: callvault_reporting::ReportError) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if self.recorded {
            resp.extensions_mut()
                .insert(crate::refusals::RefusalRecorded);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A busy slot frees in a moment; a full or hung disk takes an operator.
            let after = if self.kind.ends_with(STORAGE_UNAVAILABLE) {
                "30"
            } else {
                "1"
            };
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static(after));
        }
        resp
    }
}

/// Turns the plain-text 4xx answers of axum's extractors (a query string, path or JSON body
/// that does not deserialize) into problems: `application/problem+json` like every other
/// refusal of the API, `422` answered as `400`, and the message passed through
/// [`callvault_types::redact::parser_message`] (serde quotes the values it refuses, and a
/// value may be a personal number).
pub async fn rejections_as_problems(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !status.is_client_error() || !plain {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let detail = callvault_types::redact::parser_message(String::from_utf8_lossy(&body).trim());
    let problem = match status {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Problem::bad_request(detail),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "too-large", "Payload too large", detail)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            status,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        ),
        _ => Problem::new(status, "bad-request", "Bad request", detail),
    };
    problem.into_response()
}
