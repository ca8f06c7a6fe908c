//! The nurse's pages: search by patient or by call, a call's page (metadata, player, link
//! to a patient), emergency access, and the player's audio — each through the policy and
//! the audit event, like the API.

use super::*;

/// A search hit, as shown.
#[derive(Debug)]
pub struct HitView {
    pub(super) id: String,
    pub(super) started: String,
    pub(super) care_unit: String,
    pub(super) duration: String,
    pub(super) linked: bool,
}

impl HitView {
    fn of(c: &Chrome, h: callvault_vault::access::SearchHit) -> Self {
        Self {
            id: h.id.to_string(),
            started: swedish_time(h.started_at),
            care_unit: c.unit(&h.care_unit),
            duration: duration(h.duration_ms),
            linked: h.linked,
        }
    }
}

#[derive(Template)]
#[template(path = "search.html")]
pub(super) struct SearchPage {
    pub(super) c: Chrome,
    /// The units the active assignment covers: (HSA-ID, as people read it).
    pub(super) units: Vec<(String, String)>,
    pub(super) needs_case: bool,
    /// What is wrong with the patient id given, shown next to the field.
    pub(super) patient_error: Option<&'static str>,
    pub(super) patient: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) care_unit: String,
    pub(super) case_number: String,
    pub(super) call_id: String,
    pub(super) case_query: String,
    pub(super) hits: Option<Vec<HitView>>,
}

pub(super) fn units_of(c: &Chrome, active: Option<&Assignment>) -> Vec<(String, String)> {
    active
        .map(|a| {
            a.care_units
                .iter()
                .map(|u| (u.to_string(), c.unit(u)))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn empty_search(c: Chrome, active: Option<&Assignment>) -> SearchPage {
    SearchPage {
        units: units_of(&c, active),
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

pub(super) async fn search_form(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, active, _) = chrome(&state, &who, &headers);
    page(empty_search(c, active.as_ref()))
}

#[derive(Deserialize)]
pub(super) struct SearchForm {
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) patient: String,
    /// A call search (with `care_unit`) instead of a patient search.
    #[serde(default)]
    pub(super) call_id: String,
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) to: String,
    #[serde(default)]
    pub(super) care_unit: String,
    #[serde(default)]
    pub(super) case_number: String,
}

/// Which of the texts' `patient_errors` says what is wrong with a patient id.
pub(super) fn patient_error_index(e: &callvault_types::PatientIdError) -> usize {
    use callvault_types::PatientIdError as E;
    match e {
        E::BadShape => 0,
        E::BadDate => 1,
        E::FutureDate => 2,
        E::BadCheckDigit => 3,
        _ => 4,
    }
}

/// The resource of recording `id`; for one that does not exist, the recorded refusal page
/// that a recording of a foreign care provider would get.
pub(super) async fn resource_or_refusal(
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

pub(super) async fn search(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    posted: PostedForm<SearchForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        headers,
        form: f,
        ..
    } = posted;
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
        .record_access_async(authz, PatientSearch { patient, filter })
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
    p.hits = Some(hits.into_iter().map(|h| HitView::of(&p.c, h)).collect());
    page(p)
}

/// The search for one call by care unit and call id (how a call not yet linked to a patient
/// is found), audited like any search.
pub(super) async fn search_call(
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
        .record_access_async(authz, CallSearch { care_unit, call_id })
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
    p.hits = Some(hits.into_iter().map(|h| HitView::of(&p.c, h)).collect());
    page(p)
}

/// A call's metadata, as shown.
#[derive(Debug)]
pub struct MetaView {
    pub(super) call_id: String,
    pub(super) patient: String,
    pub(super) started: String,
    pub(super) duration: String,
    pub(super) care_unit: String,
    pub(super) caller: String,
    pub(super) nurse: String,
    pub(super) retention: String,
    pub(super) legal_hold: bool,
    /// Whether the call is linked to a patient.
    pub(super) linked: bool,
    /// Links made after the call: who, when, whether a correction.
    pub(super) links: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "call.html")]
pub(super) struct CallPage {
    pub(super) c: Chrome,
    pub(super) m: MetaView,
    pub(super) purpose: &'static str,
    pub(super) purpose_slug: &'static str,
    pub(super) purposes: Vec<(&'static str, &'static str)>,
    pub(super) call: String,
    pub(super) audio_src: String,
    pub(super) emergency: bool,
    /// Whether to offer the link form: care and treatment, no emergency access, and the
    /// caller took the call or holds `link-patient` (the vault decides again).
    pub(super) can_link: bool,
}

#[derive(Template)]
#[template(path = "emergency.html")]
pub(super) struct EmergencyPage {
    pub(super) c: Chrome,
    pub(super) id: String,
    pub(super) purpose: &'static str,
}

#[derive(Deserialize)]
pub(super) struct CallQuery {
    #[serde(default)]
    pub(super) case_number: Option<String>,
    /// The purpose picked on the call page (an assignment of the person's with it).
    #[serde(default)]
    pub(super) purpose: Option<String>,
}

pub(super) fn view_request(
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
pub(super) async fn show_call(
    state: &AppState,
    c: Chrome,
    authz: Authorized,
    id: RecordingId,
    audio_src: String,
    purposes: Vec<Purpose>,
) -> Response {
    let receipt = match state
        .vault
        .record_access_async(authz, Metadata { id })
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
            care_unit: c.unit(&m.care_unit),
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
pub(super) struct LinkForm {
    pub(super) csrf: String,
    pub(super) patient_id: String,
    #[serde(default)]
    pub(super) reason: Option<String>,
}

/// Links the call to its patient (or corrects the link), as the person's care-and-treatment
/// assignment; then shows the call again.
pub(super) async fn link_patient(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    posted: PostedForm<LinkForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        mine,
        headers,
        form: f,
        ..
    } = posted;
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

pub(super) async fn call(
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
pub(super) struct EmergencyForm {
    pub(super) csrf: String,
    pub(super) reason: String,
}

pub(super) async fn emergency(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    posted: PostedForm<EmergencyForm>,
) -> Response {
    let PostedForm {
        c,
        active,
        headers,
        form: f,
        ..
    } = posted;
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
pub(super) struct AudioQuery {
    pub(super) purpose: Option<String>,
    pub(super) assignment: Option<String>,
    pub(super) case_number: Option<String>,
    pub(super) grant: Option<String>,
}

/// The player's source: the same decision, audit event (with the byte range) and stream as
/// `GET /api/v1/recordings/{id}/audio`; for emergency access the reason comes from the
/// grant of the page that asked for it.
pub(super) async fn audio(
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

super::session::token_forms!(SearchForm, LinkForm, EmergencyForm);
