//! The log reviewer's pages: the audit log with filters, follow-up runs with the review
//! workflow, the patient log extract, and the checkpoint with its cosignatures. Each read
//! is the same audited vault call as the API's; the reports and the extract are the same
//! documents.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use callvault_audit::event::Outcome;
use callvault_auth::{Action, Assignment, AuthenticatedPrincipal, Authorized, Purpose};
use callvault_catalog::Verdict;
use callvault_reporting::extract::ExtractFormat;
use callvault_reporting::followup::{FollowUpReport, RunView};
use callvault_types::PatientId;
use callvault_vault::access::target::AuditLog;
use callvault_vault::followup::FollowUpRequest;
use serde::Deserialize;

use super::{
    Chrome, PostedForm, chrome, date, decide_role, error_page, page, role_assignment, swedish_time,
};
use crate::AppState;

/// The log reviewer's decision for `action`, under the active log-review assignment (or
/// the first the person holds).
async fn reviewer(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    c: Chrome,
    active: Option<Assignment>,
    mine: Vec<Assignment>,
    action: Action,
) -> Result<(Chrome, Authorized), Response> {
    let role = c.t.review;
    let a = role_assignment(active, mine, |a| a.purpose == Purpose::LogReview);
    decide_role(state, who, c, a, action, role).await
}

fn failed(c: Chrome, e: &dyn std::fmt::Display) -> Response {
    tracing::error!("log review page failed: {e}");
    error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new())
}

/// One audit event, as the reviewer sees it (no sealed values).
#[derive(Debug)]
pub struct EventRow {
    index: u64,
    time: String,
    /// The actor's name where the register knows it, with the HSA-ID.
    actor: String,
    /// The action in words, and its stable code.
    action: &'static str,
    code: &'static str,
    outcome: String,
    recording: String,
    emergency: bool,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    c: Chrome,
    care_provider: String,
    checkpoint: Option<(u64, String, usize)>,
    events: Vec<EventRow>,
    action: String,
    actor: String,
    runs: Vec<RunView>,
    from: String,
    to: String,
}

#[derive(Deserialize, Default)]
pub(super) struct EventFilter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Query(f): Query<EventFilter>,
    headers: HeaderMap,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    let (c, authz) = match reviewer(&state, &who, c, active, mine, Action::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let receipt = match state
        .vault
        .record_access_async(authz, AuditLog { limit: 200 })
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(c, &e),
    };
    let events = match state.vault.read_audit_events(&receipt) {
        Ok(e) => e,
        Err(e) => return failed(c, &e),
    };
    let lang = super::lang_of(&headers);
    let names: std::collections::HashMap<callvault_types::HsaId, String> = state
        .vault
        .catalog()
        .users(None)
        .unwrap_or_default()
        .into_iter()
        .map(|u| (u.hsa_id, u.name))
        .collect();
    let actor_of = |a: &callvault_audit::event::Actor| {
        use callvault_audit::event::Actor as A;
        match a {
            A::Person(h) | A::System(h) => match names.get(h) {
                Some(n) => format!("{n} ({h})"),
                None => h.to_string(),
            },
            A::Operator(o) => format!("{} {o}", c.t.operator),
            A::Vault => "callvault".to_owned(),
        }
    };
    let wanted = |text: &str, filter: &str| {
        filter.trim().is_empty() || text.to_lowercase().contains(&filter.trim().to_lowercase())
    };
    let rows: Vec<EventRow> = events
        .into_iter()
        .rev()
        .map(|(i, e)| (i, actor_of(&e.actor), e))
        .filter(|(_, _, e)| {
            wanted(e.action.code(), &f.action)
                || wanted(super::i18n::action_text(lang, e.action), &f.action)
        })
        .filter(|(_, actor, e)| wanted(actor, &f.actor) || wanted(&e.actor.to_string(), &f.actor))
        .map(|(i, actor, e)| EventRow {
            index: i,
            time: swedish_time(e.time),
            actor,
            action: super::i18n::action_text(lang, e.action),
            code: e.action.code(),
            outcome: match &e.outcome {
                Outcome::Granted => c.t.outcomes[0].to_owned(),
                Outcome::Denied(r) => format!(
                    "{}: {}",
                    c.t.outcomes[1],
                    super::i18n::recorded_reason(
                        lang,
                        r,
                        e.details
                            .iter()
                            .find(|(k, _)| k == "status")
                            .map(|(_, v)| v.as_str())
                    )
                ),
                Outcome::Failed(r) => format!("{}: {r}", c.t.outcomes[2]),
            },
            recording: e.recording.map(|r| r.id.to_string()).unwrap_or_default(),
            emergency: e
                .details
                .iter()
                .any(|(k, v)| k == "emergency_access" && v == "true"),
        })
        .collect();
    let mut runs = state
        .vault
        .follow_up_runs(receipt.decision())
        .unwrap_or_default();
    // The pages' one time format.
    for r in &mut runs {
        r.from = super::local_of(&r.from);
        r.to = super::local_of(&r.to);
    }
    let checkpoint = state
        .vault
        .catalog()
        .latest_checkpoint()
        .ok()
        .flatten()
        .map(|cp| {
            let n = state
                .vault
                .catalog()
                .cosignatures(cp.size)
                .map(|c| c.len())
                .unwrap_or(0);
            (cp.size, swedish_time(cp.created_at), n)
        });
    let now = time::OffsetDateTime::now_utc();
    let day = |t: time::OffsetDateTime| {
        t.format(time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default()
    };
    page(ReviewPage {
        care_provider: c.care_provider(&receipt.decision().resource().care_provider),
        c,
        checkpoint,
        events: rows,
        action: f.action,
        actor: f.actor,
        runs,
        from: day(now - time::Duration::days(30)),
        to: day(now),
    })
}

