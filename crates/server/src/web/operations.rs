//! The operator's page: status of the sites, under-replicated recordings and repair, scrub
//! progress, key versions, the checkpoint and its cosignatures, and ingest and access
//! volumes per day as a chart drawn here as SVG (with the same numbers as a table, for
//! screen readers). Counts only.

use std::fmt::Write as _;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use callvault_auth::{Action, AuthenticatedPrincipal, Purpose, Right};
use callvault_vault::operations::DayVolume;

use super::{Chrome, chrome, decide_role, error_page, page, role_assignment, swedish_time};
use crate::AppState;

/// The volumes as an SVG bar chart: per day three bars (in, accesses, refused), scaled to
/// the largest count, a label every seventh day.
pub fn chart(v: &[DayVolume]) -> String {
    let (w, h, pad) = (900.0f64, 260.0f64, 36.0f64);
    let max = v
        .iter()
        .map(|d| d.ingested.max(d.accessed).max(d.denied))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = (w - 2.0 * pad) / v.len().max(1) as f64;
    let bar = (slot / 3.5).max(1.0);
    let mut s = format!(
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-hidden="true"><line x1="{pad}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#767676"/><text x="2" y="{pad}" font-size="11" fill="#1b1b1b">{max}</text>"##,
        y0 = h - pad,
        x1 = w - pad,
        max = max as u64
    );
    for (i, d) in v.iter().enumerate() {
        let x = pad + i as f64 * slot;
        for (k, (n, color)) in [
            (d.ingested, "#0b5394"),
            (d.accessed, "#e69138"),
            (d.denied, "#a40000"),
        ]
        .into_iter()
        .enumerate()
        {
            let bh = (h - 2.0 * pad) * n as f64 / max;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                x + k as f64 * bar,
                h - pad - bh,
                bar,
                bh
            );
        }
        if i % 7 == 0 {
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" font-size="11" fill="#1b1b1b">{}</text>"##,
                h - pad + 16.0,
                d.day.get(5..).unwrap_or("")
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    c: Chrome,
    recordings: u64,
    under_replicated: u64,
    repair_tasks: usize,
    scrub: String,
    checkpoint: String,
    cosignatures: String,
    sites: Vec<(String, usize)>,
    keys: Vec<String>,
    chart: String,
    volumes: Vec<DayVolume>,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    headers: HeaderMap,
) -> Response {
    let (c, active, mine) = chrome(&state, &who, &headers);
    let role = c.t.operations;
    let a = role_assignment(active, mine, |a| {
        a.purpose == Purpose::Administration && a.rights.contains(&Right::Operate)
    });
    let (c, authz) = match decide_role(&state, &who, c, a, Action::Operate, role).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v = std::sync::Arc::clone(&state.vault);
    let ops = match tokio::task::spawn_blocking(move || v.operations(&authz, 30)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::error!("operations page: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
        Err(e) => {
            tracing::error!("operations page: {e}");
            return error_page(c, StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    let st = &ops.status;
    let scrub = match &st.scrub {
        Some(s) => format!(
            "{} ({}: {})",
            s.finished_at.as_deref().unwrap_or(c.t.scrub_running),
            c.t.lost,
            s.lost.len()
        ),
        None => c.t.none.to_owned(),
    };
    let checkpoint = st
        .latest_checkpoint
        .as_ref()
        .map(|cp| format!("{} ({})", cp.size, swedish_time(cp.created_at)))
        .unwrap_or_else(|| c.t.none.to_owned());
    let cosignatures = if ops.cosignatures.is_empty() {
        c.t.none.to_owned()
    } else {
        ops.cosignatures.join(", ")
    };
    let keys = st
        .keks
        .iter()
        .map(|k| {
            format!(
                "{} v{}{}",
                k.care_provider,
                k.version.0,
                if k.current {
                    format!(" ({})", c.t.current)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    page(OperationsPage {
        recordings: st.stats.recordings,
        under_replicated: st.stats.under_replicated,
        repair_tasks: st.repair_tasks.len(),
        scrub,
        checkpoint,
        cosignatures,
        sites: st.sites.iter().map(|(n, _, k)| (n.clone(), *k)).collect(),
        keys,
        chart: chart(&ops.volumes),
        volumes: ops.volumes,
        c,
    })
}
