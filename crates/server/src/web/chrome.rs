//! What every page has: who is asking and under which assignment (the chrome), the page
//! renderer with its security headers, the error and refusal pages, the home page and the
//! stylesheet, and the Swedish formats of times and durations.

use super::*;

/// One of the person's assignments, as shown.
#[derive(Debug, Clone)]
pub struct AssignmentView {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) active: bool,
}

/// The logged-in person.
#[derive(Debug)]
pub struct WhoView {
    pub(super) name: String,
    pub(super) hsa_id: String,
    pub(super) assignments: Vec<AssignmentView>,
    pub(super) active: Option<AssignmentView>,
    /// Holds an active log-review assignment (the log review pages are offered).
    pub(super) reviewer: bool,
    /// Holds an active privilege-administration assignment.
    pub(super) administrator: bool,
    /// Holds an active records-management assignment.
    pub(super) records_manager: bool,
    /// Holds an active operator assignment.
    pub(super) operator: bool,
    /// Holds an assignment that may search calls (care and treatment, or an investigation,
    /// with the search right): only then is "search calls" offered — a log reviewer or an
    /// administrator would only meet a refusal.
    pub(super) searcher: bool,
}

/// What every page shows around its content.
#[derive(Debug)]
pub struct Chrome {
    pub(super) lang: &'static str,
    pub(super) other_lang: &'static str,
    pub(super) t: &'static Texts,
    pub(super) who: WhoView,
    pub(super) csrf: String,
    /// Configured names of care providers and units.
    pub(super) names: std::sync::Arc<callvault_vault::config::Names>,
}

/// An HSA-ID with its configured name, as people read it: `Name (HSA-ID)`, or the HSA-ID
/// alone where no name is configured.
fn named(name: Option<&str>, id: &dyn std::fmt::Display) -> String {
    match name {
        Some(n) => format!("{n} ({id})"),
        None => id.to_string(),
    }
}

impl Chrome {
    /// A care unit as people read it.
    pub(super) fn unit(&self, u: &CareUnit) -> String {
        named(self.names.unit(u), u)
    }

    /// A care provider as people read it.
    pub(super) fn care_provider(&self, cp: &callvault_types::CareProvider) -> String {
        named(self.names.care_provider(cp), cp)
    }
}

pub(super) fn label(a: &Assignment, lang: Lang, names: &callvault_vault::config::Names) -> String {
    let units: Vec<String> = a
        .care_units
        .iter()
        .map(|u| named(names.unit(u), u))
        .collect();
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
        named(names.care_provider(&a.care_provider), &a.care_provider),
        scope
    )
}

/// The person's active assignments, and the one they act under (the `cv_asg` cookie if it
/// names one of theirs, else the first).
pub(super) fn assignments(
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

pub(super) fn chrome(
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
    let names = state.vault.config().names.clone();
    let views: Vec<AssignmentView> = mine
        .iter()
        .map(|a| AssignmentView {
            id: a.id.to_string(),
            label: label(a, lang, &names),
            active: active.as_ref().is_some_and(|x| x.id == a.id),
        })
        .collect();
    let c = Chrome {
        names,
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

pub(super) fn page(t: impl Template) -> Response {
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
pub(super) struct ErrorPage {
    pub(super) c: Chrome,
    pub(super) status: u16,
    pub(super) message: &'static str,
    pub(super) detail: String,
}

/// An error as a page: status, a plain message in the reader's language, and a detail that
/// never holds patient data or internals.
pub(super) fn error_page(c: Chrome, status: StatusCode, detail: String) -> Response {
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

#[derive(Template)]
#[template(path = "home.html")]
pub(super) struct HomePage {
    pub(super) c: Chrome,
}

pub(super) async fn home(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, _, _) = chrome(&state, &who, &headers);
    page(HomePage { c })
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// An RFC 3339 time from the API's views in the pages' one format (Swedish local time,
/// `YYYY-MM-DD HH:MM`); kept as it is if it does not parse.
pub(super) fn local_of(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(swedish_time)
        .unwrap_or_else(|_| rfc3339.to_owned())
}

pub(super) fn swedish_time(t: OffsetDateTime) -> String {
    callvault_reporting::clock::local_minutes(t)
}

pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The page of a refusal the policy path has recorded already.
pub(super) fn denied_page(c: Chrome, d: &Denial) -> Response {
    let text = super::i18n::denial_text(Lang::parse(c.lang).unwrap_or(Lang::Sv), d);
    let mut r = error_page(c, StatusCode::FORBIDDEN, text);
    r.extensions_mut().insert(crate::refusals::RefusalRecorded);
    r
}

/// The page of a refused request on one recording: one of a care provider the caller has no
/// assignment at, and one that does not exist, look the same (no existence oracle).
pub(super) fn recording_denied_page(c: Chrome, d: &Denial) -> Response {
    if *d == Denial::OtherCareProvider {
        let mut r = error_page(c, StatusCode::NOT_FOUND, String::new());
        r.extensions_mut().insert(crate::refusals::RefusalRecorded);
        r
    } else {
        denied_page(c, d)
    }
}

pub(super) fn c_no_assignment(lang: Lang) -> String {
    lang.t().no_assignment.to_owned()
}