#[derive(Deserialize)]
pub(super) struct RunForm {
    csrf: String,
    from: String,
    to: String,
}

pub(super) async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<RunForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        mine,
        form: f,
        ..
    } = posted;
    let (Ok(Some(from)), Ok(Some(to))) = (date(&f.from, false), date(&f.to, true)) else {
        return error_page(c, StatusCode::BAD_REQUEST, "YYYY-MM-DD".into());
    };
    let (c, authz) = match reviewer(&state, &who, c, active, mine, Action::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let req = FollowUpRequest {
        from,
        to,
        settings: None,
        seed: None,
    };
    let v = std::sync::Arc::clone(&state.vault);
    match tokio::task::spawn_blocking(move || v.run_follow_up(&authz, req)).await {
        Ok(Ok(r)) => Redirect::to(&format!("/ui/review/follow-up/{}", r.run.id)).into_response(),
        Ok(Err(callvault_vault::VaultError::InvalidRequest(m))) => {
            error_page(c, StatusCode::BAD_REQUEST, m)
        }
        Ok(Err(e)) => failed(c, &e),
        Err(e) => failed(c, &e),
    }
}

#[derive(Template)]
#[template(path = "followup.html")]
struct FollowUpPage {
    c: Chrome,
    r: FollowUpReport,
    care_provider: String,
}

pub(super) async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    let (c, authz) = match reviewer(&state, &who, c, active, mine, Action::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.vault.follow_up(&authz, &id, "page") {
        Ok(mut r) => {
            r.run.from = super::local_of(&r.run.from);
            r.run.to = super::local_of(&r.run.to);
            page(FollowUpPage {
                care_provider: authz.resource().care_provider.to_string(),
                c,
                r,
            })
        }
        Err(callvault_vault::VaultError::NoSuch(_)) => {
            error_page(c, StatusCode::NOT_FOUND, String::new())
        }
        Err(e) => failed(c, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct JudgeForm {
    csrf: String,
    verdict: String,
    comment: String,
}

pub(super) async fn judge(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path((id, n)): Path<(String, u32)>,
    posted: PostedForm<JudgeForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        mine,
        form: f,
        ..
    } = posted;
    let Some(verdict) = Verdict::parse(&f.verdict) else {
        return error_page(c, StatusCode::BAD_REQUEST, c_verdict(&f.verdict));
    };
    let (c, authz) = match reviewer(&state, &who, c, active, mine, Action::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .vault
        .review_finding(&authz, &id, n, verdict, &f.comment)
    {
        Ok(_) => Redirect::to(&format!("/ui/review/follow-up/{id}#finding-{n}")).into_response(),
        Err(callvault_vault::VaultError::FourEyes(m)) => error_page(c, StatusCode::FORBIDDEN, m),
        Err(callvault_vault::VaultError::InvalidRequest(m)) => {
            error_page(c, StatusCode::BAD_REQUEST, m)
        }
        Err(callvault_vault::VaultError::NoSuch(_)) => {
            error_page(c, StatusCode::NOT_FOUND, String::new())
        }
        Err(e) => failed(c, &e),
    }
}

fn c_verdict(v: &str) -> String {
    format!("verdict {v:?}")
}

#[derive(Template)]
#[template(path = "extract.html")]
struct ExtractPage {
    c: Chrome,
}

pub(super) async fn extract_form(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, _, _) = chrome(&state, &who, &headers);
    page(ExtractPage { c })
}

#[derive(Deserialize)]
pub(super) struct ExtractForm {
    csrf: String,
    patient: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    format: String,
}

/// The extract itself, as a download (the patient came in the form body, never a URL).
pub(super) async fn extract(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<ExtractForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        mine,
        form: f,
        ..
    } = posted;
    let Ok(patient) = PatientId::parse_any(&f.patient) else {
        let d = c.t.patient_hint.to_owned();
        return error_page(c, StatusCode::BAD_REQUEST, d);
    };
    let (Ok(from), Ok(to)) = (date(&f.from, false), date(&f.to, true)) else {
        return error_page(c, StatusCode::BAD_REQUEST, "YYYY-MM-DD".into());
    };
    let Some(format) = ExtractFormat::parse(&f.format) else {
        return error_page(c, StatusCode::BAD_REQUEST, "pdf, csv, json".into());
    };
    let (c, authz) = match reviewer(&state, &who, c, active, mine, Action::ReadAccessLog).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let x = match state.vault.log_extract(&authz, &patient, from, to, format) {
        Ok(x) => x,
        Err(callvault_vault::VaultError::InvalidRequest(m)) => {
            return error_page(c, StatusCode::BAD_REQUEST, m);
        }
        Err(e) => return failed(c, &e),
    };
    let (ctype, ext, bytes) = match format {
        ExtractFormat::Pdf => ("application/pdf", "pdf", x.to_pdf()),
        ExtractFormat::Csv => match x.to_csv() {
            Ok(t) => ("text/csv; charset=utf-8", "csv", t.into_bytes()),
            Err(e) => return failed(c, &e),
        },
        ExtractFormat::Json => ("application/json", "json", x.to_json().into_bytes()),
    };
    let name = format!(
        "attachment; filename=\"loggutdrag-{}-{}.{ext}\"",
        x.care_provider,
        x.generated_at.get(..10).unwrap_or("")
    );
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

super::session::token_forms!(RunForm, JudgeForm, ExtractForm);
