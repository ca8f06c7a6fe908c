//! The person-facing commands `callvault admin` and `callvault records`: clients of a running
//! server, acting as the person whose client certificate they present.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::args::{AdminCommand, ApiConn, RecordsCommand, ReviewCommand, ScopeArgs};

use callvault_server::client::percent_encode as q;
use callvault_server::wire;

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", q(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub(crate) fn admin(conn: ApiConn, cmd: AdminCommand) -> Result<ExitCode> {
    let client =
        callvault_server::client::ApiClient::new(&conn.server, &conn.ca, &conn.cert, &conn.key)?;
    const G: &str = "/api/v1/governance";
    let (method, path, body) = match cmd {
        AdminCommand::RegisterUser {
            hsa_id,
            name,
            title,
            care_provider,
        } => (
            "POST",
            format!("{G}/users"),
            body(wire::UserBody {
                hsa_id,
                name,
                title,
                care_provider,
                personal_id: None,
            })?,
        ),
        AdminCommand::Request {
            holder,
            care_provider,
            units,
            purpose,
            rights,
            valid_from,
            valid_until,
            justification,
        } => {
            let from = match valid_from {
                Some(f) => f,
                None => time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)?,
            };
            (
                "POST",
                format!("{G}/assignments"),
                body(wire::RequestBody {
                    holder,
                    care_provider,
                    care_units: units,
                    purpose,
                    rights,
                    valid_from: from,
                    valid_until,
                    justification,
                })?,
            )
        }
        AdminCommand::Approve { id, comment } => (
            "POST",
            format!("{G}/assignments/{}/approve", q(&id)),
            body(wire::CommentBody {
                comment,
                reason: None,
            })?,
        ),
        AdminCommand::Reject { id, comment } => (
            "POST",
            format!("{G}/assignments/{}/reject", q(&id)),
            body(wire::CommentBody {
                comment: Some(comment),
                reason: None,
            })?,
        ),
        AdminCommand::Revoke { id, reason } => (
            "POST",
            format!("{G}/assignments/{}/revoke", q(&id)),
            body(wire::CommentBody {
                comment: None,
                reason: Some(reason),
            })?,
        ),
        AdminCommand::Users { care_provider } => (
            "GET",
            format!(
                "{G}/users{}",
                query(&[("care_provider", care_provider.as_deref())])
            ),
            None,
        ),
        AdminCommand::Assignments {
            care_provider,
            state,
        } => (
            "GET",
            format!(
                "{G}/assignments{}",
                query(&[
                    ("care_provider", care_provider.as_deref()),
                    ("state", state.as_deref())
                ])
            ),
            None,
        ),
        AdminCommand::Review {
            care_provider,
            format,
        } => (
            "GET",
            format!(
                "{G}/access-review{}",
                query(&[
                    ("care_provider", care_provider.as_deref()),
                    ("format", Some(&format))
                ])
            ),
            None,
        ),
    };
    let body = body.map(|b| b.to_string());
    let r = client.call(method, &path, body.as_deref())?;
    let text = String::from_utf8_lossy(&r.body);
    if !(200..300).contains(&r.status) {
        let detail = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.trim().to_owned());
        bail!("HTTP {}: {detail}", r.status);
    }
    if r.content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(&r.body)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends one request and prints the answer; non-2xx is an error with the problem's detail.
fn call_and_print(
    client: &callvault_server::client::ApiClient,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<Vec<u8>> {
    let body = body.map(|b| b.to_string());
    let r = client.call(method, path, body.as_deref())?;
    if !(200..300).contains(&r.status) {
        let detail = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&r.body).trim().to_owned());
        bail!("HTTP {}: {detail}", r.status);
    }
    Ok(r.body)
}

/// The patient id in a file (never on the command line, where it would reach the shell
/// history and the process list).
fn read_patient(f: &Path) -> Result<String> {
    let p = std::fs::read_to_string(f)
        .with_context(|| format!("reading the patient id from {}", f.display()))?;
    Ok(p.trim().to_owned())
}

