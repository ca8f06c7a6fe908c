//! The API over TLS: handshake refusals, the policy through HTTP, audit events, Range,
//! search, log review, metrics and extractor rejections.

use crate::uploads::{upload, upload_meta};
use crate::world::*;

#[tokio::test]
async fn the_handshake_refuses_missing_foreign_expired_and_revoked_certificates() {
    let w = world().await;
    let url = "/healthz";
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), url, None)
            .await
            .expect("ok")
            .status,
        200
    );
    for (pki, who, what) in [
        (&w.pki, None, "no certificate"),
        (&w.other_pki, Some("nurse-a"), "another CA"),
        (&w.pki, Some("expired"), "expired"),
        (&w.pki, Some("revoked"), "revoked"),
    ] {
        let r = get(&w, pki, who, url, None).await;
        assert!(
            r.is_err(),
            "{what}: must be refused, got status {:?}",
            r.as_ref().map(|r| r.status)
        );
    }
    let _ = path(&w.archive);
}

#[tokio::test]
async fn a_nurse_reads_her_recording_and_the_other_regions_nurse_is_refused_and_audited() {
    let w = world().await;
    let meta = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a);
    let before = audit_size(&w);
    let ok = get(&w, &w.pki, Some("nurse-a"), &meta, None)
        .await
        .expect("response");
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let json: serde_json::Value = serde_json::from_slice(&ok.body).expect("json");
    assert_eq!(json["care_provider"], CP_A);
    assert_eq!(
        json["patient_id"],
        callvault_vault::demo::personnummer(1).replace('-', "")
    );
    assert_eq!(json["audit_leaf_index"].as_u64(), Some(before));
    assert_eq!(audit_size(&w), before + 1);

    let denied = get(&w, &w.pki, Some("nurse-b"), &meta, None)
        .await
        .expect("response");
    // Another care provider's recording answers as one that does not exist.
    assert_eq!(denied.status, 404);
    assert_eq!(denied.headers["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&denied.body).expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("is available to you")
    );
    assert!(
        !String::from_utf8_lossy(&denied.body).contains("1177"),
        "no data in a refusal"
    );
    assert_eq!(audit_size(&w), before + 2, "the refusal is an audit event");

    // An administrator never gets audio; a recorder never reads.
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=administration",
        w.rec_a
    );
    assert_eq!(
        get(&w, &w.pki, Some("admin-a"), &audio, None)
            .await
            .expect("r")
            .status,
        403
    );
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        w.rec_a
    );
    assert_eq!(
        get(&w, &w.pki, Some("recorder-a"), &audio, None)
            .await
            .expect("r")
            .status,
        403
    );
    // Purpose is required.
    let bare = format!("/api/v1/recordings/{}", w.rec_a);
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &bare, None)
            .await
            .expect("r")
            .status,
        400
    );
}

