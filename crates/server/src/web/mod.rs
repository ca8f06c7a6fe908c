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
mod i18n;
mod operations;
mod records;
mod review;

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
use callvault_vault::access::{AccessTarget, SearchFilter};
use serde::Deserialize;
use time::OffsetDateTime;

pub use i18n::{Lang, Texts};

use crate::AppState;
use crate::app::PurposeParams;

/// The pages' Content-Security-Policy: nothing but callvault's own stylesheet and audio.
pub const CSP: &str = "default-src 'none'; style-src 'self'; media-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// How long an emergency-access grant lets the player fetch the call's audio.
const GRANT_TTL: Duration = Duration::from_secs(30 * 60);
const STYLESHEET: &str = include_str!("../../static/app.css");

/// State of the web UI: the secret that binds form tokens to client certificates, and the
/// emergency-access grants of open call pages.
#[derive(Debug)]
pub struct WebState {
    secret: [u8; 32],
    grants: Mutex<HashMap<String, Grant>>,
}

#[derive(Debug, Clone)]
struct Grant {
    fingerprint: [u8; 32],
    recording: RecordingId,
    purpose: Purpose,
    assignment: Option<String>,
    reason: String,
    expires: Instant,
}

impl WebState {
    /// A fresh state (a new secret: tokens of an earlier process stop working).
    pub fn new() -> Self {
        let mut secret = [0u8; 32];
        // The secret only binds forms to a certificate; if the system RNG fails the
        // process has bigger problems, and a zero secret still binds to the fingerprint.
        let _ = callvault_crypto::random_bytes(&mut secret);
        Self {
            secret,
            grants: Mutex::new(HashMap::new()),
        }
    }

    fn csrf(&self, who: &AuthenticatedPrincipal) -> String {
        let mut input = self.secret.to_vec();
        input.extend_from_slice(who.fingerprint());
        hex::encode(callvault_crypto::sha256(&input))
    }

    fn grant(&self, g: Grant) -> String {
        let mut b = [0u8; 16];
        let _ = callvault_crypto::random_bytes(&mut b);
        let token = hex::encode(b);
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants.retain(|_, g| g.expires > Instant::now());
        grants.insert(token.clone(), g);
        token
    }

    fn take_grant(
        &self,
        token: &str,
        who: &AuthenticatedPrincipal,
        id: &RecordingId,
    ) -> Option<Grant> {
        let grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants
            .get(token)
            .filter(|g| {
                g.expires > Instant::now()
                    && &g.fingerprint == who.fingerprint()
                    && &g.recording == id
            })
            .cloned()
    }
}

impl Default for WebState {
    fn default() -> Self {
        Self::new()
    }
}

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
        .route("/ui/records", get(records::overview))
        .route("/ui/records/holds", post(records::set_hold))
        .route(
            "/ui/records/holds/{id}/release",
            post(records::release_hold),
        )
        .route(
            "/ui/records/ivo",
            post(records::register_ivo).layer(axum::extract::DefaultBodyLimit::max(
                callvault_vault::records::MAX_DOCUMENT_BYTES + (64 << 10),
            )),
        )
        .route(
            "/ui/records/deletions/{id}/{step}",
            post(records::order_step),
        )
        .route("/ui/review", get(review::overview))
        .route("/ui/review/follow-up", post(review::run))
        .route("/ui/review/follow-up/{id}", get(review::show))
        .route(
            "/ui/review/follow-up/{id}/findings/{n}",
            post(review::judge),
        )
        .route(
            "/ui/review/extract",
            get(review::extract_form).post(review::extract),
        )
}

// ---------------------------------------------------------------------------------------
// Who is asking, in which language, under which assignment.

/// One of the person's assignments, as shown.
#[derive(Debug, Clone)]
pub struct AssignmentView {
    id: String,
    label: String,
    active: bool,
}

