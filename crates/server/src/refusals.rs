//! Every refusal is an audit event: a request that names a protected resource or a person
//! is recorded whether it is granted or refused, and however early it is refused.
//!
//! Policy denials are recorded where the policy decides (`app::authorize`), and their
//! responses carry [`RefusalRecorded`]. Everything refused before or beside the policy — a
//! missing or conflicting purpose, a duplicated header, a malformed Range, a recording that
//! does not exist, a range that cannot be served, a web grant shown by another certificate,
//! an extractor's rejection — reaches [`audit_refusals`], which records it from the route
//! template, the method, the status and the problem's reason. If the event cannot be
//! written, the answer is an internal error instead (invariant 1: no durable record, no
//! answer).
//!
//! Which routes are protected is [`protected_action`]: an exhaustive table over the router's
//! templates, held to the router by a test.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use callvault_auth::{Action, AuthenticatedPrincipal, Purpose};
use callvault_types::RecordingId;
use callvault_vault::access::Refusal;

use crate::AppState;
use crate::problem::Problem;

/// Response extension: the refusal was already recorded (by the policy path).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefusalRecorded;

/// Response extension: why a response that is not a problem document refused (web pages,
/// bare statuses).
#[derive(Clone, Debug)]
pub(crate) struct RefusalReason(pub(crate) String);

/// The action a request on a protected route attempts, or `None` for the routes that name
/// no protected resource and no person (health, the API document, the static stylesheet,
/// checkpoints, proofs and the verifier key: hashes and public keys only).
pub fn protected_action(method: &Method, template: &str) -> Option<Action> {
    // Fail safe: a template the table does not name is protected, so refusals on it are
    // recorded (a test holds the table to the router).
    classify(method, template).unwrap_or(Some(Action::ViewMetadata))
}

/// The table: `None` for a template it does not name.
fn classify(method: &Method, template: &str) -> Option<Option<Action>> {
    use Action::*;
    let post = method == Method::POST;
    Some(Some(match template {
        "/healthz"
        | "/api/v1/openapi.json"
        | "/api/v1/audit/checkpoint"
        | "/api/v1/audit/proof/{kind}"
        | "/api/v1/audit/verifier-key"
        | "/static/app.css"
        | "/ui/lang" => return Some(None),
        "/metrics" | "/ui/operations" => Operate,
        "/api/v1/recordings" if post => Ingest,
        "/api/v1/recordings" | "/api/v1/recordings/search" | "/ui/search" => Search,
        "/api/v1/recordings/{id}" | "/ui/calls/{id}" | "/ui/calls/{id}/emergency" => ViewMetadata,
        "/api/v1/recordings/{id}/audio" | "/ui/calls/{id}/audio" => Play,
        "/api/v1/recordings/{id}/patient" | "/ui/calls/{id}/patient" => LinkPatient,
        "/api/v1/audit/events"
        | "/api/v1/audit/follow-up"
        | "/api/v1/audit/follow-up/{id}"
        | "/api/v1/audit/follow-up/{id}/findings/{n}"
        | "/api/v1/audit/fhir/AuditEvent"
        | "/api/v1/audit/fhir/AuditEvent/{index}"
        | "/ui/review"
        | "/ui/review/follow-up"
        | "/ui/review/follow-up/{id}"
        | "/ui/review/follow-up/{id}/findings/{n}" => ReadAudit,
        "/api/v1/patients/access-log" | "/api/v1/audit/log-extract" | "/ui/review/extract" => {
            ReadAccessLog
        }
        "/api/v1/governance/users"
        | "/api/v1/governance/assignments"
        | "/api/v1/governance/assignments/{id}/approve"
        | "/api/v1/governance/assignments/{id}/reject"
        | "/api/v1/governance/assignments/{id}/revoke"
        | "/api/v1/governance/access-review"
        | "/ui/admin"
        | "/ui/admin/assignments"
        | "/ui/admin/users"
        | "/ui/admin/assignments/{id}/{step}" => ManagePrivileges,
        // The home page and the assignment choice name a person: the caller.
        "/" | "/ui/assignment" => Search,
        t if t.starts_with("/api/v1/records/") || t.starts_with("/ui/records") => ManageRecords,
        _ => return None,
    }))
}

/// The care provider a refusal is filed under for its log reviewers: the caller's (the first,
/// by HSA-ID, of those its assignments are at; none for a caller without assignments).
pub(crate) fn actor_care_provider(
    state: &AppState,
    who: &AuthenticatedPrincipal,
) -> Option<callvault_types::CareProvider> {
    state
        .policy
        .current()
        .assignments()
        .held_by(who.hsa_id())
        .map(|a| a.care_provider.clone())
        .min()
}

