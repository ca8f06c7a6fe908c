//! The browser session: the language cookie, the chosen assignment, form tokens bound to
//! the client certificate (CSRF), and the short-lived emergency-access grants the audio
//! player presents.

use super::*;

/// State of the web UI: the secret that binds form tokens to client certificates, and the
/// emergency-access grants of open call pages.
#[derive(Debug)]
pub struct WebState {
    pub(super) secret: [u8; 32],
    pub(super) grants: Mutex<HashMap<String, Grant>>,
}

#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) fingerprint: [u8; 32],
    pub(super) recording: RecordingId,
    pub(super) purpose: Purpose,
    pub(super) assignment: Option<String>,
    pub(super) reason: String,
    pub(super) expires: Instant,
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

    pub(super) fn csrf(&self, who: &AuthenticatedPrincipal) -> String {
        let mut input = self.secret.to_vec();
        input.extend_from_slice(who.fingerprint());
        hex::encode(callvault_crypto::sha256(&input))
    }

    pub(super) fn grant(&self, g: Grant) -> String {
        let mut b = [0u8; 16];
        let _ = callvault_crypto::random_bytes(&mut b);
        let token = hex::encode(b);
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants.retain(|_, g| g.expires > Instant::now());
        grants.insert(token.clone(), g);
        token
    }

    pub(super) fn take_grant(
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

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, "cv_lang")
        .and_then(Lang::parse)
        .unwrap_or(Lang::Sv)
}

pub(super) fn set_cookie(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=31536000"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A state-changing form must come from callvault's own pages: the token bound to this
/// client certificate, and no cross-site fetch.
pub(super) fn check_form(
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

/// A form posted from one of callvault's pages, as a handler receives it: parsed, its token
/// checked against the client certificate and the fetch not cross-site ([`check_form`]),
/// with the page chrome and the person's assignments ready. A form that does not parse or
/// fails the check never reaches the handler: the answer is the error page (400 or 403),
/// before any decision is made.
pub(super) struct PostedForm<T> {
    /// The page chrome.
    pub(super) c: Chrome,
    /// The assignment the person acts under, if any.
    pub(super) active: Option<Assignment>,
    /// All of the person's assignments in force.
    pub(super) mine: Vec<Assignment>,
    /// The request's headers (language, …).
    pub(super) headers: HeaderMap,
    /// The form.
    pub(super) form: T,
}

/// A form that carries the page's token.
pub(super) trait TokenForm {
    /// The token.
    fn csrf(&self) -> &str;
}

/// Implements [`TokenForm`] for forms with a `csrf` field.
macro_rules! token_forms {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::web::session::TokenForm for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(super) use token_forms;

impl<T> axum::extract::FromRequest<AppState> for PostedForm<T>
where
    T: serde::de::DeserializeOwned + TokenForm + Send,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        // Set by the TLS layer for every connection; without it there is no page to show.
        let Some(who) = req.extensions().get::<AuthenticatedPrincipal>().cloned() else {
            return Err(StatusCode::FORBIDDEN.into_response());
        };
        let (c, active, mine) = chrome(state, &who, &headers);
        let form = match Form::<T>::from_request(req, state).await {
            Ok(Form(f)) => f,
            Err(_) => return Err(error_page(c, StatusCode::BAD_REQUEST, String::new())),
        };
        if !check_form(state, &who, &headers, form.csrf()) {
            return Err(error_page(c, StatusCode::FORBIDDEN, String::new()));
        }
        Ok(Self {
            c,
            active,
            mine,
            headers,
            form,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct LangQuery {
    pub(super) to: String,
}

pub(super) async fn language(Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or(Lang::Sv);
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("cv_lang", lang.code()));
    r
}

#[derive(Deserialize)]
pub(super) struct AssignmentForm {
    pub(super) assignment: String,
    pub(super) csrf: String,
}

pub(super) async fn choose_assignment(posted: PostedForm<AssignmentForm>) -> Response {
    let PostedForm {
        c, mine, form: f, ..
    } = posted;
    if !mine.iter().any(|a| a.id.as_str() == f.assignment) {
        return error_page(c, StatusCode::BAD_REQUEST, "assignment".into());
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("cv_asg", &f.assignment));
    r
}

super::session::token_forms!(AssignmentForm);