/// The logged-in person.
#[derive(Debug)]
pub struct WhoView {
    name: String,
    hsa_id: String,
    assignments: Vec<AssignmentView>,
    active: Option<AssignmentView>,
    /// Holds an active log-review assignment (the log review pages are offered).
    reviewer: bool,
    /// Holds an active privilege-administration assignment.
    administrator: bool,
    /// Holds an active records-management assignment.
    records_manager: bool,
    /// Holds an active operator assignment.
    operator: bool,
    /// Holds an assignment that may search calls (care and treatment, or an investigation,
    /// with the search right): only then is "search calls" offered — a log reviewer or an
    /// administrator would only meet a refusal.
    searcher: bool,
}

/// What every page shows around its content.
#[derive(Debug)]
pub struct Chrome {
    lang: &'static str,
    other_lang: &'static str,
    t: &'static Texts,
    who: WhoView,
    csrf: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, "cv_lang")
        .and_then(Lang::parse)
        .unwrap_or(Lang::Sv)
}

fn label(a: &Assignment, lang: Lang) -> String {
    let units: Vec<String> = a.care_units.iter().map(ToString::to_string).collect();
    let scope = if units.is_empty() {
        match lang {
            Lang::Sv => "hela vårdgivaren".to_owned(),
            Lang::En => "the whole care provider".to_owned(),
        }
    } else {
        units.join(", ")
    };
    format!(
        "{} – {} ({}, {})",
        a.id,
        a.purpose.as_str(),
        a.care_provider,
        scope
    )
}

/// The person's active assignments, and the one they act under (the `cv_asg` cookie if it
/// names one of theirs, else the first).
fn assignments(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    headers: &HeaderMap,
) -> (Vec<Assignment>, Option<Assignment>) {
    let now = OffsetDateTime::now_utc();
    let policy = state.policy.current();
    let mine: Vec<Assignment> = policy
        .assignments()
        .held_by(who.hsa_id())
        .filter(|a| a.is_active(now))
        .cloned()
        .collect();
    let chosen = cookie(headers, "cv_asg");
    let active = mine
        .iter()
        .find(|a| Some(a.id.as_str()) == chosen)
        .or_else(|| mine.first())
        .cloned();
    (mine, active)
}

fn chrome(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    headers: &HeaderMap,
) -> (Chrome, Option<Assignment>, Vec<Assignment>) {
    let lang = lang_of(headers);
    let (mine, active) = assignments(state, who, headers);
    let name = state
        .vault
        .catalog()
        .user(who.hsa_id())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| who.hsa_id().to_string());
    let views: Vec<AssignmentView> = mine
        .iter()
        .map(|a| AssignmentView {
            id: a.id.to_string(),
            label: label(a, lang),
            active: active.as_ref().is_some_and(|x| x.id == a.id),
        })
        .collect();
    let c = Chrome {
        lang: lang.code(),
        other_lang: lang.other().code(),
        t: lang.t(),
        who: WhoView {
            name,
            hsa_id: who.hsa_id().to_string(),
            active: views.iter().find(|v| v.active).cloned(),
            assignments: views,
            reviewer: mine.iter().any(|a| a.purpose == Purpose::LogReview),
            searcher: mine.iter().any(|a| {
                matches!(
                    a.purpose,
                    Purpose::CareAndTreatment | Purpose::QualityAssurance
                ) && a.rights.contains(&callvault_auth::Right::Search)
            }),
            operator: mine.iter().any(|a| {
                a.purpose == Purpose::Administration
                    && a.rights.contains(&callvault_auth::Right::Operate)
            }),
            records_manager: mine.iter().any(|a| {
                a.purpose == Purpose::Administration
                    && a.rights.contains(&callvault_auth::Right::ManageRecords)
            }),
            administrator: mine.iter().any(|a| {
                a.purpose == Purpose::Administration
                    && a.rights.contains(&callvault_auth::Right::ManagePrivileges)
            }),
        },
        csrf: state.web.csrf(who),
    };
    (c, active, mine)
}

