//! The governance routes over real TLS: four eyes, bad input, revocation (including of an
//! open audio stream), the access review.

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use crate::{CP_A, CP_B, World, client_config, connect, send, upload, upload_meta, world};

/// A JSON request as `who`; returns status and body text.
pub(crate) async fn call(
    w: &World,
    who: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let headers = [("content-type", "application/json".to_owned())];
    let r = send(
        w,
        &w.pki,
        Some(who),
        method,
        path,
        &headers,
        body.as_bytes().to_vec(),
    )
    .await
    .expect("response");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

fn request_body(holder: &str, days: i64, purpose: &str, rights: &str, units: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        r#"{{"holder":"{holder}","care_provider":"{CP_A}","care_units":[{units}],"purpose":"{purpose}","rights":[{rights}],"valid_from":"{}","valid_until":"{}","justification":"Ny sjuksköterska på 1177, ersätter vikarie"}}"#,
        rfc3339(now - time::Duration::hours(1)),
        rfc3339(now + time::Duration::days(days))
    )
}

const USERS: &str = "/api/v1/governance/users";
const ASSIGNMENTS: &str = "/api/v1/governance/assignments";

#[tokio::test]
async fn nobody_approves_their_own_request_or_their_own_access() {
    let w = world().await;
    // Registering a user: the care provider's administrator only.
    let nora = format!(
        r#"{{"hsa_id":"SE2321000016-N002","name":"Nora Nilsson","title":"Sjuksköterska","care_provider":"{CP_A}"}}"#
    );
    let (s, b) = call(&w, "admin-a", "POST", USERS, &nora).await;
    assert_eq!(s, 201, "{b}");
    assert!(json(&b)["audit_leaf_index"].is_u64(), "{b}");
    let (s, b) = call(&w, "admin-a", "POST", USERS, &nora).await;
    assert_eq!(s, 409, "registered twice: {b}");
    assert!(b.contains("already registered"), "{b}");
    let (s, b) = call(&w, "nurse-a", "POST", USERS, &nora).await;
    assert_eq!(s, 403, "a nurse is no administrator: {b}");
    let other = nora.replace(CP_A, CP_B).replace("-N002", "-N009");
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        USERS,
        &other.replace("SE2321000016", "SE2321000156"),
    )
    .await;
    assert_eq!(s, 403, "another care provider's user: {b}");
    assert!(b.contains("another care provider"), "{b}");

    // A request by admin-a: neither admin-a (requester) nor the holder may decide it.
    let care = r#""search","view-metadata","play""#;
    let unit = r#""SE2321000016-1177""#;
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        ASSIGNMENTS,
        &request_body("SE2321000016-N002", 180, "vard-och-behandling", care, unit),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = json(&b)["assignment"].as_str().expect("id").to_owned();
    let approve = format!("{ASSIGNMENTS}/{id}/approve");
    let (s, b) = call(&w, "admin-a", "POST", &approve, "{}").await;
    assert_eq!(s, 403, "self-approval: {b}");
    assert!(b.contains("requested by you"), "{b}");
    // Another care provider's administrator is refused by the policy.
    let (s, b) = call(&w, "admin-b", "POST", &approve, "{}").await;
    assert_eq!(s, 403, "other care provider: {b}");
    assert!(b.contains("another care provider"), "{b}");
    // Pending: not in force.
    let (s, b) = call(
        &w,
        "admin-a",
        "GET",
        &format!("{ASSIGNMENTS}?state=requested"),
        "",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains(&id), "{b}");
    // The second administrator approves.
    let (s, b) = call(&w, "admin-a2", "POST", &approve, r#"{"comment":"ok"}"#).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(&w, "admin-a2", "POST", &approve, "{}").await;
    assert_eq!(s, 409, "decided twice: {b}");

    // An administrator's access for themselves: admin-a2 requests, admin-a is the holder.
    // Neither of the two can approve it — no single person gives themselves access.
    let (s, b) = call(
        &w,
        "admin-a2",
        "POST",
        ASSIGNMENTS,
        &request_body(
            "SE2321000016-A001",
            90,
            "logguppfoljning",
            r#""read-audit""#,
            "",
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let own = json(&b)["assignment"].as_str().expect("id").to_owned();
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        &format!("{ASSIGNMENTS}/{own}/approve"),
        "{}",
    )
    .await;
    assert_eq!(s, 403, "holder approving: {b}");
    assert!(b.contains("is for you"), "{b}");
    let (s, _) = call(
        &w,
        "admin-a2",
        "POST",
        &format!("{ASSIGNMENTS}/{own}/approve"),
        "{}",
    )
    .await;
    assert_eq!(s, 403);
    // Rejection needs a comment; then the request is closed.
    let reject = format!("{ASSIGNMENTS}/{own}/reject");
    let (s, b) = call(&w, "admin-b", "POST", &reject, r#"{"comment":"x"}"#).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = call(&w, "admin-a", "POST", &reject, "{}").await;
    assert_eq!(s, 400, "{b}");

    // Bad input: each a 400 naming what is wrong, and nothing requested.
    let before = w
        .vault
        .catalog()
        .assignments(None, None)
        .expect("list")
        .len();
    for (body, want) in [
        (
            request_body("SE2321000016-N002", 400, "vard-och-behandling", care, unit),
            "at most 366 days",
        ),
        (
            request_body(
                "SE2321000016-N002",
                30,
                "vard-och-behandling",
                r#""fly""#,
                unit,
            ),
            "is not one of: ingest, search",
        ),
        (
            request_body(
                "SE2321000016-N002",
                30,
                "vard-och-behandling",
                care,
                r#""SE2321000156-1177""#,
            ),
            "does not belong to care provider",
        ),
        (
            request_body("SE2321000016-N002", 30, "vard-och-behandling", care, ""),
            "name their care units",
        ),
        (
            request_body(
                "SE2321000016-N002",
                30,
                "vard-och-behandling",
                r#""manage-privileges""#,
                unit,
            ),
            "only under the purpose administration",
        ),
        (
            request_body("SE2321000016-N002", 30, "vard-och-behandling", care, unit)
                .replace("Ny sjuksköterska på 1177, ersätter vikarie", "  "),
            "justification is empty",
        ),
        (
            request_body("SE2321000016-N002", 30, "vard-och-behandling", care, unit)
                .replace("\"holder\"", "\"holdr\""),
            "request body",
        ),
        ("{not json".to_owned(), "request body"),
        (
            request_body("SE2321000016-N002", 30, "vard-och-behandling", care, unit)
                .replace("\"valid_from\":\"", "\"valid_from\":\"yesterday"),
            "valid_from must be RFC 3339",
        ),
    ] {
        let (s, b) = call(&w, "admin-a", "POST", ASSIGNMENTS, &body).await;
        assert_eq!(s, 400, "{want}: {b}");
        assert!(b.contains(want), "{want}: {b}");
    }
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        ASSIGNMENTS,
        &request_body("SE2321000016-N404", 30, "vard-och-behandling", care, unit),
    )
    .await;
    assert_eq!(s, 409, "unregistered holder: {b}");
    assert!(b.contains("not a registered user"), "{b}");
    let (s, _) = call(
        &w,
        "admin-a2",
        "POST",
        &format!("{ASSIGNMENTS}/asg-nope/approve"),
        "{}",
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        w.vault
            .catalog()
            .assignments(None, None)
            .expect("list")
            .len(),
        before
    );

    // Every step, and every refusal, is in the audit log.
    let mut codes = Vec::new();
    let size = w.vault.catalog().audit_size().expect("size");
    w.vault
        .catalog()
        .for_each_audit_leaf(0, size, &mut |_, data, _| {
            let e = callvault_audit::event::AuditEvent::decode(data).expect("event");
            codes.push((e.action.code().to_owned(), e.outcome.clone()));
            Ok(())
        })
        .expect("scan");
    let count = |code: &str| codes.iter().filter(|(c, _)| c == code).count();
    assert_eq!(
        count("user.register"),
        6 + 4 + 1,
        "file users, admins, Nora"
    );
    assert_eq!(count("assignment.request"), 8 + 2);
    assert_eq!(count("assignment.approve"), 8 + 1);
    assert!(
        count("privileges.manage") >= 4,
        "refusals by the policy: {codes:?}"
    );
}

#[tokio::test]
async fn revocation_applies_at_once_even_to_an_open_stream() {
    let w = world().await;
    // A long recording (32 MiB of audio, more than the socket buffers of loopback hold), so
    // that the stream is still open when revoked.
    let data_len: u32 = 32 << 20;
    let mut wav = callvault_vault::wav::header(1, 1, 8000, 16, data_len);
    wav.extend((0..data_len).map(|i| (i % 251) as u8));
    let pnr = callvault_vault::demo::personnummer(4242);
    let r = upload(
        &w,
        "recorder-a",
        &upload_meta("long-call-1", "SE2321000016-1177", &pnr),
        &wav,
    )
    .await
    .expect("upload");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rec = json(&String::from_utf8_lossy(&r.body))["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // The nurse opens the stream and reads its first bytes.
    let tls = connect(&w, client_config(&w.pki, &w.pki, Some("nurse-a")))
        .await
        .expect("tls");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri(format!(
            "/api/v1/recordings/{rec}/audio?purpose=vard-och-behandling"
        ))
        .header("host", "localhost")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let total: u64 = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("length");
    let mut body = resp.into_body();
    let mut got = 0u64;
    while got == 0 {
        let f = body.frame().await.expect("frame").expect("data");
        got += f.data_ref().map_or(0, |d| d.len() as u64);
    }

    // The administrator revokes the nurse's assignment.
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        "/api/v1/governance/assignments/nurse-a/revoke",
        r#"{"reason":"slutat sin anställning"}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // The open stream ends short of its length …
    let mut ended_with_error = false;
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => got += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => {
                ended_with_error = true;
                break;
            }
        }
    }
    assert!(
        ended_with_error && got < total,
        "stream should stop: {got} of {total} bytes"
    );
    // … and the next request is refused (and audited as a refusal).
    let (s, b) = call(
        &w,
        "nurse-a",
        "GET",
        &format!("/api/v1/recordings/{rec}?purpose=vard-och-behandling"),
        "",
    )
    .await;
    assert_eq!(s, 403, "{b}");
    // A revoked assignment cannot be revoked again, nor approved.
    let (s, _) = call(
        &w,
        "admin-a2",
        "POST",
        "/api/v1/governance/assignments/nurse-a/revoke",
        r#"{"reason":"again"}"#,
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(
        &w,
        "admin-a2",
        "POST",
        "/api/v1/governance/assignments/nurse-a/approve",
        "{}",
    )
    .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn the_access_review_lists_assignments_in_force_with_use_and_flags() {
    let w = world().await;
    // Use nurse-a's assignment once.
    let (s, _) = call(
        &w,
        "nurse-a",
        "GET",
        &format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a),
        "",
    )
    .await;
    assert_eq!(s, 200);
    // The recorder delivers a call: its ingest names its assignment (the review said "last
    // use: never" after deliveries).
    crate::upload_other_unit(&w, "review-1", 83).await;
    let (s, b) = call(&w, "admin-a", "GET", "/api/v1/governance/access-review", "").await;
    assert_eq!(s, 200, "{b}");
    let review = json(&b);
    assert_eq!(review["care_provider"], CP_A);
    let rows = review["assignments"].as_array().expect("rows");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {b}"))
    };
    let nurse = row("nurse-a");
    assert_eq!(nurse["holder_name"], "Anna Andersson");
    assert_eq!(nurse["approved_by"], "person:SE2321000016-A002");
    assert!(
        nurse["requested_by"]
            .as_str()
            .expect("by")
            .starts_with("operator:")
    );
    assert!(nurse["last_use"].is_string(), "used once: {nurse}");
    assert_eq!(nurse["unused"], false);
    assert_eq!(nurse["expiring_soon"], false);
    assert!(row("reviewer-a")["last_use"].is_null());
    assert!(
        row("recorder-a")["last_use"].is_string(),
        "the recorder's delivery is a use: {}",
        row("recorder-a")
    );
    // Only the care provider's own assignments.
    assert!(rows.iter().all(|r| r["id"] != "nurse-b"), "{b}");
    let (s, csv) = call(
        &w,
        "admin-a",
        "GET",
        "/api/v1/governance/access-review?format=csv",
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        csv.starts_with("id,holder,holder_name,holder_title,purpose,rights,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), rows.len() + 1, "{csv}");
    let (s, text) = call(
        &w,
        "admin-a",
        "GET",
        "/api/v1/governance/access-review?format=text",
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        text.contains("Behörighetsuppföljning / access review") && text.contains("nurse-a"),
        "{text}"
    );
    let (s, _) = call(
        &w,
        "admin-a",
        "GET",
        "/api/v1/governance/access-review?format=pdf",
        "",
    )
    .await;
    assert_eq!(s, 400);
    // Not for nurses or log reviewers (refused by the policy, and audited).
    for who in ["nurse-a", "reviewer-a"] {
        let (s, b) = call(
            &w,
            who,
            "GET",
            &format!("/api/v1/governance/access-review?care_provider={CP_A}"),
            "",
        )
        .await;
        assert_eq!(s, 403, "{who}: {b}");
    }
}

#[tokio::test]
async fn records_routes_refuse_bad_input_with_reasons_and_change_nothing() {
    let w = world().await;
    let before = w.vault.catalog().audit_size().expect("size");
    let holds = "/api/v1/records/holds";
    let deletions = "/api/v1/records/deletions";
    let rec = &w.rec_a;
    for (path, body, want) in [
        (holds, "{not json".to_owned(), "request body"),
        (
            holds,
            format!(r#"{{"care_provider":"{CP_A}","reason":"r","case_reference":"c"}}"#),
            "give either recordings",
        ),
        (
            holds,
            format!(
                r#"{{"care_provider":"{CP_A}","recordings":["{rec}"],"patient":"191212121212","reason":"r","case_reference":"c"}}"#
            ),
            "give either recordings",
        ),
        (
            holds,
            format!(
                r#"{{"care_provider":"{CP_A}","recordings":["not-a-uuid"],"reason":"r","case_reference":"c"}}"#
            ),
            "must be a UUID",
        ),
        (
            holds,
            format!(
                r#"{{"care_provider":"{CP_A}","patient":"19121212-0000","reason":"r","case_reference":"c"}}"#
            ),
            "patient:",
        ),
        (
            holds,
            format!(
                r#"{{"care_provider":"{CP_A}","recordings":["{rec}"],"reason":" ","case_reference":"c"}}"#
            ),
            "reason is empty",
        ),
        (
            deletions,
            format!(r#"{{"kind":"shred-all","care_provider":"{CP_A}"}}"#),
            "is not one of: ivo, retention",
        ),
        (
            deletions,
            format!(
                r#"{{"kind":"ivo","care_provider":"{CP_A}","case_number":"IVO 1","decision_date":"2026-13-45","document_base64":"JVBERg==","recordings":["{rec}"]}}"#
            ),
            "decision_date must be YYYY-MM-DD",
        ),
        (
            deletions,
            format!(
                r#"{{"kind":"ivo","care_provider":"{CP_A}","case_number":"IVO 1","decision_date":"2026-11-20","document_base64":"!!","recordings":["{rec}"]}}"#
            ),
            "document_base64",
        ),
        (
            deletions,
            format!(
                r#"{{"kind":"ivo","care_provider":"{CP_A}","case_number":"IVO 1","decision_date":"2026-11-20","recordings":["{rec}"]}}"#
            ),
            "needs its document",
        ),
        (
            deletions,
            format!(
                r#"{{"kind":"retention","care_provider":"{CP_A}","reference":"G","recordings":["{rec}"]}}"#
            ),
            "takes no scope",
        ),
    ] {
        let (s, b) = call(&w, "admin-a", "POST", path, &body).await;
        assert_eq!(s, 400, "{want}: {b}");
        assert!(b.contains(want), "{want}: {b}");
        assert!(
            !b.contains("191212121212"),
            "a patient id is never echoed: {b}"
        );
    }
    // A purge with nothing past retention, and another care provider's recording in an IVO
    // scope, are refused without creating anything.
    let (s, b) = call(
        &w,
        "admin-a",
        "POST",
        deletions,
        &format!(r#"{{"kind":"retention","care_provider":"{CP_A}","reference":"Gallring"}}"#),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("past its retention"), "{b}");
    assert!(
        w.vault
            .catalog()
            .deletion_orders(None, None, None)
            .expect("orders")
            .is_empty()
    );
    // Nothing but the refusals' own audit events were written: one for each bad request
    // and one for the purge's refusal, each a refusal of a records-management action.
    let after = w.vault.catalog().audit_size().expect("size");
    assert_eq!(after, before + 12);
    w.vault
        .catalog()
        .for_each_audit_leaf(before, after, &mut |_, data, _| {
            let e = callvault_audit::event::AuditEvent::decode(data).expect("event");
            assert_eq!(e.action.code(), "records.manage", "{e:?}");
            assert!(
                matches!(e.outcome, callvault_audit::event::Outcome::Denied(_)),
                "{e:?}"
            );
            Ok(())
        })
        .expect("read");
    // Not for a nurse.
    let (s, _) = call(
        &w,
        "nurse-a",
        "POST",
        holds,
        &format!(
            r#"{{"care_provider":"{CP_A}","recordings":["{rec}"],"reason":"r","case_reference":"c"}}"#
        ),
    )
    .await;
    assert_eq!(s, 403);
}