#[tokio::test]
async fn audio_ranges() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let len = wav.len();
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        w.rec_a
    );
    let cases: Vec<(Option<String>, u16, std::ops::Range<usize>)> = vec![
        (None, 200, 0..len),
        (Some("bytes=0-99".into()), 206, 0..100),
        (
            Some(format!("bytes={}-{}", len / 2, len / 2 + 70_000)),
            206,
            len / 2..(len / 2 + 70_001).min(len),
        ),
        (Some(format!("bytes={}-", len - 10)), 206, len - 10..len),
        (Some("bytes=-500".into()), 206, len - 500..len),
        (Some("bytes=10-19,30-39".into()), 206, 10..20),
    ];
    for (range, status, want) in cases {
        let r = get(&w, &w.pki, Some("nurse-a"), &audio, range.as_deref())
            .await
            .expect("response");
        assert_eq!(r.status, status, "{range:?}");
        assert_eq!(r.body, wav[want.clone()], "{range:?}");
        if status == 206 {
            let cr = r.headers["content-range"]
                .to_str()
                .expect("ascii")
                .to_owned();
            assert_eq!(cr, format!("bytes {}-{}/{len}", want.start, want.end - 1));
        }
        assert!(r.headers.contains_key("x-callvault-audit-leaf"));
    }
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &audio,
        Some(&format!("bytes={len}-")),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 416);
    let r = get(&w, &w.pki, Some("nurse-a"), &audio, Some("bytes=9-1"))
        .await
        .expect("response");
    assert_eq!(r.status, 400);
    // The event says what was asked and what was sent, each in HTTP's own notation
    // (regression: `bytes=0-65535` was logged as `0-65536`).
    for (asked, sent) in [
        ("bytes=0-1023", "0-1023".to_owned()),
        // More than the recording holds: what was asked, and the less that was sent.
        ("bytes=0-9999999", format!("0-{}", len - 1)),
        ("bytes=-500", format!("{}-{}", len - 500, len - 1)),
    ] {
        let r = get(&w, &w.pki, Some("nurse-a"), &audio, Some(asked))
            .await
            .expect("response");
        assert_eq!(r.status, 206);
        let leaf: u64 = r.headers["x-callvault-audit-leaf"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("leaf");
        let mut details = Vec::new();
        w.vault
            .catalog()
            .for_each_audit_leaf(leaf, leaf + 1, &mut |_, data, _| {
                details = callvault_audit::event::AuditEvent::decode(data)
                    .expect("event")
                    .details;
                Ok(())
            })
            .expect("read");
        assert!(
            details.contains(&("asked".to_owned(), asked.to_owned()))
                && details.contains(&("sent".to_owned(), sent.clone())),
            "{details:?}"
        );
    }
}