// ---------------------------------------------------------------------------------------
// Responses.

fn page(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("rendering a page failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    message: &'static str,
    detail: String,
}

/// An error as a page: status, a plain message in the reader's language, and a detail that
/// never holds patient data or internals.
fn error_page(c: Chrome, status: StatusCode, detail: String) -> Response {
    let message = match status {
        StatusCode::FORBIDDEN => c.t.forbidden,
        StatusCode::NOT_FOUND => c.t.not_found,
        StatusCode::BAD_REQUEST => c.t.bad_request,
        _ => c.t.failure,
    };
    let mut r = page(ErrorPage {
        status: status.as_u16(),
        message,
        detail,
        c,
    });
    *r.status_mut() = status;
    r
}

fn set_cookie(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=31536000"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A state-changing form must come from callvault's own pages: the token bound to this
/// client certificate, and no cross-site fetch.
fn check_form(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    headers: &HeaderMap,
    token: &str,
) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "same-origin" && v != "none");
    !cross_site && token == state.web.csrf(who)
}

// ---------------------------------------------------------------------------------------
// Pages.

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
}

async fn home(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, _, _) = chrome(&state, &who, &headers);
    page(HomePage { c })
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
}

async fn language(Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or(Lang::Sv);
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("cv_lang", lang.code()));
    r
}

#[derive(Deserialize)]
struct AssignmentForm {
    assignment: String,
    csrf: String,
}

async fn choose_assignment(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
    Form(f): Form<AssignmentForm>,
) -> Response {
    let (c, _, mine) = chrome(&state, &who, &headers);
    if !check_form(&state, &who, &headers, &f.csrf) {
        return error_page(c, StatusCode::FORBIDDEN, String::new());
    }
    if !mine.iter().any(|a| a.id.as_str() == f.assignment) {
        return error_page(c, StatusCode::BAD_REQUEST, "assignment".into());
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("cv_asg", &f.assignment));
    r
}

/// A search hit, as shown.
#[derive(Debug)]
pub struct HitView {
    id: String,
    started: String,
    care_unit: String,
    duration: String,
    linked: bool,
}

impl HitView {
    fn of(h: callvault_vault::access::SearchHit) -> Self {
        Self {
            id: h.id.to_string(),
            started: swedish_time(h.started_at),
            care_unit: h.care_unit.to_string(),
            duration: duration(h.duration_ms),
            linked: h.linked,
        }
    }
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: Chrome,
    units: Vec<String>,
    needs_case: bool,
    /// What is wrong with the patient id given, shown next to the field.
    patient_error: Option<&'static str>,
    patient: String,
    from: String,
    to: String,
    care_unit: String,
    case_number: String,
    call_id: String,
    case_query: String,
    hits: Option<Vec<HitView>>,
}

