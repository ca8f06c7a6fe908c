//! A live call delivered without a patient, found by its unit and call id, linked to its
//! patient by the nurse who took it and corrected with a reason — every step, granted or
//! refused, an audit event; the patient never in a URL.

use callvault_audit::event::{Action as EventAction, AuditEvent, Outcome};

use crate::{audit_size, get, search_post, send, upload, world};

const UNIT: &str = "SE2321000016-1177";

fn meta_without_patient(call_id: &str, nurse: &str) -> String {
    format!(
        r#"{{"care_provider":"{}","care_unit":"{UNIT}","call_id":"{call_id}","started_at":"2026-11-01T09:00:00Z","nurse_hsa_id":"{nurse}"}}"#,
        crate::CP_A
    )
}

async fn link(w: &crate::World, who: &str, id: &str, body: serde_json::Value) -> crate::Reply {
    send(
        w,
        &w.pki,
        Some(who),
        "POST",
        &format!("/api/v1/recordings/{id}/patient?purpose=vard-och-behandling"),
        &[("content-type", "application/json".to_owned())],
        body.to_string().into_bytes(),
    )
    .await
    .expect("response")
}

fn last_event(w: &crate::World) -> AuditEvent {
    let data = w
        .vault
        .catalog()
        .audit_event(audit_size(w) - 1)
        .expect("q")
        .expect("event");
    AuditEvent::decode(&data).expect("decode")
}