#[tokio::test]
async fn search_by_patient_is_audited_and_scoped_and_the_checkpoint_is_public() {
    let w = world().await;
    let pnr = callvault_vault::demo::personnummer(1); // the patient of demo-call-0000
    let care = "purpose=vard-och-behandling";
    let body = |who_cp: &str| serde_json::json!({"care_provider": who_cp, "patient": pnr});
    let before = audit_size(&w);
    let r = search_post(&w, "nurse-a", care, body(CP_A)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(json["recordings"][0]["id"], w.rec_a.as_str());
    assert_eq!(json["recordings"].as_array().expect("list").len(), 1);
    assert_eq!(audit_size(&w), before + 1, "the search is audited");
    // Searching another care provider: refused and audited.
    let r = search_post(&w, "nurse-a", care, body(CP_B)).await;
    assert_eq!(r.status, 403);
    assert_eq!(audit_size(&w), before + 2);
    // A bad personnummer is a clear 400 that does not echo it (and is recorded).
    let r = search_post(
        &w,
        "nurse-a",
        care,
        serde_json::json!({"care_provider": CP_A, "patient": "19121212-1213"}),
    )
    .await;
    assert_eq!(r.status, 400);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        text.contains("check digit") && !text.contains("1213"),
        "{text}"
    );
    assert_eq!(audit_size(&w), before + 3);
    // Patient identifiers are not taken in URLs: the old query form is gone (405, recorded),
    // and so is the access log's path form (no such route).
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/recordings?care_provider={CP_A}&patient={pnr}&{care}"),
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 405);
    assert_eq!(audit_size(&w), before + 4);
    let r = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        &format!("/api/v1/patients/{pnr}/access-log?care_provider={CP_A}&purpose=logguppfoljning"),
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 404);
    // The checkpoint: C2SP text that verifies with the log's public key.
    let r = get(
        &w,
        &w.pki,
        Some("recorder-a"),
        "/api/v1/audit/checkpoint",
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200);
    let note = String::from_utf8(r.body).expect("utf-8");
    // The verifier key is served too (C2SP vkey form), to any authenticated caller, without
    // an audit event: a public key.
    let size = audit_size(&w);
    let r = get(
        &w,
        &w.pki,
        Some("recorder-a"),
        "/api/v1/audit/verifier-key",
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200);
    let vkey = String::from_utf8(r.body).expect("utf-8");
    assert_eq!(vkey.trim(), w.vault.verifier_key());
    assert!(vkey.starts_with("audit.callvault.test.example+"), "{vkey}");
    assert_eq!(audit_size(&w), size);
    let verifier =
        callvault_audit::note::NoteVerifier::from_verifier_key(vkey.trim()).expect("key");
    let cp = callvault_audit::note::verify_checkpoint(&verifier, &note).expect("signed checkpoint");

    // Proofs against it verify with the RFC 6962 algorithms alone.
    use base64::Engine;
    let b = |s: &serde_json::Value| -> [u8; 32] {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str().expect("b64"))
            .expect("base64")
            .try_into()
            .expect("32 bytes")
    };
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        "/api/v1/audit/proof/inclusion?index=1",
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let hashes: Vec<[u8; 32]> = p["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(b)
        .collect();
    callvault_audit::merkle::verify_inclusion(
        1,
        cp.size,
        &b(&p["leaf_hash"]),
        &hashes,
        &cp.root_hash,
    )
    .expect("inclusion verifies");
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/audit/proof/inclusion?index={}", cp.size),
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 400, "beyond the checkpoint");
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        "/api/v1/audit/proof/nonsense",
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn log_reviewers_read_the_audit_log_and_a_patients_access_log_others_do_not() {
    let w = world().await;
    let pnr = callvault_vault::demo::personnummer(1); // patient of demo-call-0000 (region A)
    let meta = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a);
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &meta, None)
            .await
            .expect("r")
            .status,
        200
    );
    assert_eq!(
        get(&w, &w.pki, Some("nurse-b"), &meta, None)
            .await
            .expect("r")
            .status,
        404
    );

    let before = audit_size(&w);
    let r = send(
        &w,
        &w.pki,
        Some("reviewer-a"),
        "POST",
        &format!("/api/v1/patients/access-log?care_provider={CP_A}&purpose=logguppfoljning"),
        &[("content-type", "application/json".to_owned())],
        serde_json::json!({ "patient": pnr })
            .to_string()
            .into_bytes(),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        audit_size(&w),
        before + 1,
        "reading an access log is audited"
    );
    let events: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let list = events.as_array().expect("list");
    let has = |actor: &str, action: &str, outcome: &str| {
        list.iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["outcome"] == outcome)
    };
    assert!(
        has("person:SE2321000016-N001", "recording.view", "granted"),
        "{list:?}"
    );
    assert!(
        has("person:SE2321000156-N001", "recording.view", "denied"),
        "{list:?}"
    );
    assert!(
        list.iter().any(|e| e["action"] == "recording.import"),
        "{list:?}"
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains(&pnr.replace('-', "")) && !text.contains("_sealed"),
        "no identifiers or sealed values"
    );

    let events =
        format!("/api/v1/audit/events?care_provider={CP_A}&purpose=logguppfoljning&limit=5");
    let r = get(&w, &w.pki, Some("reviewer-a"), &events, None)
        .await
        .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let list: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(list.as_array().expect("list").len(), 5);

    // Nurses, investigators' purposes and other care providers get nothing.
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &events, None)
            .await
            .expect("r")
            .status,
        403
    );
    let other = format!("/api/v1/audit/events?care_provider={CP_B}&purpose=logguppfoljning");
    assert_eq!(
        get(&w, &w.pki, Some("reviewer-a"), &other, None)
            .await
            .expect("r")
            .status,
        403
    );
    // And a log reviewer never gets audio.
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=logguppfoljning",
        w.rec_a
    );
    assert_eq!(
        get(&w, &w.pki, Some("reviewer-a"), &audio, None)
            .await
            .expect("r")
            .status,
        403
    );
}

