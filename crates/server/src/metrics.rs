//! `GET /metrics`: Prometheus text exposition. Counts only — no identifiers, no patient
//! data: requests by route template and status, and the vault's totals.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use callvault_auth::{AuthenticatedPrincipal, Right};

use crate::AppState;
use crate::app::blocking;
use crate::problem::Problem;

/// Request counters by (route template, status).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    requests: Arc<Mutex<BTreeMap<(String, u16), u64>>>,
}

impl Metrics {
    fn count(&self, route: String, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route, status)).or_default() += 1;
        }
    }
}

/// Middleware counting every response by its route template (never the concrete path,
/// which may hold a patient id) and status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    state.metrics.count(route, resp.status().as_u16());
    resp
}

/// The exposition, for operators only: the caller must hold an assignment in force with the
/// `operate` right (Prometheus scrapes with the operator system's certificate). Counts are
/// no patient data, so a scrape is not an audit event; they still say how busy the service
/// is and how often requests are refused, which is no business of a nurse or a recorder.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
) -> Result<Response, Problem> {
    let now = time::OffsetDateTime::now_utc();
    let policy = state.policy.current();
    let operator = policy
        .assignments()
        .held_by(who.hsa_id())
        .any(|a| a.is_active(now) && a.rights.contains(&Right::Operate));
    if !operator {
        return Err(Problem::forbidden(
            "metrics are for operators: an assignment in force with the operate right is needed",
        ));
    }
    let counts = state
        .metrics
        .requests
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let vault = std::sync::Arc::clone(&state.vault);
    let (stats, scrub) = blocking(move || {
        Ok((
            vault.catalog().stats().map_err(|e| Problem::internal(&e))?,
            vault.scrub_state().unwrap_or_default(),
        ))
    })
    .await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP callvault_http_requests_total HTTP responses by route template and status."
    );
    let _ = writeln!(out, "# TYPE callvault_http_requests_total counter");
    for ((route, status), n) in counts {
        let _ = writeln!(
            out,
            "callvault_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
        );
    }
    for (name, help, v) in [
        (
            "callvault_recordings",
            "Recordings in the catalog.",
            stats.recordings,
        ),
        (
            "callvault_recordings_under_replicated",
            "Recordings with a copy missing or damaged.",
            stats.under_replicated,
        ),
        (
            "callvault_repair_tasks_open",
            "Open repair tasks.",
            stats.open_repair_tasks,
        ),
        (
            "callvault_audit_events",
            "Events in the audit log (the Merkle tree size).",
            stats.audit_events,
        ),
        (
            "callvault_audio_bytes",
            "Plaintext audio bytes stored.",
            stats.plaintext_bytes,
        ),
        (
            "callvault_scrub_recordings_checked",
            "Recordings checked by the current or last scrub pass.",
            scrub.recordings,
        ),
        (
            "callvault_scrub_bytes_read",
            "Bytes read by the current or last scrub pass.",
            scrub.bytes_read,
        ),
        (
            "callvault_scrub_bad_copies",
            "Missing or damaged copies found by the current or last scrub pass.",
            scrub.bad_copies,
        ),
        (
            "callvault_scrub_repaired",
            "Copies repaired after the last scrub pass.",
            scrub.repaired,
        ),
        (
            "callvault_scrub_running",
            "1 while a scrub pass is running or interrupted, 0 when the last one finished.",
            u64::from(scrub.finished_at.is_none() && !scrub.started_at.is_empty()),
        ),
        (
            "callvault_recordings_lost",
            "Recordings no site holds a good copy of (last scrub); restore from backup.",
            scrub.lost.len() as u64,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
