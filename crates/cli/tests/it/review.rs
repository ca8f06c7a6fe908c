//! Log review from the command line: a month's follow-up and a patient's log extract.

use std::process::Command;

use crate::*;

/// The scenario from the command line against `callvault demo`: a nurse's emergency
/// access, then the log reviewer runs the month's follow-up, judges the finding, prints the
/// report, and produces the patient's log extract as a Swedish PDF; meanwhile the server
/// signs checkpoints by itself.
#[test]
fn a_log_reviewer_follows_up_a_month_and_extracts_a_patients_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = demo_no_serve(&data, "6", &["--listen", "127.0.0.1:0"]);
    assert!(o.status.success(), "{}", text(&o));
    let config = data.join("server.toml");
    let mut toml = std::fs::read_to_string(&config).expect("config");
    toml.push_str("\n[checkpoint]\ninterval_secs = 1\n");
    std::fs::write(&config, toml).expect("config");
    let (mut child, addr) = serve(&config);
    let server = format!("https://{addr}");
    let pki = data.join("pki");
    let sthlm = "SE2321000016-0001";
    let api = |who: &str| {
        callvault_server::client::ApiClient::new(
            &server,
            &pki.join("root-ca.pem"),
            &pki.join(format!("{who}.pem")),
            &pki.join(format!("{who}-key.pem")),
        )
        .expect("client")
    };
    let checkpoint_size = || {
        let r = api("nurse-a")
            .call("GET", "/api/v1/audit/checkpoint", None)
            .expect("checkpoint");
        String::from_utf8_lossy(&r.body)
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let first = checkpoint_size();

    // Demo call 2 is at Region Stockholm's other unit (1178): the nurse of 1177 reaches it
    // only through emergency access.
    let patient = callvault_vault::demo::personnummer(3);
    let reason = "Patienten%20ringde%20tillbaka%2C%20br%C3%B6stsm%C3%A4rta";
    let nurse = api("nurse-a");
    let search = serde_json::json!({
        "care_provider": sthlm,
        "care_unit": "SE2321000016-1178",
        "patient": patient,
    })
    .to_string();
    let r = nurse
        .call(
            "POST",
            &format!(
                "/api/v1/recordings/search?purpose=vard-och-behandling&emergency_reason={reason}"
            ),
            Some(&search),
        )
        .expect("search");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let id = hits["recordings"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no hit: {hits}"))
        .to_owned();
    let r = nurse
        .call(
            "GET",
            &format!(
                "/api/v1/recordings/{id}?purpose=vard-och-behandling&emergency_reason={reason}"
            ),
            None,
        )
        .expect("metadata");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let review = |args: &[&str]| as_person(&pki, &server, "reviewer-a", "review", args);
    let o = review(&[
        "follow-up",
        "--care-provider",
        sthlm,
        "--from",
        &fmt(now - time::Duration::days(30)),
        "--to",
        &fmt(now + time::Duration::minutes(5)),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let run = out
        .split("follow-up run ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("run id")
        .to_owned();
    let n = out
        .lines()
        .find(|l| l.contains("emergency-access"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no emergency access finding: {out}"))
        .to_owned();
    assert!(
        !out.contains(&patient[..8]),
        "no patient data in the findings: {out}"
    );
    let o = review(&[
        "judge",
        &run,
        &n,
        "--care-provider",
        sthlm,
        "--verdict",
        "justified",
        "--comment",
        "Återuppringning, journalfört",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = dir.path().join("uppfoljning.html");
    // `latest` names the newest run, so that the demo's printed commands run as pasted.
    let o = review(&[
        "report",
        "latest",
        "--care-provider",
        sthlm,
        "--format",
        "html",
        "--out",
        p(&html),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&run), "{}", text(&o));
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(
        page.contains("Logguppföljning") && page.contains("Befogad"),
        "{page}"
    );

    let patient_file = dir.path().join("patient.txt");
    std::fs::write(&patient_file, &patient).expect("patient");
    let pdf = dir.path().join("loggutdrag.pdf");
    let o = review(&[
        "extract",
        "--care-provider",
        sthlm,
        "--patient-file",
        p(&patient_file),
        "--format",
        "pdf",
        "--out",
        p(&pdf),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let extract = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for want in ["Loggutdrag", "Åtgärd", "(nödåtkomst)", &patient, sthlm] {
        assert!(extract.contains(want), "{want:?} not in:\n{extract}");
    }
    // A nurse cannot produce it.
    let o = as_person(
        &pki,
        &server,
        "nurse-a",
        "review",
        &[
            "extract",
            "--care-provider",
            sthlm,
            "--patient-file",
            p(&patient_file),
            "--out",
            p(&pdf),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("HTTP 403"),
        "{}",
        text(&o)
    );

    // The server signed checkpoints over the new events by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while checkpoint_size() <= first {
        assert!(std::time::Instant::now() < deadline, "no new checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
}
