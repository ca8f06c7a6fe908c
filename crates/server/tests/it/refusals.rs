//! Every request that names a protected resource or a person is an audit event, granted or
//! refused, however early it is refused; and "does not exist" answers exactly as "not
//! yours". Each case is a finding of the independent probe of the running demo, over TLS.

use callvault_audit::event::{AuditEvent, Outcome};

use crate::{World, audit_size, get, send, upload_other_unit, world};

/// The events written since `from`.
fn events_since(w: &World, from: u64) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    w.vault
        .catalog()
        .for_each_audit_leaf(from, audit_size(w), &mut |_, data, _| {
            out.push(AuditEvent::decode(data).expect("event"));
            Ok(())
        })
        .expect("read");
    out
}

fn detail<'a>(e: &'a AuditEvent, key: &str) -> Option<&'a str> {
    e.details
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Sends one request and returns its status and the one refusal event it wrote.
async fn refused_once(
    w: &World,
    who: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, String, AuditEvent) {
    let before = audit_size(w);
    let r = send(w, &w.pki, Some(who), method, path, headers, Vec::new())
        .await
        .expect("response");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let mut events = events_since(w, before);
    assert_eq!(
        events.len(),
        1,
        "{method} {path}: exactly one audit event, got {events:?} ({}: {body})",
        r.status
    );
    let e = events.remove(0);
    assert!(
        matches!(e.outcome, Outcome::Denied(_)),
        "{method} {path}: recorded as refused: {e:?}"
    );
    (r.status, body, e)
}

const CARE: &str = "purpose=vard-och-behandling";

#[tokio::test]
async fn a_recording_that_does_not_exist_is_refused_exactly_as_another_providers_and_both_are_audited()
 {
    let w = world().await;
    // A well-formed id no recording has.
    let absent = "0190f3b2-0000-7000-8000-000000000000";
    assert!(
        w.vault
            .recording_resource(&callvault_types::RecordingId::parse(absent).expect("id"))
            .expect("lookup")
            .is_none()
    );
    for (suffix, action) in [("", "recording.view"), ("/audio", "recording.play")] {
        let real = format!("/api/v1/recordings/{}{suffix}?{CARE}", w.rec_a);
        let fake = format!("/api/v1/recordings/{absent}{suffix}?{CARE}");
        let (s1, b1, e1) = refused_once(&w, "nurse-b", "GET", &real, &[]).await;
        let (s2, b2, e2) = refused_once(&w, "nurse-b", "GET", &fake, &[]).await;
        assert_eq!(s1, s2, "same status");
        assert_eq!(
            b1.replace(&w.rec_a, "ID"),
            b2.replace(absent, "ID"),
            "same body"
        );
        assert_eq!(s1, 404);
        for e in [&e1, &e2] {
            assert_eq!(e.action.code(), action);
            assert_eq!(
                e.actor,
                callvault_audit::event::Actor::Person(
                    callvault_types::HsaId::parse("SE2321000156-N001").expect("hsa")
                )
            );
        }
        // The log reviewer can tell them apart; the caller cannot.
        assert!(e1.recording.is_some() && e1.patient.is_some(), "{e1:?}");
        assert_eq!(detail(&e2, "recording"), Some(absent));
        assert_eq!(detail(&e2, "recording_exists"), Some("false"));
        assert_eq!(
            e2.actor_care_provider.as_ref().map(|c| c.as_str()),
            Some("SE2321000156-0001"),
            "the caller's own log reviewers see the probe"
        );
    }
    // A caller without any assignment for the purpose gets the same answer either way too.
    let real = format!("/api/v1/recordings/{}?purpose=kvalitetssakring", w.rec_a);
    let fake = format!("/api/v1/recordings/{absent}?purpose=kvalitetssakring");
    let (s1, b1, _) = refused_once(&w, "nurse-b", "GET", &real, &[]).await;
    let (s2, b2, _) = refused_once(&w, "nurse-b", "GET", &fake, &[]).await;
    assert_eq!((s1, b1), (s2, b2));
}

#[tokio::test]
async fn refusals_before_the_policy_are_audited() {
    let w = world().await;
    let meta = format!("/api/v1/recordings/{}", w.rec_a);
    let audio = format!("/api/v1/recordings/{}/audio?{CARE}", w.rec_a);
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "missing purpose",
            meta.clone(),
            vec![],
            "purpose is required",
        ),
        (
            "query and header disagree",
            format!("{meta}?{CARE}"),
            vec![("x-callvault-purpose", "kvalitetssakring".into())],
            "different values",
        ),
        (
            "duplicated purpose header",
            meta.clone(),
            vec![
                ("x-callvault-purpose", "vard-och-behandling".into()),
                ("x-callvault-purpose", "kvalitetssakring".into()),
            ],
            "more than once",
        ),
        (
            "malformed Range",
            audio.clone(),
            vec![("range", "bytes=9-1".into())],
            "malformed",
        ),
    ];
    for (what, path, headers, says) in cases {
        let (status, body, e) = refused_once(&w, "nurse-a", "GET", &path, &headers).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
        let Outcome::Denied(reason) = &e.outcome else {
            unreachable!()
        };
        assert!(
            reason.contains(says),
            "{what}: the reason is recorded: {reason}"
        );
        assert_eq!(detail(&e, "status"), Some("400"), "{what}");
        assert!(
            detail(&e, "route").is_some_and(|r| r.starts_with("/api/v1/recordings/{id}")),
            "{what}: the route template, never the concrete path: {e:?}"
        );
        assert!(e.recording.is_some(), "{what}: names the recording");
        assert!(
            e.patient.is_some(),
            "{what}: belongs in the patient's log extract"
        );
        assert_eq!(
            e.care_provider.as_ref().map(|c| c.as_str()),
            Some(crate::CP_A)
        );
    }
}