/// A scope's recordings, or its patient (read from the file) and period.
struct Scope {
    recordings: Vec<String>,
    patient: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn scope_of(s: ScopeArgs) -> Result<Scope> {
    let patient = match s.patient_file {
        Some(f) => Some(read_patient(&f)?),
        None if s.from.is_some() || s.to.is_some() => {
            bail!("--from and --to apply with --patient-file only")
        }
        None => None,
    };
    Ok(Scope {
        recordings: s.recordings,
        patient,
        from: s.from,
        to: s.to,
    })
}

/// A request body as the client sends it.
fn body(b: impl serde::Serialize) -> Result<Option<serde_json::Value>> {
    Ok(Some(serde_json::to_value(b)?))
}

pub(crate) fn records(conn: ApiConn, cmd: RecordsCommand) -> Result<ExitCode> {
    let client =
        callvault_server::client::ApiClient::new(&conn.server, &conn.ca, &conn.cert, &conn.key)?;
    const R: &str = "/api/v1/records";
    let print = |body: Vec<u8>| -> Result<()> {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        Ok(())
    };
    let cpq = |cp: Option<String>| query(&[("care_provider", cp.as_deref())]);
    // Calls the route and writes the answer's body to `out`; returns its length.
    let save = |method: &str, path: &str, out: &Path| -> Result<usize> {
        let body = call_and_print(&client, method, path, None)?;
        std::fs::write(out, &body).with_context(|| format!("writing {}", out.display()))?;
        Ok(body.len())
    };
    match cmd {
        RecordsCommand::AuditPrune {
            care_provider,
            before,
        } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/audit-prunes"),
            body(wire::PruneBody {
                before,
                care_provider,
            })?,
        )?)?,
        RecordsCommand::AuditPruneApprove { id, care_provider } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/audit-prunes/{}/approve{}", q(&id), cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::AuditPruneExecute { id, care_provider } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/audit-prunes/{}/execute{}", q(&id), cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::AuditPrunes { care_provider } => print(call_and_print(
            &client,
            "GET",
            &format!("{R}/audit-prunes{}", cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::Protect {
            care_provider,
            patient_file,
            reference,
            lift,
        } => {
            let p = read_patient(&patient_file)?;
            print(call_and_print(
                &client,
                "POST",
                &format!("{R}/protected-patients"),
                body(wire::ProtectBody {
                    care_provider,
                    patient: p,
                    protected: !lift,
                    reference,
                })?,
            )?)?;
        }
        RecordsCommand::Hold {
            care_provider,
            scope,
            reason,
            case_reference,
        } => {
            let s = scope_of(scope)?;
            print(call_and_print(
                &client,
                "POST",
                &format!("{R}/holds"),
                body(wire::HoldBody {
                    care_provider,
                    recordings: s.recordings,
                    patient: s.patient,
                    from: s.from,
                    to: s.to,
                    reason,
                    case_reference,
                })?,
            )?)?;
        }
        RecordsCommand::Release { id, reason } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/holds/{}/release", q(&id)),
            body(wire::TextBody {
                reason: Some(reason),
                comment: None,
            })?,
        )?)?,
        RecordsCommand::Holds { care_provider } => print(call_and_print(
            &client,
            "GET",
            &format!("{R}/holds{}", cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::Retention { care_provider } => print(call_and_print(
            &client,
            "GET",
            &format!("{R}/retention{}", cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::RegisterIvo {
            care_provider,
            case_number,
            decision_date,
            document,
            scope,
        } => {
            use base64::Engine as _;
            let doc = std::fs::read(&document)
                .with_context(|| format!("reading {}", document.display()))?;
            let s = scope_of(scope)?;
            print(call_and_print(
                &client,
                "POST",
                &format!("{R}/deletions"),
                body(wire::OrderBody {
                    kind: "ivo".into(),
                    care_provider,
                    case_number: Some(case_number),
                    decision_date: Some(decision_date),
                    document_base64: Some(base64::engine::general_purpose::STANDARD.encode(doc)),
                    reference: None,
                    recordings: s.recordings,
                    patient: s.patient,
                    from: s.from,
                    to: s.to,
                })?,
            )?)?;
        }
        RecordsCommand::RegisterPurge {
            care_provider,
            reference,
        } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/deletions"),
            body(wire::OrderBody {
                kind: "retention".into(),
                care_provider,
                case_number: None,
                decision_date: None,
                document_base64: None,
                reference: Some(reference),
                recordings: Vec::new(),
                patient: None,
                from: None,
                to: None,
            })?,
        )?)?,
        RecordsCommand::Orders { care_provider } => print(call_and_print(
            &client,
            "GET",
            &format!("{R}/deletions{}", cpq(care_provider)),
            None,
        )?)?,
        RecordsCommand::Approve { id, comment } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/deletions/{}/approve", q(&id)),
            body(wire::TextBody {
                reason: None,
                comment,
            })?,
        )?)?,
        RecordsCommand::Reject { id, comment } => print(call_and_print(
            &client,
            "POST",
            &format!("{R}/deletions/{}/reject", q(&id)),
            body(wire::TextBody {
                reason: None,
                comment: Some(comment),
            })?,
        )?)?,
        RecordsCommand::Execute { id, certificate } => {
            save(
                "POST",
                &format!("{R}/deletions/{}/execute", q(&id)),
                &certificate,
            )?;
            println!(
                "executed {id}; deletion certificate written to {}",
                certificate.display()
            );
        }
        RecordsCommand::Document { id, out } => {
            let n = save("GET", &format!("{R}/deletions/{}/document", q(&id)), &out)?;
            println!(
                "decision document of {id} ({n} bytes, SHA-256 checked) written to {}",
                out.display()
            );
        }
        RecordsCommand::Certificate { id, out } => {
            save(
                "GET",
                &format!("{R}/deletions/{}/certificate", q(&id)),
                &out,
            )?;
            println!("deletion certificate of {id} written to {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn review(conn: ApiConn, cmd: ReviewCommand) -> Result<ExitCode> {
    let client =
        callvault_server::client::ApiClient::new(&conn.server, &conn.ca, &conn.cert, &conn.key)?;
    const F: &str = "/api/v1/audit/follow-up";
    let cpq = |cp: &str, more: &[(&str, Option<&str>)]| {
        let mut pairs = vec![
            ("care_provider", Some(cp)),
            ("purpose", Some("logguppfoljning")),
        ];
        pairs.extend_from_slice(more);
        query(&pairs)
    };
    let print = |body: Vec<u8>| -> Result<()> {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        Ok(())
    };
    // `latest` names the care provider's newest run (the one just made), so that printed
    // commands run as pasted.
    let run_id = |id: String, cp: &str| -> Result<String> {
        if id != "latest" {
            return Ok(id);
        }
        let runs: serde_json::Value = serde_json::from_slice(&call_and_print(
            &client,
            "GET",
            &format!("{F}{}", cpq(cp, &[])),
            None,
        )?)?;
        runs.as_array()
            .and_then(|r| r.last())
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
            .with_context(|| {
                format!("care provider {cp} has no follow-up run yet; run `follow-up` first")
            })
    };
    match cmd {
        ReviewCommand::FollowUp {
            care_provider,
            from,
            to,
            settings,
            seed,
        } => {
            let settings =
                match settings {
                    Some(f) => {
                        let text = std::fs::read_to_string(&f)
                            .with_context(|| format!("reading {}", f.display()))?;
                        Some(serde_json::from_str(&text).with_context(|| {
                            format!("{} is not follow-up settings", f.display())
                        })?)
                    }
                    None => None,
                };
            let body = call_and_print(
                &client,
                "POST",
                &format!("{F}{}", cpq(&care_provider, &[])),
                body(wire::RunBody {
                    from,
                    to,
                    settings,
                    seed,
                })?,
            )?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let run = &v["run"];
            println!(
                "follow-up run {} over {} .. {}: {} events checked, {} findings",
                run["id"].as_str().unwrap_or("?"),
                run["from"].as_str().unwrap_or("?"),
                run["to"].as_str().unwrap_or("?"),
                run["events_checked"],
                run["findings"]
            );
            for f in v["findings"].as_array().into_iter().flatten() {
                println!(
                    "  {:>4}  {:<22} {}  {}  {}",
                    f["n"],
                    f["rule"].as_str().unwrap_or("?"),
                    f["local_time"].as_str().unwrap_or("?"),
                    f["actor"].as_str().unwrap_or("?"),
                    f["summary"].as_str().unwrap_or("")
                );
            }
            println!(
                "spot-check seed: {} (give it with --seed to repeat the draw)",
                run["seed"].as_str().unwrap_or("?")
            );
        }
        ReviewCommand::Runs { care_provider } => print(call_and_print(
            &client,
            "GET",
            &format!("{F}{}", cpq(&care_provider, &[])),
            None,
        )?)?,
        ReviewCommand::Report {
            id,
            care_provider,
            format,
            out,
        } => {
            let id = run_id(id, &care_provider)?;
            let body = call_and_print(
                &client,
                "GET",
                &format!(
                    "{F}/{}{}",
                    q(&id),
                    cpq(&care_provider, &[("format", Some(&format))])
                ),
                None,
            )?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &body)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("report of {id} ({format}) written to {}", path.display());
                }
                None => print!("{}", String::from_utf8_lossy(&body)),
            }
        }
        ReviewCommand::Extract {
            care_provider,
            patient_file,
            from,
            to,
            format,
            out,
        } => {
            let body = call_and_print(
                &client,
                "POST",
                &format!("/api/v1/audit/log-extract{}", cpq(&care_provider, &[])),
                body(wire::ExtractBody {
                    patient: read_patient(&patient_file)?,
                    from,
                    to,
                    format: format.clone(),
                })?,
            )?;
            std::fs::write(&out, &body).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "log extract ({format}, {} bytes) written to {}",
                body.len(),
                out.display()
            );
        }
        ReviewCommand::Judge {
            id,
            n,
            care_provider,
            verdict,
            comment,
        } => {
            let id = run_id(id, &care_provider)?;
            print(call_and_print(
                &client,
                "POST",
                &format!("{F}/{}/findings/{n}{}", q(&id), cpq(&care_provider, &[])),
                body(wire::ReviewBody { verdict, comment })?,
            )?)?
        }
    }
    Ok(ExitCode::SUCCESS)
}
