//! The web UI over TLS: what each person is offered, and how a bad input is answered.

use crate::{audit_size, get, send, world};

/// Each person is offered only what their assignments allow: "search calls" for nurses and
/// investigators, never for a log reviewer or an administrator (it could only be refused).
#[tokio::test]
async fn the_web_ui_offers_call_search_only_to_those_who_may_search() {
    let w = world().await;
    for (who, offered) in [("nurse-a", true), ("reviewer-a", false), ("admin-a", false)] {
        let r = get(&w, &w.pki, Some(who), "/", None).await.expect("home");
        assert_eq!(r.status, 200);
        let page = String::from_utf8_lossy(&r.body);
        assert_eq!(page.contains("href=\"/ui/search\""), offered, "{who}");
    }
}

/// A personnummer with a wrong check digit: the search form again, saying what is wrong next
/// to the field, with the input kept — not a vague error page; the refusal is recorded.
#[tokio::test]
async fn a_wrong_check_digit_is_named_next_to_the_field_and_the_form_is_kept() {
    let w = world().await;
    let home = get(&w, &w.pki, Some("nurse-a"), "/ui/search", None)
        .await
        .expect("form");
    let page = String::from_utf8_lossy(&home.body).into_owned();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_owned();
    let before = audit_size(&w);
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
        format!("csrf={csrf}&patient=19121212-1213&from=2026-01-01&to=&care_unit=").into_bytes(),
    )
    .await
    .expect("search");
    let page = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 400);
    assert!(page.contains("id=\"patient-error\""), "{page}");
    assert!(page.contains("Kontrollsiffran stämmer inte"), "{page}");
    assert!(
        page.contains("value=\"19121212-1213\""),
        "the input is kept"
    );
    assert!(
        page.contains("value=\"2026-01-01\""),
        "the other fields too"
    );
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    assert_eq!(audit_size(&w), before + 1, "the refusal is recorded");
}

/// The log reviewer reads the log in Swedish: what was done in words (the stable code beside
/// it), the outcome in Swedish, and people by name with their HSA-ID.
#[tokio::test]
async fn the_review_page_names_people_and_actions_in_swedish() {
    let w = world().await;
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a),
        None,
    )
    .await
    .expect("metadata");
    assert_eq!(r.status, 200);
    // A refusal by the policy (recorded in English) is shown in Swedish.
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/recordings/{}?purpose=kvalitetssakring", w.rec_a),
        None,
    )
    .await
    .expect("refused metadata");
    assert_eq!(r.status, 403);
    // A request refused before the policy ran (no purpose) keeps the answer's text, introduced
    // in Swedish.
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/api/v1/recordings/{}", w.rec_a),
        None,
    )
    .await
    .expect("no purpose");
    assert_eq!(r.status, 400);
    let r = get(&w, &w.pki, Some("reviewer-a"), "/ui/review", None)
        .await
        .expect("review");
    let page = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 200, "{page}");
    assert!(
        page.contains("Anna Andersson (SE2321000016-N001)"),
        "{page}"
    );
    assert!(page.contains("Uppgifter om samtal lästa"), "{page}");
    assert!(page.contains("recording.view"), "{page}");
    assert!(page.contains("<td>beviljad</td>"), "{page}");
    assert!(
        page.contains("nekad: du har inget aktivt uppdrag för ändamålet"),
        "{page}"
    );
    assert!(!page.contains("no active assignment"), "{page}");
    assert!(
        page.contains("nekad: avvisad innan behörigheten prövades (HTTP 400; svaret löd:"),
        "{page}"
    );
    // Filtering by name works as by HSA-ID.
    let r = get(
        &w,
        &w.pki,
        Some("reviewer-a"),
        "/ui/review?actor=anna&action=",
        None,
    )
    .await
    .expect("filtered");
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("Anna Andersson"), "{page}");
    assert!(!page.contains("David Dahl (SE2321000016-L001)"), "{page}");
}