#[tokio::test]
async fn an_unsatisfiable_range_head_and_metrics_refusals_are_audited() {
    let w = world().await;
    let wav_len = std::fs::metadata(w.archive.join("call-0000.wav"))
        .expect("wav")
        .len();
    let audio = format!("/api/v1/recordings/{}/audio?{CARE}", w.rec_a);
    // 416 tells an authorized caller the plaintext size: an audit event.
    let (status, body, e) = refused_once(
        &w,
        "nurse-a",
        "GET",
        &audio,
        &[("range", format!("bytes={wav_len}-"))],
    )
    .await;
    assert_eq!(status, 416, "{body}");
    assert_eq!(e.action.code(), "recording.play");
    assert_eq!(detail(&e, "status"), Some("416"));
    assert!(e.recording.is_some());

    // HEAD is not a play: refused (405), recorded as a refusal, no audio event.
    let (status, _, e) = refused_once(&w, "nurse-a", "HEAD", &audio, &[]).await;
    assert_eq!(status, 405);
    assert_eq!(detail(&e, "method"), Some("HEAD"));
    assert!(matches!(e.outcome, Outcome::Denied(_)));

    // /metrics, refused to a nurse.
    let (status, _, e) = refused_once(&w, "nurse-a", "GET", "/metrics", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(e.action.code(), "status.read");
    assert_eq!(detail(&e, "route"), Some("/metrics"));
    assert_eq!(
        e.actor_care_provider.as_ref().map(|c| c.as_str()),
        Some(crate::CP_A)
    );
}

/// Regression: a 40,000-character emergency reason gave a 500 ("value is too long to
/// encode") and no audit event.
#[tokio::test]
async fn an_overlong_emergency_reason_is_a_recorded_refusal_not_an_internal_error() {
    let w = world().await;
    let id = upload_other_unit(&w, "other-unit-long", 81).await;
    let path = format!("/api/v1/recordings/{id}?{CARE}");
    let (status, body, e) = refused_once(
        &w,
        "nurse-a",
        "GET",
        &path,
        &[("x-callvault-emergency-reason", "lång ".repeat(3000))],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("at most 1000 characters"), "{body}");
    assert_eq!(detail(&e, "emergency_access"), Some("requested"));
}

/// The web player's emergency grant belongs to one certificate and one recording: shown by
/// another certificate, or used on another recording, it is refused and recorded.
#[tokio::test]
async fn a_web_emergency_grant_used_by_another_certificate_or_on_another_recording_is_audited() {
    let w = world().await;
    let id = upload_other_unit(&w, "other-unit-web", 82).await;
    // The call page of another unit asks for emergency access (and records the refusal).
    let (status, page, e) =
        refused_once(&w, "nurse-a", "GET", &format!("/ui/calls/{id}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(e.action.code(), "recording.view");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf token")
        .to_owned();
    let form = format!("csrf={csrf}&reason=Patienten+ringer+%C3%A5ter%2C+br%C3%B6stsm%C3%A4rta");
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "POST",
        &format!("/ui/calls/{id}/emergency"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        form.into_bytes(),
    )
    .await
    .expect("emergency");
    let page = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 200, "{page}");
    let grant = page
        .split("grant=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("grant in the player's source")
        .to_owned();
    // Another certificate presents the grant.
    let (status, _, e) = refused_once(
        &w,
        "investigator-a",
        "GET",
        &format!("/ui/calls/{id}/audio?grant={grant}"),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(e.action.code(), "recording.play");
    assert!(e.recording.is_some());
    let Outcome::Denied(reason) = &e.outcome else {
        unreachable!()
    };
    assert!(reason.contains("grant"), "{reason}");
    // The grant on another recording.
    let (status, _, e) = refused_once(
        &w,
        "nurse-a",
        "GET",
        &format!("/ui/calls/{}/audio?grant={grant}", w.rec_a),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        e.actor,
        callvault_audit::event::Actor::Person(
            callvault_types::HsaId::parse("SE2321000016-N001").expect("hsa")
        )
    );
    // The grant's owner on its recording plays it.
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &format!("/ui/calls/{id}/audio?grant={grant}"),
        None,
    )
    .await
    .expect("play");
    assert_eq!(r.status, 200);
}
