//! The privilege administrator's pages: pending requests with approve and reject (never
//! one's own request or one's own access: the vault refuses, and the page says so), a
//! request form, and the access review. Each step is the vault call the API uses, with its
//! audit event.

use std::collections::BTreeSet;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use callvault_auth::{Action, Assignment, AuthenticatedPrincipal, Authorized, Purpose, Right};
use callvault_catalog::AssignmentState;
use callvault_reporting::access_review::ReviewEntry;
use callvault_types::{CareUnit, HsaId};
use callvault_vault::VaultError;
use callvault_vault::governance::AssignmentRequest;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Chrome, PostedForm, chrome, date, decide_role, error_page, page, role_assignment};
use crate::AppState;

fn is_admin(a: &Assignment) -> bool {
    a.purpose == Purpose::Administration && a.rights.contains(&Right::ManagePrivileges)
}

async fn administrator(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    c: Chrome,
    active: Option<Assignment>,
    mine: Vec<Assignment>,
) -> Result<(Chrome, Authorized), Response> {
    let role = c.t.admin;
    let a = role_assignment(active, mine, is_admin);
    decide_role(state, who, c, a, Action::ManagePrivileges, role).await
}

fn refused(c: Chrome, e: VaultError) -> Response {
    match e {
        VaultError::FourEyes(m) => error_page(c, StatusCode::FORBIDDEN, m),
        VaultError::InvalidRequest(m) => error_page(c, StatusCode::BAD_REQUEST, m),
        VaultError::Refused(m) => error_page(c, StatusCode::CONFLICT, m),
        VaultError::NoSuchAssignment(_) => error_page(c, StatusCode::NOT_FOUND, String::new()),
        e => {
            tracing::error!("administration page failed: {e}");
            error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }
}

/// A request, as listed.
#[derive(Debug)]
pub struct RequestView {
    id: String,
    holder: String,
    purpose: String,
    rights: String,
    units: String,
    valid_until: String,
    requested_by: String,
    justification: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    c: Chrome,
    care_provider: String,
    pending: Vec<RequestView>,
    users: Vec<(String, String)>,
    review: Vec<ReviewEntry>,
    default_until: String,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    let (c, authz) = match administrator(&state, &who, c, active, mine).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let day = |t: OffsetDateTime| {
        t.format(time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default()
    };
    let pending = match state
        .vault
        .list_assignments(&authz, Some(AssignmentState::Requested))
    {
        Ok(rows) => rows
            .into_iter()
            .map(|r| {
                let a = r.assignment;
                RequestView {
                    id: a.id,
                    holder: a.holder.to_string(),
                    purpose: a.purpose,
                    rights: a.rights.join(", "),
                    units: a
                        .care_units
                        .iter()
                        .map(|u| c.unit(u))
                        .collect::<Vec<_>>()
                        .join(", "),
                    valid_until: day(a.valid_until),
                    requested_by: a.requested_by,
                    justification: a.justification,
                }
            })
            .collect(),
        Err(e) => return refused(c, e),
    };
    let users = match state.vault.list_users(&authz) {
        Ok(u) => u
            .into_iter()
            .map(|u| (u.hsa_id.to_string(), u.name))
            .collect(),
        Err(e) => return refused(c, e),
    };
    let review = match state.vault.access_review(&authz) {
        Ok(r) => r.assignments,
        Err(e) => return refused(c, e),
    };
    page(AdminPage {
        care_provider: c.care_provider(&authz.resource().care_provider),
        c,
        pending,
        users,
        review,
        default_until: day(OffsetDateTime::now_utc() + time::Duration::days(180)),
    })
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    csrf: String,
}

pub(super) async fn decide_request(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path((id, step)): Path<(String, String)>,
    posted: PostedForm<DecisionForm>,
) -> Response {
    let PostedForm {
        c, active, mine, ..
    } = posted;
    let approve = match step.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return error_page(c, StatusCode::NOT_FOUND, String::new()),
    };
    let (c, authz) = match administrator(&state, &who, c, active, mine).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let comment = (!approve).then_some("Avslaget i webbgränssnittet");
    match state.vault.decide_assignment(&authz, &id, approve, comment) {
        Ok(_) => {
            if approve && let Ok(p) = state.vault.policy() {
                state.policy.replace(p);
            }
            Redirect::to("/ui/admin").into_response()
        }
        Err(e) => refused(c, e),
    }
}

#[derive(Deserialize)]
pub(super) struct RequestForm {
    csrf: String,
    holder: String,
    purpose: String,
    rights: String,
    #[serde(default)]
    care_units: String,
    valid_until: String,
    justification: String,
}

pub(super) async fn request(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<RequestForm>,
) -> Response {
    let PostedForm {
        headers, form: f, ..
    } = posted;
    let (c, active, mine) = chrome(&state, &who, &headers);
    let t = c.t;
    let Ok(holder) = HsaId::parse(f.holder.trim()) else {
        return error_page(c, StatusCode::BAD_REQUEST, format!("{}: HSA-ID", t.holder));
    };
    let Some(purpose) = Purpose::parse(&f.purpose) else {
        return error_page(c, StatusCode::BAD_REQUEST, t.purpose.to_owned());
    };
    let mut rights = BTreeSet::new();
    for r in f.rights.split_whitespace() {
        match Right::parse(r.trim_matches(',')) {
            Some(r) => {
                rights.insert(r);
            }
            None => return error_page(c, StatusCode::BAD_REQUEST, format!("{}: {r}", t.rights)),
        }
    }
    let mut care_units = BTreeSet::new();
    for u in f.care_units.split_whitespace() {
        match CareUnit::parse(u.trim_matches(',')) {
            Ok(u) => {
                care_units.insert(u);
            }
            Err(_) => return error_page(c, StatusCode::BAD_REQUEST, format!("{}: {u}", t.units)),
        }
    }
    let Ok(Some(valid_until)) = date(&f.valid_until, true) else {
        return error_page(c, StatusCode::BAD_REQUEST, t.valid_until.to_owned());
    };
    let (c, authz) = match administrator(&state, &who, c, active, mine).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let req = AssignmentRequest {
        holder,
        care_provider: authz.resource().care_provider.clone(),
        care_units,
        purpose,
        rights,
        valid_from: OffsetDateTime::now_utc(),
        valid_until,
        justification: f.justification,
    };
    match state.vault.request_assignment(&authz, &req) {
        Ok(_) => Redirect::to("/ui/admin").into_response(),
        Err(e) => refused(c, e),
    }
}

#[derive(Deserialize)]
pub(super) struct UserForm {
    csrf: String,
    hsa_id: String,
    name: String,
    title: String,
}

/// Registers a user employed by the administrator's care provider.
pub(super) async fn register_user(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<UserForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        mine,
        form: f,
        ..
    } = posted;
    let (c, authz) = match administrator(&state, &who, c, active, mine).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let user = match callvault_auth::UserEntry::new(
        &f.hsa_id,
        &f.name,
        &f.title,
        authz.resource().care_provider.as_str(),
    ) {
        Ok(u) => u,
        Err(m) => return error_page(c, StatusCode::BAD_REQUEST, m),
    };
    match state.vault.register_user(&authz, &user) {
        Ok(_) => Redirect::to("/ui/admin").into_response(),
        Err(e) => refused(c, e),
    }
}

super::session::token_forms!(DecisionForm, RequestForm, UserForm);
