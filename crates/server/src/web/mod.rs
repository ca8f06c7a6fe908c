//! The web UI: server-rendered pages (askama templates) on the same mutual-TLS listener as
//! the API. The browser presents the person's SITHS certificate in the handshake, so every
//! page knows who is asking; every page that shows patient data goes through the same
//! policy decision and audit event as the API, and a refusal is audited too.
//!
//! Nothing is fetched from outside: one stylesheet served by callvault, no scripts, a
//! Content-Security-Policy of `default-src 'none'` plus `'self'` for styles and media.
//! Forms that change anything carry a token bound to the client certificate (and the
//! browser's `Sec-Fetch-Site` must not be cross-site). Swedish by default, English by a
//! cookie. A call opened through emergency access gets a short-lived grant, so that the
//! audio player's Range requests carry the reason without putting it in a URL.

mod admin;
mod calls;
mod chrome;
mod i18n;
mod log_review;
mod operations;
mod records_management;
mod session;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use callvault_auth::{
    AccessRequest, Action, Assignment, AuthenticatedPrincipal, Authorized, Denial, Purpose,
    Resource,
};
use callvault_types::{CareUnit, PatientId, RecordingId};
use callvault_vault::access::SearchFilter;
use callvault_vault::access::target::{CallSearch, Metadata, PatientSearch};
use serde::Deserialize;
use time::OffsetDateTime;

pub use i18n::{Lang, Texts};
pub use session::WebState;

use calls::*;
use chrome::*;
use session::*;

use crate::AppState;
use crate::app::PurposeParams;

/// The pages' Content-Security-Policy: nothing but callvault's own stylesheet and audio.
pub const CSP: &str = "default-src 'none'; style-src 'self'; media-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// How long an emergency-access grant lets the player fetch the call's audio.
const GRANT_TTL: Duration = Duration::from_secs(30 * 60);
const STYLESHEET: &str = include_str!("../../static/app.css");

/// The UI's routes (merged into the API router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(stylesheet))
        .route("/ui/lang", get(language))
        .route("/ui/assignment", post(choose_assignment))
        .route("/ui/search", get(search_form).post(search))
        .route("/ui/calls/{id}", get(call))
        .route("/ui/calls/{id}/emergency", post(emergency))
        .route("/ui/calls/{id}/patient", post(link_patient))
        .route(
            "/ui/calls/{id}/audio",
            get(audio).head(crate::refusals::head_not_served),
        )
        .route("/ui/admin", get(admin::overview))
        .route("/ui/admin/assignments", post(admin::request))
        .route("/ui/admin/users", post(admin::register_user))
        .route(
            "/ui/admin/assignments/{id}/{step}",
            post(admin::decide_request),
        )
        .route("/ui/operations", get(operations::overview))
        .route("/ui/records", get(records_management::overview))
        .route("/ui/records/holds", post(records_management::set_hold))
        .route(
            "/ui/records/holds/{id}/release",
            post(records_management::release_hold),
        )
        .route(
            "/ui/records/ivo",
            post(records_management::register_ivo).layer(axum::extract::DefaultBodyLimit::max(
                callvault_vault::records_management::MAX_DOCUMENT_BYTES + (64 << 10),
            )),
        )
        .route(
            "/ui/records/deletions/{id}/{step}",
            post(records_management::order_step),
        )
        .route("/ui/review", get(log_review::overview))
        .route("/ui/review/follow-up", post(log_review::run))
        .route("/ui/review/follow-up/{id}", get(log_review::show))
        .route(
            "/ui/review/follow-up/{id}/findings/{n}",
            post(log_review::judge),
        )
        .route(
            "/ui/review/extract",
            get(log_review::extract_form).post(log_review::extract),
        )
}

fn date(s: &str, end: bool) -> Result<Option<OffsetDateTime>, ()> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let d = time::Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| ())?;
    let d = if end { d.next_day().ok_or(())? } else { d };
    Ok(Some(d.midnight().assume_utc()))
}

/// The assignment a role's page acts under: the active one if it qualifies, else the first
/// the person holds that does.
fn role_assignment(
    active: Option<Assignment>,
    mine: Vec<Assignment>,
    qualifies: impl Fn(&Assignment) -> bool,
) -> Option<Assignment> {
    active
        .filter(|a| qualifies(a))
        .or_else(|| mine.into_iter().find(|a| qualifies(a)))
}

/// The decision for a care-provider-wide `action` under `assignment` (its purpose), or the
/// page to answer instead: a 403 naming `role` when the person holds no such assignment, or
/// the policy's refusal (audited).
async fn decide_role(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    c: Chrome,
    assignment: Option<Assignment>,
    action: Action,
    role: &'static str,
) -> Result<(Chrome, Authorized), Response> {
    let Some(a) = assignment else {
        return Err(error_page(c, StatusCode::FORBIDDEN, role.to_owned()));
    };
    let req = AccessRequest {
        action,
        resource: Resource {
            care_provider: a.care_provider.clone(),
            care_unit: None,
        },
        purpose: a.purpose,
        assignment: Some(a.id.clone()),
        emergency_reason: None,
        case_number: None,
    };
    match decide(state, who, &req, None).await {
        Err(r) => Err(r),
        Ok(Err(d)) => Err(denied_page(c, &d)),
        Ok(Ok(authz)) => Ok((c, authz)),
    }
}

/// Decides; a refusal is audited and returned with its reason.
async fn decide(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    req: &AccessRequest,
    recording: Option<&RecordingId>,
) -> Result<Result<Authorized, Denial>, Response> {
    crate::app::decide_recorded(state, who, req, recording)
        .await
        .map_err(IntoResponse::into_response)
}
