//! The follow-up report of a run: JSON, CSV, and a printable HTML page in Swedish.

use callvault_catalog::{Finding, FollowUpRun};
use serde::Serialize;

use super::rules::rule;
use crate::ReportError;
use crate::clock::{local_seconds as local, rfc3339 as t};
use crate::tables::{csv_text, html};

/// A run as listed.
#[derive(Clone, Debug, Serialize)]
pub struct RunView {
    /// Id.
    pub id: String,
    /// Care provider.
    pub care_provider: String,
    /// Period start.
    pub from: String,
    /// Period end (exclusive).
    pub to: String,
    /// Rule settings used.
    pub settings: serde_json::Value,
    /// Spot-check seed (hex): with it and the log the draw can be repeated.
    pub seed: String,
    /// Audit log size when read.
    pub audit_size: u64,
    /// Events of the care provider in the period.
    pub events_checked: u64,
    /// Who ran it.
    pub run_by: String,
    /// When.
    pub run_at: String,
    /// Findings.
    pub findings: u64,
    /// Of which reviewed.
    pub reviewed: u64,
    /// Of which judged unjustified.
    pub unjustified: u64,
}

impl RunView {
    pub fn new(r: &FollowUpRun, findings: &[Finding]) -> Self {
        let reviewed = findings.iter().filter(|f| f.review.is_some()).count() as u64;
        let unjustified = findings
            .iter()
            .filter(|f| {
                f.review
                    .as_ref()
                    .is_some_and(|r| r.verdict == callvault_catalog::Verdict::Unjustified)
            })
            .count() as u64;
        Self {
            id: r.id.clone(),
            care_provider: r.care_provider.to_string(),
            from: t(r.from),
            to: t(r.to),
            settings: serde_json::from_str(&r.settings).unwrap_or(serde_json::Value::Null),
            seed: hex::encode(r.seed),
            audit_size: r.audit_size,
            events_checked: r.events_checked,
            run_by: r.run_by.clone(),
            run_at: t(r.run_at),
            findings: findings.len() as u64,
            reviewed,
            unjustified,
        }
    }
}

/// A finding as a reviewer sees it.
#[derive(Clone, Debug, Serialize)]
pub struct FindingView {
    /// Number within the run.
    pub n: u32,
    /// Rule code.
    pub rule: String,
    /// Rule name in Swedish.
    pub rule_name: &'static str,
    /// Audit leaf index of the event.
    pub leaf_index: u64,
    /// Event time (UTC, RFC 3339).
    pub time: String,
    /// Event time, Swedish local time.
    pub local_time: String,
    /// Actor.
    pub actor: String,
    /// Actor's name and title, when registered.
    pub actor_name: Option<String>,
    /// Title.
    pub actor_title: Option<String>,
    /// What the rule saw.
    pub summary: String,
    /// `justified` or `unjustified` once reviewed.
    pub verdict: Option<&'static str>,
    /// Reviewer's comment.
    pub comment: Option<String>,
    /// Reviewer.
    pub reviewed_by: Option<String>,
    /// When reviewed.
    pub reviewed_at: Option<String>,
}

impl FindingView {
    pub fn new(f: &Finding, name: Option<&(String, String)>, comment: Option<String>) -> Self {
        Self {
            n: f.n,
            rule: f.rule.clone(),
            rule_name: rule::swedish(&f.rule),
            leaf_index: f.leaf_index,
            time: t(f.time),
            local_time: local(f.time),
            actor: f.actor.clone(),
            actor_name: name.map(|n| n.0.clone()),
            actor_title: name.map(|n| n.1.clone()),
            summary: f.summary.clone(),
            verdict: f.review.as_ref().map(|r| r.verdict.as_str()),
            comment,
            reviewed_by: f.review.as_ref().map(|r| r.by.clone()),
            reviewed_at: f.review.as_ref().map(|r| t(r.at)),
        }
    }
}

/// A run with its findings.
#[derive(Clone, Debug, Serialize)]
pub struct FollowUpReport {
    /// The run.
    pub run: RunView,
    /// Its findings, in order.
    pub findings: Vec<FindingView>,
}

const CSV_COLUMNS: [&str; 14] = [
    "n",
    "rule",
    "rule_name",
    "leaf_index",
    "time_utc",
    "local_time",
    "actor",
    "actor_name",
    "actor_title",
    "summary",
    "verdict",
    "comment",
    "reviewed_by",
    "reviewed_at",
];

fn verdict_sv(v: Option<&str>) -> &'static str {
    match v {
        Some("justified") => "Befogad",
        Some("unjustified") => "Obefogad",
        _ => "Ej granskad",
    }
}