#[tokio::test]
async fn a_call_uploaded_without_a_patient_is_found_by_call_id_and_linked_by_its_nurse() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let r = upload(
        &w,
        "recorder-a",
        &meta_without_patient("live-1", "SE2321000016-N001"),
        &wav,
    )
    .await
    .expect("upload");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Found by its care unit and call id, unlinked.
    let r = search_post(
        &w,
        "nurse-a",
        "purpose=vard-och-behandling",
        serde_json::json!({"care_unit": UNIT, "call_id": "live-1"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(hits["recordings"][0]["id"], id.as_str());
    assert_eq!(hits["recordings"][0]["linked"], false);
    // A patient and a call at once is refused, as is a call without its unit.
    for body in [
        serde_json::json!({"care_unit": UNIT, "call_id": "live-1", "patient": "191212121212"}),
        serde_json::json!({"call_id": "live-1"}),
    ] {
        let r = search_post(&w, "nurse-a", "purpose=vard-och-behandling", body).await;
        assert_eq!(r.status, 400);
        assert!(!String::from_utf8_lossy(&r.body).contains("1212"));
    }

    // The nurse who took the call links it; the patient is in the body only.
    let patient = callvault_vault::demo::personnummer(71);
    let r = link(
        &w,
        "nurse-a",
        &id,
        serde_json::json!({"patient_id": patient}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        (b["link"].as_u64(), b["corrected"].as_bool()),
        (Some(1), Some(false))
    );
    let e = last_event(&w);
    assert_eq!(e.action, EventAction::PatientLink);
    assert!(e.patient.is_some());
    let m = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/recordings/{id}?purpose=vard-och-behandling"),
        None,
    )
    .await
    .expect("metadata");
    let m: serde_json::Value = serde_json::from_slice(&m.body).expect("json");
    assert_eq!(
        m["patient_id"].as_str(),
        Some(patient.replace('-', "").as_str())
    );
    assert_eq!(m["links"][0]["linked_by"], "person:SE2321000016-N001");

    // A correction without a reason is refused, and the refusal is an audit event.
    let before = audit_size(&w);
    let other = callvault_vault::demo::personnummer(72);
    let r = link(&w, "nurse-a", &id, serde_json::json!({"patient_id": other})).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        audit_size(&w) > before,
        "the refused correction is recorded"
    );
    assert!(matches!(last_event(&w).outcome, Outcome::Denied(_)));
    // With a reason it is a new link that keeps the old one.
    let r = link(
        &w,
        "nurse-a",
        &id,
        serde_json::json!({"patient_id": other, "reason": "fel patient vald i listan"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        (b["link"].as_u64(), b["corrected"].as_bool()),
        (Some(2), Some(true))
    );
    let rid = callvault_types::RecordingId::parse(&id).expect("id");
    assert_eq!(w.vault.catalog().patient_links(&rid).expect("q").len(), 2);

    // Another region's nurse gets the answer a recording that does not exist gets.
    let foreign = link(&w, "nurse-b", &id, serde_json::json!({"patient_id": other})).await;
    let missing = link(
        &w,
        "nurse-b",
        "00000000-0000-4000-8000-000000000000",
        serde_json::json!({"patient_id": other}),
    )
    .await;
    assert_eq!((foreign.status, missing.status), (404, 404));
    assert!(matches!(last_event(&w).outcome, Outcome::Denied(_)));

    // A call another nurse took: nurse-a may not link it (403, audited).
    let r = upload(
        &w,
        "recorder-a",
        &meta_without_patient("live-2", "SE2321000016-N009"),
        &wav,
    )
    .await
    .expect("upload");
    assert_eq!(r.status, 201);
    let id2 = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = link(
        &w,
        "nurse-a",
        &id2,
        serde_json::json!({"patient_id": patient}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("took the call"));
    let e = last_event(&w);
    assert_eq!(e.action, EventAction::PatientLink);
    assert!(matches!(e.outcome, Outcome::Denied(_)));
    // A malformed patient id is refused without echoing it.
    let r = link(
        &w,
        "nurse-a",
        &id,
        serde_json::json!({"patient_id": "19121212-1213"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(!String::from_utf8_lossy(&r.body).contains("1213"));
}

/// The call page offers the nurse who took an unlinked call a form to link it (in Swedish);
/// the link is made and the page shows the patient and the history.
#[tokio::test]
async fn the_call_page_links_an_unlinked_call_for_the_nurse_who_took_it() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let r = upload(
        &w,
        "recorder-a",
        &meta_without_patient("live-web", "SE2321000016-N001"),
        &wav,
    )
    .await
    .expect("upload");
    assert_eq!(r.status, 201);
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The search page finds the call by its unit and call id, marked as not linked.
    let form_page = get(&w, &w.pki, Some("nurse-a"), "/ui/search", None)
        .await
        .expect("search form");
    let form_page = String::from_utf8_lossy(&form_page.body).into_owned();
    assert!(
        form_page.contains("Hitta ett samtal med samtals-id"),
        "{form_page}"
    );
    let token = form_page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_owned();
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "POST",
        "/ui/search",
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        format!("csrf={token}&care_unit={UNIT}&call_id=live-web").into_bytes(),
    )
    .await
    .expect("call search");
    let hits = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 200, "{hits}");
    assert!(hits.contains(&format!("/ui/calls/{id}")), "{hits}");
    assert!(hits.contains("Inte kopplat till patient"), "{hits}");
    // Care units by their configured name, with the HSA-ID.
    assert!(
        hits.contains(&format!("1177 Vårdguiden Stockholm, dag (demo) ({UNIT})")),
        "{hits}"
    );

    let call = format!("/ui/calls/{id}?purpose=vard-och-behandling");
    let r = get(&w, &w.pki, Some("nurse-a"), &call, None)
        .await
        .expect("page");
    let page = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 200, "{page}");
    assert!(page.contains("Inte kopplat till patient"), "{page}");
    assert!(page.contains("Koppla samtalet till patient"), "{page}");
    // The nurse by name, with her HSA-ID.
    assert!(
        page.contains("Anna Andersson (SE2321000016-N001)"),
        "{page}"
    );
    assert!(
        page.contains(&format!("1177 Vårdguiden Stockholm, dag (demo) ({UNIT})")),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_owned();
    let post = format!("/ui/calls/{id}/patient");
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let form = |body: String| {
        send(
            &w,
            &w.pki,
            Some("nurse-a"),
            "POST",
            &post,
            &headers,
            body.into_bytes(),
        )
    };
    // A wrong check digit is named, never echoed.
    let r = form(format!("csrf={csrf}&patient_id=19121212-1213"))
        .await
        .expect("post");
    assert_eq!(r.status, 400);
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("Kontrollsiffran"), "{page}");
    assert!(!page.contains("1213"), "{page}");
    let patient = callvault_vault::demo::personnummer(73);
    let r = form(format!("csrf={csrf}&patient_id={patient}"))
        .await
        .expect("post");
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let r = get(&w, &w.pki, Some("nurse-a"), &call, None)
        .await
        .expect("page");
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("Rätta kopplingen till patient"), "{page}");
    assert!(page.contains("id=\"links\""), "{page}");
    // A correction without its reason is refused with the reason in Swedish.
    let other = callvault_vault::demo::personnummer(74);
    let r = form(format!("csrf={csrf}&patient_id={other}"))
        .await
        .expect("post");
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("en rättelse behöver ett skäl"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
