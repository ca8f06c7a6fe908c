//! Log follow-up over real TLS: a reviewer runs a follow-up after a nurse's emergency access,
//! judges the findings, fetches the printable report; bad input and other roles are refused.

use crate::governance::{call, json};
use crate::{CP_A, get, upload, upload_meta, world};

#[tokio::test]
async fn a_reviewer_follows_up_judges_and_prints_the_report() {
    let w = world().await;
    // A call at the other unit of care provider A, which the nurse reaches only through
    // emergency access.
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(91);
    let r = upload(
        &w,
        "recorder-a",
        &upload_meta("fu-1", "SE2321000016-1178", &pnr),
        &wav,
    )
    .await
    .expect("upload");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = json(&String::from_utf8_lossy(&r.body))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let plain = format!("/api/v1/recordings/{id}?purpose=vard-och-behandling");
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &plain, None)
            .await
            .expect("r")
            .status,
        403
    );
    let emergency = format!(
        "{plain}&emergency_reason=Patienten%20ringde%20tillbaka%20med%20br%C3%B6stsm%C3%A4rta"
    );
    let r = get(&w, &w.pki, Some("nurse-a"), &emergency, None)
        .await
        .expect("r");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Her own unit's call, normally.
    let own = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a);
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &own, None)
            .await
            .expect("r")
            .status,
        200
    );

    // The records manager marks the uploaded call's patient as having protected identity.
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        "/api/v1/records/protected-patients",
        &format!(r#"{{"care_provider":"{CP_A}","patient":"{pnr}","reference":"Skatteverket"}}"#),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(!b.contains(&pnr[2..]), "the patient id is never echoed");

    let q = format!("care_provider={CP_A}&purpose=logguppfoljning");
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let run = format!(
        r#"{{"from":"{}","to":"{}","settings":{{"working_hours":"","spot_checks":1}}}}"#,
        fmt(now - time::Duration::days(31)),
        fmt(now + time::Duration::minutes(1))
    );
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &format!("/api/v1/audit/follow-up?{q}"),
        &run,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let report = json(&b);
    let findings = report["findings"].as_array().expect("findings");
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert!(rules.contains(&"emergency-access"), "{rules:?}");
    assert!(rules.contains(&"protected-identity"), "{rules:?}");
    assert!(rules.contains(&"spot-check"), "{rules:?}");
    let run_id = report["run"]["id"].as_str().expect("id").to_owned();
    let emergency_n = findings
        .iter()
        .find(|f| f["rule"] == "emergency-access")
        .expect("finding")["n"]
        .as_u64()
        .expect("n");
    assert_eq!(
        findings
            .iter()
            .find(|f| f["rule"] == "emergency-access")
            .expect("f")["actor"],
        "person:SE2321000016-N001"
    );

    // Judge it; a bad verdict and an unknown finding are refused.
    let judge = format!("/api/v1/audit/follow-up/{run_id}/findings/{emergency_n}?{q}");
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &judge,
        r#"{"verdict":"justified","comment":"Återuppringning, journalfört"}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &judge,
        r#"{"verdict":"maybe","comment":"x"}"#,
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("verdict"), "{b}");
    let (s, _) = call(
        &w,
        "reviewer-a",
        "POST",
        &format!("/api/v1/audit/follow-up/{run_id}/findings/999?{q}"),
        r#"{"verdict":"justified","comment":"x"}"#,
    )
    .await;
    assert_eq!(s, 404);

    // The printable report: HTML in Swedish with a strict CSP; and CSV.
    let html = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/audit/follow-up/{run_id}?{q}&format=html"),
        None,
    )
    .await
    .expect("r");
    assert_eq!(html.status, 200);
    assert!(
        html.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .starts_with("default-src 'none'")
    );
    let page = String::from_utf8_lossy(&html.body);
    assert!(
        page.contains("Logguppföljning") && page.contains("Befogad"),
        "{page}"
    );
    assert!(page.contains("Återuppringning, journalfört"));
    let csv = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/audit/follow-up/{run_id}?{q}&format=csv"),
        None,
    )
    .await
    .expect("r");
    assert_eq!(csv.status, 200);
    assert!(String::from_utf8_lossy(&csv.body).starts_with("n,rule,rule_name,"));
    let (s, b) = call(
        &w,
        "reviewer-a",
        "GET",
        &format!("/api/v1/audit/follow-up?{q}"),
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)[0]["reviewed"], 1);

    // The patient's log extract: a PDF, named without the patient, never cached.
    let extract = format!("/api/v1/audit/log-extract?{q}");
    let r = crate::send(
        &w,
        &w.pki,
        Some("reviewer-a"),
        "POST",
        &extract,
        &[("content-type", "application/json".to_owned())],
        format!(r#"{{"patient":"{pnr}","format":"pdf"}}"#).into_bytes(),
    )
    .await
    .expect("r");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert_eq!(r.headers["cache-control"], "no-store");
    let disposition = r.headers["content-disposition"].to_str().expect("cd");
    assert!(disposition.starts_with("attachment; filename=\"loggutdrag-"));
    assert!(!disposition.contains(&pnr[..8]));
    assert!(r.body.starts_with(b"%PDF-"));
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &extract,
        &format!(r#"{{"patient":"{pnr}","format":"json"}}"#),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let x = json(&b);
    let entries = x["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "the emergency read of the uploaded call");
    assert_eq!(entries[0]["emergency_access"], true);
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &extract,
        &format!(r#"{{"patient":"{pnr}","format":"docx"}}"#),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("format"), "{b}");
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &extract,
        r#"{"patient":"19121212-1213"}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        !b.contains("19121212"),
        "the patient id is never echoed: {b}"
    );
    let (s, _) = call(
        &w,
        "nurse-a",
        "POST",
        &extract,
        &format!(r#"{{"patient":"{pnr}"}}"#),
    )
    .await;
    assert_eq!(s, 403);

    // The FHIR AuditEvent export, checked by the independent validator.
    let export = format!(
        "/api/v1/audit/fhir/AuditEvent?{q}&from={}&to={}",
        fmt(now - time::Duration::days(1)).replace('+', "%2B"),
        fmt(now + time::Duration::minutes(5)).replace('+', "%2B")
    );
    let r = get(&w, &w.pki, Some("reviewer-a"), &export, None)
        .await
        .expect("r");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["content-type"], "application/fhir+ndjson");
    let ndjson = String::from_utf8(r.body).expect("utf-8");
    assert!(ndjson.contains("IHE.BasicAudit.PatientRead"));
    assert!(!ndjson.contains(&pnr[..8]), "pseudonyms by default");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("export.ndjson");
    std::fs::write(&file, &ndjson).expect("write");
    let first: serde_json::Value =
        serde_json::from_str(ndjson.lines().next().expect("line")).expect("json");
    let idx = first["id"]
        .as_str()
        .expect("id")
        .trim_start_matches("cv-")
        .to_owned();
    let r = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/audit/fhir/AuditEvent/{idx}?{q}"),
        None,
    )
    .await
    .expect("r");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/fhir+json");
    let one = dir.path().join("one.json");
    std::fs::write(&one, &r.body).expect("write");
    let (ok, out) = callvault_testkit::validate_fhir(&[&file, &one]);
    assert!(ok && out.contains("0 invalid"), "{out}");
    let r = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/audit/fhir/AuditEvent/99999999?{q}"),
        None,
    )
    .await
    .expect("r");
    assert_eq!(r.status, 404);
    let r = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/audit/fhir/AuditEvent?{q}&from=x&to=y"),
        None,
    )
    .await
    .expect("r");
    assert_eq!(r.status, 400);

    // Nurses and other purposes get nothing; bad periods and settings are 400.
    let (s, _) = call(
        &w,
        "nurse-a",
        "GET",
        &format!("/api/v1/audit/follow-up?{q}"),
        "",
    )
    .await;
    assert_eq!(s, 403);
    let bad = format!(
        r#"{{"from":"{}","to":"{}","settings":{{"working_hours":"nine to five"}}}}"#,
        fmt(now - time::Duration::days(1)),
        fmt(now)
    );
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &format!("/api/v1/audit/follow-up?{q}"),
        &bad,
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("working_hours"), "{b}");
    let (s, b) = call(
        &w,
        "reviewer-a",
        "POST",
        &format!("/api/v1/audit/follow-up?{q}"),
        r#"{"from":"yesterday","to":"today"}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("from"), "{b}");
    let (s, _) = call(
        &w,
        "reviewer-a",
        "GET",
        &format!("/api/v1/audit/follow-up/{run_id}?{q}&format=pdf"),
        "",
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn audit_prune_orders_respect_the_retention() {
    let w = world().await;
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let now = time::OffsetDateTime::now_utc();
    let url = format!("/api/v1/records/audit-prunes?care_provider={CP_A}");
    let body = |t| format!(r#"{{"care_provider":"{CP_A}","before":"{}"}}"#, fmt(t));
    // Within the five years: refused, saying why.
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        "/api/v1/records/audit-prunes",
        &body(now - time::Duration::days(365)),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("retention_years"), "{b}");
    // Long enough ago, but every event is young: nothing to prune.
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        "/api/v1/records/audit-prunes",
        &body(now - time::Duration::days(6 * 366)),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        "/api/v1/records/audit-prunes",
        r#"{"before":"long ago"}"#,
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = call(&w, "admin-a", "GET", &url, "").await;
    assert_eq!((s, b.trim()), (200, "[]"));
    let (s, _) = call(
        &w,
        "admin-a",
        "POST",
        &format!("/api/v1/records/audit-prunes/prune-0/execute?care_provider={CP_A}"),
        "",
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &w,
        "admin-a",
        "POST",
        &format!("/api/v1/records/audit-prunes/prune-0/delete?care_provider={CP_A}"),
        "",
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(&w, "nurse-a", "GET", &url, "").await;
    assert_eq!(s, 403);
}