impl FollowUpReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// CSV, one row per finding.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        csv_text(
            &CSV_COLUMNS,
            self.findings.iter().map(|f| {
                let o = |s: &Option<String>| s.clone().unwrap_or_default();
                vec![
                    f.n.to_string(),
                    f.rule.clone(),
                    f.rule_name.to_owned(),
                    f.leaf_index.to_string(),
                    f.time.clone(),
                    f.local_time.clone(),
                    f.actor.clone(),
                    o(&f.actor_name),
                    o(&f.actor_title),
                    f.summary.clone(),
                    f.verdict.unwrap_or("").to_owned(),
                    o(&f.comment),
                    o(&f.reviewed_by),
                    o(&f.reviewed_at),
                ]
            }),
        )
    }

    /// A self-contained HTML page in Swedish, for reading and printing (no scripts, no
    /// external resources).
    pub fn to_html(&self) -> String {
        let r = &self.run;
        let mut counts = String::new();
        for code in rule::ALL {
            let n = self.findings.iter().filter(|f| f.rule == code).count();
            let reviewed = self
                .findings
                .iter()
                .filter(|f| f.rule == code && f.verdict.is_some())
                .count();
            counts.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{n}</td><td class=\"num\">{reviewed}</td></tr>\n",
                html(rule::swedish(code))
            ));
        }
        let mut rows = String::new();
        for f in &self.findings {
            let who = match (&f.actor_name, &f.actor_title) {
                (Some(n), Some(t)) => format!(
                    "{}<br><small>{}, {}</small>",
                    html(n),
                    html(t),
                    html(&f.actor)
                ),
                _ => html(&f.actor),
            };
            let class = match f.verdict {
                Some("unjustified") => " class=\"unjustified\"",
                None => " class=\"open\"",
                _ => "",
            };
            rows.push_str(&format!(
                "<tr{class}><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{who}</td><td>{}<br><small>logghändelse {}</small></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                f.n,
                html(f.rule_name),
                html(&f.local_time),
                html(&f.summary),
                f.leaf_index,
                verdict_sv(f.verdict),
                html(f.comment.as_deref().unwrap_or("")),
                html(&match (&f.reviewed_by, &f.reviewed_at) {
                    (Some(b), Some(a)) => format!("{b} {a}"),
                    _ => String::new(),
                }),
            ));
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<title>Logguppföljning {cp} {from} – {to}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 1.4em; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #888; padding: 0.3em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }}
th {{ background: #e8e8e8; }}
td.num {{ text-align: right; }}
tr.unjustified td {{ background: #fde2e2; }}
tr.open td:nth-child(6) {{ font-weight: bold; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
dt {{ font-weight: bold; }}
@media print {{ body {{ margin: 0; }} tr {{ page-break-inside: avoid; }} }}
</style>
</head>
<body>
<h1>Logguppföljning – rapport</h1>
<dl>
<dt>Vårdgivare</dt><dd>{cp}</dd>
<dt>Period</dt><dd>{from} – {to} (UTC)</dd>
<dt>Körning</dt><dd>{id}, {run_at} av {run_by}</dd>
<dt>Granskade händelser</dt><dd>{checked} (loggens storlek {size})</dd>
<dt>Fynd</dt><dd>{findings}, varav {reviewed} bedömda och {unjustified} obefogade</dd>
<dt>Stickprovets frö</dt><dd><code>{seed}</code></dd>
</dl>
<h2>Fynd per regel</h2>
<table>
<thead><tr><th scope="col">Regel</th><th scope="col">Fynd</th><th scope="col">Bedömda</th></tr></thead>
<tbody>
{counts}</tbody>
</table>
<h2>Fynd</h2>
<table>
<thead><tr><th scope="col">Nr</th><th scope="col">Regel</th><th scope="col">Tid (svensk tid)</th><th scope="col">Användare</th><th scope="col">Händelse</th><th scope="col">Bedömning</th><th scope="col">Kommentar</th><th scope="col">Bedömd av</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<p><small>Rapporten innehåller inga patientuppgifter. Varje fynd pekar på en händelse i den manipulationssäkra granskningsloggen (index), som kan kontrolleras mot en signerad kontrollpunkt.</small></p>
</body>
</html>
"#,
            cp = html(&r.care_provider),
            from = html(&r.from),
            to = html(&r.to),
            id = html(&r.id),
            run_at = html(&r.run_at),
            run_by = html(&r.run_by),
            checked = r.events_checked,
            size = r.audit_size,
            findings = r.findings,
            reviewed = r.reviewed,
            unjustified = r.unjustified,
            seed = html(&r.seed),
        )
    }
}