#[tokio::test]
async fn search_filters_pages_with_a_cursor_and_infers_the_care_provider() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(90);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = upload(
            &w,
            "recorder-a",
            &upload_meta(&format!("page-{i}"), "SE2321000016-1177", &pnr),
            &wav,
        )
        .await
        .expect("upload");
        assert_eq!(r.status, 201);
        let j: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        ids.push(j["id"].as_str().expect("id").to_owned());
    }
    ids.sort(); // same start time: ordered by id
    let search = |filters: serde_json::Value| {
        let (w, pnr) = (&w, &pnr);
        async move {
            let mut body = filters;
            body["patient"] = pnr.as_str().into();
            let r = search_post(w, "nurse-a", "purpose=vard-och-behandling", body).await;
            let body = String::from_utf8_lossy(&r.body).into_owned();
            (
                r.status,
                serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
                body,
            )
        }
    };
    let hit_ids = |j: &serde_json::Value| -> Vec<String> {
        j["recordings"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["id"].as_str().expect("id").to_owned())
            .collect()
    };
    // No care_provider: nurse-a holds care assignments at one care provider only.
    let (status, all, body) = search(serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hit_ids(&all), ids);
    assert!(all["next_cursor"].is_null());
    // Pages of two, following the cursor, give the same hits in the same order.
    let mut seen = Vec::new();
    let mut cursor = None::<String>;
    for page in 0.. {
        let q = match &cursor {
            Some(c) => serde_json::json!({"limit": 2, "cursor": c}),
            None => serde_json::json!({"limit": 2}),
        };
        let (status, j, body) = search(q).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(hit_ids(&j));
        cursor = j["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            assert_eq!(page, 2);
            break;
        }
    }
    assert_eq!(seen, ids);
    // Filters: unit, nurse.
    let (_, j, _) =
        search(serde_json::json!({"care_unit": "SE2321000016-1177", "nurse": "SE2321000016-N001"}))
            .await;
    assert_eq!(hit_ids(&j).len(), 5);
    let (_, j, _) = search(serde_json::json!({"nurse": "SE2321000016-N002"})).await;
    assert!(hit_ids(&j).is_empty());
    // Bad parameters are named.
    for (q, want) in [
        (serde_json::json!({"limit": 0}), "limit must be"),
        (serde_json::json!({"limit": "abc"}), "request body"),
        (
            serde_json::json!({"cursor": "nonsense"}),
            "cursor is not one this server issued",
        ),
        (serde_json::json!({"care_unit": "x"}), "care_unit"),
        (serde_json::json!({"nurse": "x"}), "nurse"),
        (serde_json::json!({"surname": "x"}), "unknown field"),
    ] {
        let (status, _, body) = search(q.clone()).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.contains(want), "{q}: {body}");
        assert!(!body.contains(&pnr), "{body}");
    }
    // The audit event records the parameters (never the patient in clear).
    let size = audit_size(&w);
    let _ = search(serde_json::json!({"nurse": "SE2321000016-N001", "limit": 3})).await;
    let mut details = Vec::new();
    w.vault
        .catalog()
        .for_each_audit_leaf(size, size + 1, &mut |_, data, _| {
            details = callvault_audit::event::AuditEvent::decode(data)
                .expect("event")
                .details;
            Ok(())
        })
        .expect("read");
    assert!(details.contains(&("nurse".to_owned(), "SE2321000016-N001".to_owned())));
    assert!(details.contains(&("limit".to_owned(), "4".to_owned())));
}

/// Metrics are for operators: a nurse and a recorder are refused (found by the API fuzzer's
/// role boundary check), the operator system gets the exposition.
#[tokio::test]
async fn metrics_are_for_operators_only() {
    let w = world().await;
    for who in ["nurse-a", "recorder-a", "reviewer-a"] {
        let r = get(&w, &w.pki, Some(who), "/metrics", None)
            .await
            .expect("response");
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 403, "{who}: {text}");
        assert!(text.contains("operate right"), "{text}");
    }
    let r = get(&w, &w.pki, Some("operator-a"), "/metrics", None)
        .await
        .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 200, "{text}");
    assert!(text.contains("callvault_recordings "), "{text}");
}

/// A query string that does not deserialize is answered as a problem like every other
/// refusal (the API fuzzer found plain-text answers), without the values it refused.
#[tokio::test]
async fn extractor_rejections_are_problems_without_the_refused_values() {
    let w = world().await;
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        "/api/v1/audit/checkpoint?cosigned=191212121212",
        None,
    )
    .await
    .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 400, "{text}");
    assert_eq!(
        r.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..]),
        "{text}"
    );
    assert!(!text.contains("191212121212"), "{text}");
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        "/api/v1/recordings/1?purpose=a&purpose=b",
        None,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("duplicate field `purpose`"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
