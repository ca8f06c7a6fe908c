//! The records manager's pages: deletion orders with approve, reject, execute and the
//! deletion certificate; registering an IVO decision with its document; legal holds.
//! Each step is the vault call the API uses (four eyes included), with its audit event.

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use callvault_auth::{Action, AuthenticatedPrincipal, Authorized, Purpose, Right};
use callvault_types::RecordingId;
use callvault_vault::VaultError;
use callvault_vault::records_management::{
    DeletionOrderView, IvoDecision, LegalHoldView, MAX_DOCUMENT_BYTES, Scope,
};
use serde::Deserialize;

use super::{
    Chrome, PostedForm, check_form, chrome, decide_role, error_page, page, role_assignment,
};
use crate::AppState;

async fn records_manager(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    headers: &HeaderMap,
) -> Result<(Chrome, Authorized), Response> {
    let (c, active, mine) = chrome(state, who, headers);
    let role = c.t.records;
    let a = role_assignment(active, mine, |a| {
        a.purpose == Purpose::Administration && a.rights.contains(&Right::ManageRecords)
    });
    decide_role(state, who, c, a, Action::ManageRecords, role).await
}

fn refused(c: Chrome, e: VaultError) -> Response {
    match e {
        VaultError::FourEyes(m) => error_page(c, StatusCode::FORBIDDEN, m),
        VaultError::InvalidRequest(m) => error_page(c, StatusCode::BAD_REQUEST, m),
        VaultError::Refused(m) => error_page(c, StatusCode::CONFLICT, m),
        VaultError::NoSuchOrder(_) | VaultError::NoSuch(_) => {
            error_page(c, StatusCode::NOT_FOUND, String::new())
        }
        e => {
            tracing::error!("records page failed: {e}");
            error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }
}

fn recording_ids(text: &str) -> Result<Vec<RecordingId>, String> {
    let ids: Result<Vec<_>, _> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| RecordingId::parse(s).map_err(|_| format!("recording {s:?}")))
        .collect();
    ids.and_then(|v| {
        if v.is_empty() {
            Err("no recording".into())
        } else {
            Ok(v)
        }
    })
}

#[derive(Template)]
#[template(path = "records.html")]
struct RecordsPage {
    c: Chrome,
    care_provider: String,
    /// The care provider as people read it (the heading).
    care_provider_name: String,
    orders: Vec<DeletionOrderView>,
    holds: Vec<LegalHoldView>,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, authz) = match records_manager(&state, &who, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let orders = match state.vault.deletion_orders(&authz) {
        Ok(o) => o,
        Err(e) => return refused(c, e),
    };
    let holds = match state.vault.legal_holds(&authz) {
        Ok(h) => h,
        Err(e) => return refused(c, e),
    };
    page(RecordsPage {
        care_provider_name: c.care_provider(&authz.resource().care_provider),
        care_provider: authz.resource().care_provider.to_string(),
        c,
        orders,
        holds,
    })
}

#[derive(Deserialize)]
pub(super) struct StepForm {
    csrf: String,
}

pub(super) async fn order_step(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path((id, step)): Path<(String, String)>,
    posted: PostedForm<StepForm>,
) -> Response {
    let PostedForm { headers, .. } = posted;
    let (c, authz) = match records_manager(&state, &who, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v = std::sync::Arc::clone(&state.vault);
    let done = tokio::task::spawn_blocking(move || match step.as_str() {
        "approve" => v.decide_deletion(&authz, &id, true, None).map(|_| ()),
        "reject" => v
            .decide_deletion(&authz, &id, false, Some("Avslaget i webbgränssnittet"))
            .map(|_| ()),
        "execute" => v.execute_deletion(&authz, &id).map(|_| ()),
        _ => Err(VaultError::NoSuch(format!("step {step}"))),
    })
    .await;
    match done {
        Ok(Ok(())) => Redirect::to("/ui/records").into_response(),
        Ok(Err(e)) => refused(c, e),
        Err(e) => {
            tracing::error!("{e}");
            error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }
}

#[derive(Deserialize)]
pub(super) struct HoldForm {
    csrf: String,
    recordings: String,
    reason: String,
    case_reference: String,
}

pub(super) async fn set_hold(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<HoldForm>,
) -> Response {
    let PostedForm {
        headers, form: f, ..
    } = posted;
    let (c, authz) = match records_manager(&state, &who, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ids = match recording_ids(&f.recordings) {
        Ok(ids) => ids,
        Err(m) => return error_page(c, StatusCode::BAD_REQUEST, m),
    };
    match state.vault.set_legal_hold(
        &authz,
        &Scope::Recordings(ids),
        &f.reason,
        &f.case_reference,
    ) {
        Ok(_) => Redirect::to("/ui/records").into_response(),
        Err(e) => refused(c, e),
    }
}

#[derive(Deserialize)]
pub(super) struct ReleaseForm {
    csrf: String,
    reason: String,
}

pub(super) async fn release_hold(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    posted: PostedForm<ReleaseForm>,
) -> Response {
    let PostedForm {
        headers, form: f, ..
    } = posted;
    let (c, authz) = match records_manager(&state, &who, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.vault.release_legal_hold(&authz, &id, &f.reason) {
        Ok(_) => Redirect::to("/ui/records").into_response(),
        Err(e) => refused(c, e),
    }
}

/// `POST /ui/records/ivo` (multipart: the fields and the decision document).
pub(super) async fn register_ivo(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let (c, authz) = match records_manager(&state, &who, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (mut csrf, mut case, mut date, mut recordings, mut document) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        Vec::new(),
    );
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return error_page(c, StatusCode::BAD_REQUEST, e.body_text()),
        };
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else {
            return error_page(c, StatusCode::BAD_REQUEST, name);
        };
        if name == "document" {
            if bytes.len() > MAX_DOCUMENT_BYTES {
                return error_page(c, StatusCode::BAD_REQUEST, c_too_large());
            }
            document = bytes.to_vec();
            continue;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => csrf = text,
            "case_number" => case = text,
            "decision_date" => date = text,
            "recordings" => recordings = text,
            _ => {}
        }
    }
    if !check_form(&state, &who, &headers, &csrf) {
        return error_page(c, StatusCode::FORBIDDEN, String::new());
    }
    let Ok(decision_date) = time::Date::parse(
        date.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    ) else {
        let d = c.t.decision_date.to_owned();
        return error_page(c, StatusCode::BAD_REQUEST, d);
    };
    let ids = match recording_ids(&recordings) {
        Ok(ids) => ids,
        Err(m) => return error_page(c, StatusCode::BAD_REQUEST, m),
    };
    if document.is_empty() {
        let d = c.t.document.to_owned();
        return error_page(c, StatusCode::BAD_REQUEST, d);
    }
    let d = IvoDecision {
        case_number: case,
        decision_date,
        scope: Scope::Recordings(ids),
        document,
    };
    match state.vault.register_ivo_decision(&authz, &d) {
        Ok(_) => Redirect::to("/ui/records").into_response(),
        Err(e) => refused(c, e),
    }
}

fn c_too_large() -> String {
    format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes")
}

super::session::token_forms!(StepForm, HoldForm, ReleaseForm);