/// The recording a protected route names, from its `{id}` segment.
fn named_recording(template: &str, path: &str) -> Option<RecordingId> {
    if !(template.starts_with("/api/v1/recordings/{id}") || template.starts_with("/ui/calls/{id}"))
    {
        return None;
    }
    let seg = template.split('/').position(|s| s == "{id}")?;
    RecordingId::parse(path.split('/').nth(seg)?).ok()
}

/// The purpose a request states in its query, when it is one of the purposes.
fn stated_purpose(req: &Request) -> Option<String> {
    let header = req
        .headers()
        .get("x-callvault-purpose")
        .and_then(|v| v.to_str().ok());
    let query = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "purpose")
            .map(|(_, v)| v)
    });
    let p = Purpose::parse(query.or(header)?.trim())?;
    Some(p.as_str().to_owned())
}

/// Middleware over every route: records a client-error answer on a protected route that
/// was not recorded already.
pub async fn audit_refusals(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let method = req.method().clone();
    let (Some(action), Some(who)) = (
        protected_action(&method, &template),
        req.extensions().get::<AuthenticatedPrincipal>().cloned(),
    ) else {
        return next.run(req).await;
    };
    let recording = named_recording(&template, req.uri().path());
    let purpose = stated_purpose(&req);
    let resp = next.run(req).await;
    let status = resp.status();
    if !status.is_client_error() || resp.extensions().get::<RefusalRecorded>().is_some() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let problem = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    // Problem documents and refusal pages are small; anything larger is not read.
    let bytes = axum::body::to_bytes(body, 256 << 10)
        .await
        .unwrap_or_default();
    let reason = parts
        .extensions
        .get::<RefusalReason>()
        .map(|r| r.0.clone())
        .or_else(|| {
            problem
                .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .flatten()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
    let actor_care_provider = actor_care_provider(&state, &who);
    let refusal = Refusal {
        action,
        recording,
        actor_care_provider,
        purpose,
        reason,
        details: vec![
            ("method".into(), method.to_string()),
            ("route".into(), template),
            ("status".into(), status.as_u16().to_string()),
        ],
    };
    match state.vault.record_refusal_async(&who, &refusal).await {
        Ok(_) => Response::from_parts(parts, Body::from(bytes)),
        Err(e) => Problem::internal(&format!("recording a refusal failed: {e}")).into_response(),
    }
}

/// `405` for HEAD on audio: a HEAD would learn a recording's size without playing it, and
/// is not an access the log could name truthfully. Recorded by [`audit_refusals`].
pub(crate) async fn head_not_served() -> Response {
    let mut r = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "HEAD is not served for audio; use GET with a Range header",
    )
    .into_response();
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is named in the table, so a new route cannot fall
    /// through to the fail-safe default unnoticed.
    #[test]
    fn the_table_names_every_route() {
        let web = [
            "/",
            "/static/app.css",
            "/ui/lang",
            "/ui/assignment",
            "/ui/search",
            "/ui/calls/{id}",
            "/ui/calls/{id}/emergency",
            "/ui/calls/{id}/audio",
            "/ui/admin",
            "/ui/admin/assignments",
            "/ui/admin/users",
            "/ui/admin/assignments/{id}/{step}",
            "/ui/operations",
            "/ui/records",
            "/ui/records/holds",
            "/ui/records/holds/{id}/release",
            "/ui/records/ivo",
            "/ui/records/deletions/{id}/{step}",
            "/ui/review",
            "/ui/review/follow-up",
            "/ui/review/follow-up/{id}",
            "/ui/review/follow-up/{id}/findings/{n}",
            "/ui/review/extract",
        ];
        for t in crate::app::ROUTES.iter().chain(web.iter()) {
            for m in [Method::GET, Method::POST] {
                assert!(classify(&m, t).is_some(), "{m} {t} is not in the table");
            }
        }
        assert_eq!(
            protected_action(&Method::GET, "/api/v1/recordings/{id}/audio"),
            Some(Action::Play)
        );
        assert_eq!(protected_action(&Method::GET, "/healthz"), None);
        assert_eq!(
            protected_action(&Method::GET, "/api/v1/new-thing"),
            Some(Action::ViewMetadata),
            "unknown templates are protected"
        );
    }

    #[test]
    fn the_named_recording_comes_from_the_id_segment() {
        let id = "0190f3b2-0000-7000-8000-000000000000";
        assert_eq!(
            named_recording(
                "/api/v1/recordings/{id}/audio",
                &format!("/api/v1/recordings/{id}/audio")
            )
            .map(|r| r.to_string()),
            Some(id.to_owned())
        );
        assert_eq!(
            named_recording("/ui/calls/{id}", &format!("/ui/calls/{id}")).map(|r| r.to_string()),
            Some(id.to_owned())
        );
        assert_eq!(named_recording("/ui/calls/{id}", "/ui/calls/nope"), None);
        assert_eq!(
            named_recording("/api/v1/governance/assignments/{id}/approve", "/x/y"),
            None
        );
    }
}