fn swedish_time(t: OffsetDateTime) -> String {
    callvault_vault::followup::rules::swedish_local(t)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap_or_default()
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

fn units_of(active: Option<&Assignment>) -> Vec<String> {
    active
        .map(|a| a.care_units.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn empty_search(c: Chrome, active: Option<&Assignment>) -> SearchPage {
    SearchPage {
        units: units_of(active),
        needs_case: active.is_some_and(|a| a.purpose == Purpose::QualityAssurance),
        patient_error: None,
        c,
        patient: String::new(),
        from: String::new(),
        to: String::new(),
        care_unit: String::new(),
        case_number: String::new(),
        call_id: String::new(),
        case_query: String::new(),
        hits: None,
    }
}

async fn search_form(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, active, _) = chrome(&state, &who, &headers);
    page(empty_search(c, active.as_ref()))
}

#[derive(Deserialize)]
struct SearchForm {
    csrf: String,
    #[serde(default)]
    patient: String,
    /// A call search (with `care_unit`) instead of a patient search.
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    care_unit: String,
    #[serde(default)]
    case_number: String,
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

/// Which of the texts' `patient_errors` says what is wrong with a patient id.
fn patient_error_index(e: &callvault_types::PatientIdError) -> usize {
    use callvault_types::PatientIdError as E;
    match e {
        E::BadShape => 0,
        E::BadDate => 1,
        E::FutureDate => 2,
        E::BadCheckDigit => 3,
        _ => 4,
    }
}

/// The page of a refusal the policy path has recorded already.
fn denied_page(c: Chrome, d: &Denial) -> Response {
    let mut r = error_page(c, StatusCode::FORBIDDEN, d.to_string());
    r.extensions_mut().insert(crate::refusals::RefusalRecorded);
    r
}

/// The page of a refused request on one recording: one of a care provider the caller has no
/// assignment at, and one that does not exist, look the same (no existence oracle).
fn recording_denied_page(c: Chrome, d: &Denial) -> Response {
    if *d == Denial::OtherCareProvider {
        let mut r = error_page(c, StatusCode::NOT_FOUND, String::new());
        r.extensions_mut().insert(crate::refusals::RefusalRecorded);
        r
    } else {
        denied_page(c, d)
    }
}

/// The resource of recording `id`; for one that does not exist, the recorded refusal page
/// that a recording of a foreign care provider would get.
async fn resource_or_refusal(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    c: Chrome,
    id: &RecordingId,
    active: &Assignment,
    emergency_reason: Option<&str>,
    case_number: Option<&str>,
) -> Result<(Chrome, Resource), Response> {
    match state.vault.recording_resource(id) {
        Ok(Some(r)) => Ok((c, r)),
        Ok(None) => {
            let denial = state.policy.current().refuse_unknown(
                who,
                &callvault_auth::UnknownResourceRequest {
                    purpose: active.purpose,
                    assignment: Some(&active.id),
                    emergency_reason,
                    case_number,
                },
                OffsetDateTime::now_utc(),
            );
            if let Err(p) = crate::app::record_unknown_recording(
                state,
                who,
                Action::ViewMetadata,
                id,
                active.purpose,
                &denial,
            )
            .await
            {
                return Err(p.into_response());
            }
            Err(recording_denied_page(c, &denial))
        }
        Err(e) => {
            tracing::error!("{e}");
            Err(error_page(
                c,
                StatusCode::INTERNAL_SERVER_ERROR,
                String::new(),
            ))
        }
    }
}

async fn search(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
    Form(f): Form<SearchForm>,
) -> Response {
    let (c, active, _) = chrome(&state, &who, &headers);
    if !check_form(&state, &who, &headers, &f.csrf) {
        return error_page(c, StatusCode::FORBIDDEN, String::new());
    }
    let Some(active) = active else {
        return error_page(c, StatusCode::FORBIDDEN, c_no_assignment(lang_of(&headers)));
    };
    if !f.call_id.trim().is_empty() {
        return search_call(&state, &who, c, active, f).await;
    }
    // A patient id that does not parse: the form again, with what is wrong next to the
    // field and every input kept (the person's own input, on their own page; never in a
    // log line or the refusal's audit event).
    let patient = match PatientId::parse_any(&f.patient) {
        Ok(p) => p,
        Err(e) => {
            let which = patient_error_index(&e);
            let mut p = empty_search(c, Some(&active));
            p.patient_error = Some(p.c.t.patient_errors[which]);
            p.patient = f.patient;
            p.from = f.from;
            p.to = f.to;
            p.care_unit = f.care_unit;
            p.case_number = f.case_number;
            let mut r = page(p);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.extensions_mut()
                .insert(crate::refusals::RefusalReason(format!("search: {e}")));
            return r;
        }
    };
    let (Ok(from), Ok(to)) = (date(&f.from, false), date(&f.to, true)) else {
        return error_page(c, StatusCode::BAD_REQUEST, "YYYY-MM-DD".into());
    };
    let care_unit = if f.care_unit.trim().is_empty() {
        None
    } else {
        match CareUnit::parse(f.care_unit.trim()) {
            Ok(u) => Some(u),
            Err(_) => {
                let d = c.t.care_unit.to_owned();
                return error_page(c, StatusCode::BAD_REQUEST, d);
            }
        }
    };
    let case = Some(f.case_number.trim().to_owned()).filter(|s| !s.is_empty());
    let req = AccessRequest {
        action: Action::Search,
        resource: Resource {
            care_provider: active.care_provider.clone(),
            care_unit: None,
        },
        purpose: active.purpose,
        assignment: Some(active.id.clone()),
        emergency_reason: None,
        case_number: case.clone(),
    };
    let authz = match decide(&state, &who, &req, None).await {
        Err(r) => return r,
        Ok(Err(d)) => return denied_page(c, &d),
        Ok(Ok(a)) => a,
    };
    let filter = SearchFilter {
        from,
        to,
        care_unit,
        nurse: None,
        after: None,
        limit: Some(200),
    };
    let receipt = match state
        .vault
        .record_access_async(authz, AccessTarget::PatientSearch { patient, filter })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("audit event failed: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let hits = match state.vault.search_patient(&receipt) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("search failed: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let case_query = case
        .as_deref()
        .map(|k| format!("?case_number={}", crate::client::percent_encode(k)))
        .unwrap_or_default();
    let mut p = empty_search(c, Some(&active));
    p.patient = f.patient;
    p.from = f.from;
    p.to = f.to;
    p.care_unit = f.care_unit;
    p.case_number = f.case_number;
    p.case_query = case_query;
    p.hits = Some(hits.into_iter().map(HitView::of).collect());
    page(p)
}

/// The search for one call by care unit and call id (how a call not yet linked to a patient
/// is found), audited like any search.
async fn search_call(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    c: Chrome,
    active: Assignment,
    f: SearchForm,
) -> Response {
    let (Ok(care_unit), Ok(call_id)) = (
        CareUnit::parse(f.care_unit.trim()),
        callvault_types::CallId::parse(f.call_id.trim()),
    ) else {
        let d = format!("{} / {}", c.t.care_unit, c.t.call_id);
        return error_page(c, StatusCode::BAD_REQUEST, d);
    };
    let req = AccessRequest {
        action: Action::Search,
        resource: Resource {
            care_provider: active.care_provider.clone(),
            care_unit: None,
        },
        purpose: active.purpose,
        assignment: Some(active.id.clone()),
        emergency_reason: None,
        case_number: None,
    };
    let authz = match decide(state, who, &req, None).await {
        Err(r) => return r,
        Ok(Err(d)) => return denied_page(c, &d),
        Ok(Ok(a)) => a,
    };
    let hits = match state
        .vault
        .record_access_async(authz, AccessTarget::CallSearch { care_unit, call_id })
        .await
        .and_then(|receipt| state.vault.search_call(&receipt))
    {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("call search failed: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let mut p = empty_search(c, Some(&active));
    p.care_unit = f.care_unit;
    p.call_id = f.call_id;
    p.hits = Some(hits.into_iter().map(HitView::of).collect());
    page(p)
}

fn c_no_assignment(lang: Lang) -> String {
    lang.t().no_assignment.to_owned()
}

/// A call's metadata, as shown.
#[derive(Debug)]
pub struct MetaView {
    call_id: String,
    patient: String,
    started: String,
    duration: String,
    care_unit: String,
    caller: String,
    nurse: String,
    retention: String,
    legal_hold: bool,
    /// Whether the call is linked to a patient.
    linked: bool,
    /// Links made after the call: who, when, whether a correction.
    links: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallPage {
    c: Chrome,
    m: MetaView,
    purpose: &'static str,
    purpose_slug: &'static str,
    purposes: Vec<(&'static str, &'static str)>,
    call: String,
    audio_src: String,
    emergency: bool,
    /// Whether to offer the link form: care and treatment, no emergency access, and the
    /// caller took the call or holds `link-patient` (the vault decides again).
    can_link: bool,
}

#[derive(Template)]
#[template(path = "emergency.html")]
struct EmergencyPage {
    c: Chrome,
    id: String,
    purpose: &'static str,
}

#[derive(Deserialize)]
struct CallQuery {
    #[serde(default)]
    case_number: Option<String>,
    /// The purpose picked on the call page (an assignment of the person's with it).
    #[serde(default)]
    purpose: Option<String>,
}

fn view_request(
    resource: Resource,
    active: &Assignment,
    reason: Option<String>,
    case: Option<String>,
) -> AccessRequest {
    AccessRequest {
        action: Action::ViewMetadata,
        resource,
        purpose: active.purpose,
        assignment: Some(active.id.clone()),
        emergency_reason: reason,
        case_number: case,
    }
}

/// Audits the view and renders the call page.
async fn show_call(
    state: &AppState,
    c: Chrome,
    authz: Authorized,
    id: RecordingId,
    audio_src: String,
    purposes: Vec<Purpose>,
) -> Response {
    let receipt = match state
        .vault
        .record_access_async(authz, AccessTarget::recording(id))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("audit event failed: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let m = match state.vault.read_metadata(&receipt) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("reading metadata failed: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let dash = || "–".to_owned();
    let authz = receipt.decision();
    let can_link = authz.purpose() == Purpose::CareAndTreatment
        && !authz.is_emergency()
        && (m.nurse.as_ref() == Some(authz.principal().hsa_id())
            || authz
                .assignment()
                .rights
                .contains(&callvault_auth::Right::LinkPatient));
    let linked = m.patient.is_some();
    page(CallPage {
        m: MetaView {
            call_id: m.call_id,
            linked,
            links: m
                .links
                .into_iter()
                .map(|l| {
                    (
                        l.linked_by
                            .strip_prefix("person:")
                            .unwrap_or(&l.linked_by)
                            .to_owned(),
                        swedish_time(l.linked_at),
                        l.correction,
                    )
                })
                .collect(),
            patient: m
                .patient
                .map(|p| p.expose_display())
                .unwrap_or_else(|| c.t.not_linked.to_owned()),
            started: swedish_time(m.started_at),
            duration: duration(m.duration_ms),
            care_unit: m.care_unit.to_string(),
            caller: m
                .caller
                .map(|p| p.expose_value().to_owned())
                .unwrap_or_else(dash),
            // The nurse by name where the register knows her, with her HSA-ID.
            nurse: m
                .nurse
                .map(|n| match state.vault.catalog().user(&n) {
                    Ok(Some(u)) => format!("{} ({n})", u.name),
                    _ => n.to_string(),
                })
                .unwrap_or_else(dash),
            retention: swedish_time(m.retention_until),
            legal_hold: m.legal_hold,
        },
        purpose: authz.purpose().as_str(),
        purpose_slug: authz.purpose().slug(),
        purposes: purposes.iter().map(|p| (p.slug(), p.as_str())).collect(),
        call: id.to_string(),
        emergency: authz.is_emergency(),
        can_link,
        audio_src,
        c,
    })
}

#[derive(Deserialize)]
struct LinkForm {
    csrf: String,
    patient_id: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Links the call to its patient (or corrects the link), as the person's care-and-treatment
/// assignment; then shows the call again.
async fn link_patient(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    if !check_form(&state, &who, &headers, &f.csrf) {
        return error_page(c, StatusCode::FORBIDDEN, String::new());
    }
    let Ok(id) = RecordingId::parse(&id) else {
        return error_page(c, StatusCode::NOT_FOUND, String::new());
    };
    // Links are made in care and treatment: the active assignment if it is one, else the
    // person's first.
    let care = active
        .filter(|a| a.purpose == Purpose::CareAndTreatment)
        .or_else(|| {
            mine.into_iter()
                .find(|a| a.purpose == Purpose::CareAndTreatment)
        });
    let Some(active) = care else {
        return error_page(c, StatusCode::FORBIDDEN, c_no_assignment(lang_of(&headers)));
    };
    let (c, resource) = match resource_or_refusal(&state, &who, c, &id, &active, None, None).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let mut req = view_request(resource, &active, None, None);
    req.action = Action::LinkPatient;
    let authz = match decide(&state, &who, &req, Some(&id)).await {
        Err(r) => return r,
        Ok(Err(d)) => return recording_denied_page(c, &d),
        Ok(Ok(a)) => a,
    };
    // A patient id that does not parse is named by kind, never echoed; the refusal
    // middleware records the attempt.
    let patient = match PatientId::parse_any(&f.patient_id) {
        Ok(p) => p,
        Err(e) => {
            let detail = c.t.patient_errors[patient_error_index(&e)].to_owned();
            let mut r = error_page(c, StatusCode::BAD_REQUEST, detail);
            r.extensions_mut()
                .insert(crate::refusals::RefusalReason(format!("link: {e}")));
            return r;
        }
    };
    let vault = std::sync::Arc::clone(&state.vault);
    let reason = f.reason;
    let done = tokio::task::spawn_blocking(move || {
        vault.link_patient(&authz, &id, &patient, reason.as_deref())
    })
    .await;
    use callvault_vault::VaultError as V;
    use callvault_vault::link::LinkRefusal as L;
    match done {
        Ok(Ok(_)) => Redirect::to(&format!(
            "/ui/calls/{id}?purpose={}",
            Purpose::CareAndTreatment.slug()
        ))
        .into_response(),
        // Recorded by the vault already.
        Ok(Err(V::Denied { denial, .. })) => denied_page(c, &denial),
        Ok(Err(V::Link(why))) => {
            let which = match why {
                L::AlreadyLinked => 0,
                L::ReasonRequired => 1,
                L::ReasonTooLong => 2,
            };
            let detail = c.t.link_errors[which].to_owned();
            let mut r = error_page(c, StatusCode::BAD_REQUEST, detail);
            r.extensions_mut()
                .insert(crate::refusals::RefusalReason(format!("link: {why}")));
            r
        }
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(crate::problem::Problem::from_vault(e).status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_page(c, status, String::new())
        }
        Err(e) => {
            tracing::error!("link task failed: {e}");
            error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }
}

async fn call(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(q): Query<CallQuery>,
    headers: HeaderMap,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    let Ok(id) = RecordingId::parse(&id) else {
        return error_page(c, StatusCode::NOT_FOUND, String::new());
    };
    // The purposes under which this person may open calls; the one picked (else the active
    // assignment's) chooses the assignment acted under.
    let purposes: Vec<Purpose> = {
        let mut p: Vec<Purpose> = mine
            .iter()
            .map(|a| a.purpose)
            .filter(|p| matches!(p, Purpose::CareAndTreatment | Purpose::QualityAssurance))
            .collect();
        p.dedup();
        p
    };
    let picked = q.purpose.as_deref().and_then(Purpose::parse);
    let active = match picked {
        Some(p) => mine.iter().find(|a| a.purpose == p).cloned(),
        None => active,
    };
    let Some(active) = active else {
        return error_page(c, StatusCode::FORBIDDEN, c_no_assignment(lang_of(&headers)));
    };
    let case = q.case_number.filter(|s| !s.trim().is_empty());
    let (c, resource) =
        match resource_or_refusal(&state, &who, c, &id, &active, None, case.as_deref()).await {
            Ok(r) => r,
            Err(refused) => return refused,
        };
    let req = view_request(resource, &active, None, case.clone());
    let authz = match decide(&state, &who, &req, Some(&id)).await {
        Err(r) => return r,
        // A call of another unit of the same care provider: the refusal is recorded, and
        // the page asks for emergency access (the request that carries the reason is
        // decided and audited again).
        Ok(Err(Denial::EmergencyAccessRequired)) => {
            return page(EmergencyPage {
                c,
                id: id.to_string(),
                purpose: active.purpose.slug(),
            });
        }
        Ok(Err(d)) => return recording_denied_page(c, &d),
        Ok(Ok(a)) => a,
    };
    let mut src = format!(
        "/ui/calls/{id}/audio?purpose={}&assignment={}",
        active.purpose.slug(),
        crate::client::percent_encode(active.id.as_str())
    );
    if let Some(k) = &case {
        src.push_str(&format!(
            "&case_number={}",
            crate::client::percent_encode(k)
        ));
    }
    show_call(&state, c, authz, id, src, purposes).await
}

#[derive(Deserialize)]
struct EmergencyForm {
    csrf: String,
    reason: String,
}

async fn emergency(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<EmergencyForm>,
) -> Response {
    let (c, active, _) = chrome(&state, &who, &headers);
    if !check_form(&state, &who, &headers, &f.csrf) {
        return error_page(c, StatusCode::FORBIDDEN, String::new());
    }
    let Ok(id) = RecordingId::parse(&id) else {
        return error_page(c, StatusCode::NOT_FOUND, String::new());
    };
    let Some(active) = active else {
        return error_page(c, StatusCode::FORBIDDEN, c_no_assignment(lang_of(&headers)));
    };
    let reason = f.reason.trim().to_owned();
    let (c, resource) =
        match resource_or_refusal(&state, &who, c, &id, &active, Some(&reason), None).await {
            Ok(r) => r,
            Err(refused) => return refused,
        };
    let req = view_request(resource, &active, Some(reason.clone()), None);
    let authz = match decide(&state, &who, &req, Some(&id)).await {
        Err(r) => return r,
        Ok(Err(d)) => return recording_denied_page(c, &d),
        Ok(Ok(a)) => a,
    };
    let token = state.web.grant(Grant {
        fingerprint: *who.fingerprint(),
        recording: id,
        purpose: active.purpose,
        assignment: Some(active.id.to_string()),
        reason,
        expires: Instant::now() + GRANT_TTL,
    });
    let src = format!("/ui/calls/{id}/audio?grant={token}");
    show_call(&state, c, authz, id, src, Vec::new()).await
}

#[derive(Deserialize)]
struct AudioQuery {
    purpose: Option<String>,
    assignment: Option<String>,
    case_number: Option<String>,
    grant: Option<String>,
}

/// The player's source: the same decision, audit event (with the byte range) and stream as
/// `GET /api/v1/recordings/{id}/audio`; for emergency access the reason comes from the
/// grant of the page that asked for it.
async fn audio(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = RecordingId::parse(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let params = match &q.grant {
        Some(token) => match state.web.take_grant(token, &who, &id) {
            Some(g) => PurposeParams {
                purpose: Some(g.purpose.slug().to_owned()),
                emergency_reason: Some(g.reason),
                case_number: None,
                assignment: g.assignment,
            },
            // Another certificate's grant, another recording's, or an expired one: refused,
            // and recorded by the refusal middleware with this reason.
            None => {
                let mut r = StatusCode::FORBIDDEN.into_response();
                r.extensions_mut().insert(crate::refusals::RefusalReason(
                    "emergency-access grant not valid for this certificate and recording, or expired"
                        .into(),
                ));
                return r;
            }
        },
        None => PurposeParams {
            purpose: q.purpose,
            emergency_reason: None,
            case_number: q.case_number,
            assignment: q.assignment,
        },
    };
    match crate::audio::stream_audio(state, who, id, params, &headers).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}
