//! Streamed uploads: idempotent, bad ones leave nothing, and an unwritable site gives an
//! acknowledgement from the other or a 503 to retry.

use crate::world::*;

pub(crate) fn multipart(metadata: &str, audio: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let boundary = "callvault-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n").as_bytes());
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"call.wav\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes());
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        vec![(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )],
        body,
    )
}

pub(crate) fn upload_meta(call_id: &str, unit: &str, pnr: &str) -> String {
    format!(
        r#"{{"care_provider":"{CP_A}","care_unit":"{unit}","call_id":"{call_id}","started_at":"2026-11-01T09:00:00Z","patient_id":"{pnr}","caller_number":"+46709876543","nurse_hsa_id":"SE2321000016-N001"}}"#
    )
}

/// `POST /api/v1/recordings` as `who` with a metadata part and an audio part.
pub(crate) async fn upload(
    w: &World,
    who: &str,
    meta: &str,
    audio: &[u8],
) -> Result<Reply, String> {
    let (h, body) = multipart(meta, audio);
    send(w, &w.pki, Some(who), "POST", "/api/v1/recordings", &h, body).await
}

/// Uploads demo call 1's audio as a new call at the other unit of care provider A (which
/// nurse-a reaches only through emergency access), for patient `demo::personnummer(n)`;
/// returns the recording id.
pub(crate) async fn upload_other_unit(w: &World, call_id: &str, n: u64) -> String {
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let meta = upload_meta(
        call_id,
        "SE2321000016-1178",
        &callvault_vault::demo::personnummer(n),
    );
    let up = upload(w, "recorder-a", &meta, &wav).await.expect("upload");
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let v: serde_json::Value = serde_json::from_slice(&up.body).expect("json");
    v["id"].as_str().expect("id").to_owned()
}

/// Recordings catalogued and blobs stored at the sites.
pub(crate) fn stored(w: &World) -> (u64, usize) {
    (
        w.vault.catalog().stats().expect("stats").recordings,
        objects(w),
    )
}

/// No temporary upload is left at any site.
pub(crate) fn assert_no_temporaries(w: &World) {
    for site in ["a", "b"] {
        let tmp = w._dir.path().join("data/sites").join(site).join("tmp");
        assert_eq!(
            std::fs::read_dir(&tmp).expect("tmp").count(),
            0,
            "{}",
            tmp.display()
        );
    }
}

pub(crate) fn objects(w: &World) -> usize {
    callvault_testkit::files_under(&w._dir.path().join("data/sites"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/objects/"))
        .count()
}

#[tokio::test]
async fn uploads_are_streamed_idempotent_and_bad_ones_leave_nothing() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(77);
    let post = |who: &'static str, meta: String, audio: Vec<u8>| {
        let w = &w;
        async move { upload(w, who, &meta, &audio).await.expect("response") }
    };
    let before = (
        w.vault.catalog().stats().expect("stats").recordings,
        objects(&w),
    );

    // A recorder delivers: 201, and the nurse of that unit can then play it.
    let r = post(
        "recorder-a",
        upload_meta("up-1", "SE2321000016-1177", &pnr),
        wav.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let id = json["id"].as_str().expect("id").to_owned();
    assert_eq!(json["size"].as_u64(), Some(wav.len() as u64));
    assert_eq!(json["sites"].as_array().expect("sites").len(), 2);
    assert!(
        json["retention_until"]
            .as_str()
            .expect("retention")
            .starts_with("2036-11-01")
    );
    let audio = format!("/api/v1/recordings/{id}/audio?purpose=vard-och-behandling");
    let played = get(&w, &w.pki, Some("nurse-a"), &audio, None)
        .await
        .expect("response");
    assert_eq!((played.status, played.body == wav), (200, true));

    // Idempotent: same call id and audio → the same recording; other audio → 409.
    let again = post(
        "recorder-a",
        upload_meta("up-1", "SE2321000016-1177", &pnr),
        wav.clone(),
    )
    .await;
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let j: serde_json::Value = serde_json::from_slice(&again.body).expect("json");
    assert_eq!(j["id"].as_str(), Some(id.as_str()));
    assert_eq!(j["existing"].as_bool(), Some(true));
    assert_eq!(j["sites"].as_array().expect("sites").len(), 2);
    // The re-delivery is itself an audit event, naming the recording it matched.
    let leaf = j["audit_leaf_index"].as_u64().expect("leaf");
    let mut seen = None;
    w.vault
        .catalog()
        .for_each_audit_leaf(leaf, leaf + 1, &mut |_, data, _| {
            seen = Some(callvault_audit::event::AuditEvent::decode(data).expect("event"));
            Ok(())
        })
        .expect("read");
    let e = seen.expect("event at the leaf");
    assert_eq!(e.action.code(), "recording.redeliver");
    assert_eq!(e.recording.map(|r| r.id.to_string()), Some(id.clone()));
    let mut other = wav.clone();
    let n = other.len();
    other[n - 1] ^= 1;
    assert_eq!(
        post(
            "recorder-a",
            upload_meta("up-1", "SE2321000016-1177", &pnr),
            other
        )
        .await
        .status,
        409
    );
    let after_good = (before.0 + 1, before.1 + 2);
    assert_eq!(
        (
            w.vault.catalog().stats().expect("stats").recordings,
            objects(&w)
        ),
        after_good
    );

    // Refused or bad uploads store nothing.
    let cases: Vec<(&'static str, String, Vec<u8>, u16, &str)> = vec![
        (
            "nurse-a",
            upload_meta("up-2", "SE2321000016-1177", &pnr),
            wav.clone(),
            403,
            "persons",
        ),
        (
            "recorder-b",
            upload_meta("up-3", "SE2321000016-1177", &pnr),
            wav.clone(),
            403,
            "another care provider",
        ),
        (
            "recorder-a",
            upload_meta("up-4", "SE2321000016-1177", &pnr),
            b"not a wav file at all".to_vec(),
            400,
            "not a WAV",
        ),
        (
            "recorder-a",
            upload_meta("up-5", "SE2321000016-1177", &pnr),
            wav[..wav.len() / 2].to_vec(),
            400,
            "promises at least",
        ),
        (
            "recorder-a",
            upload_meta("up-6", "SE2321000016-1177", "19121212-1213"),
            wav.clone(),
            400,
            "check digit",
        ),
        (
            "recorder-a",
            upload_meta("up-7", "SE2321000156-1177", &pnr),
            wav.clone(),
            400,
            "does not belong to care provider",
        ),
        (
            "recorder-a",
            "{\"care_provider\": 42}".to_owned(),
            wav.clone(),
            400,
            "JSON object of strings",
        ),
    ];
    for (who, meta, audio, status, want) in cases {
        let r = post(who, meta, audio).await;
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, status, "{want}: {body}");
        assert!(body.contains(want), "want {want:?} in {body}");
        assert!(
            !body.contains("1213") && !body.contains(&pnr),
            "no patient id in problems: {body}"
        );
    }
    // A body that is not multipart at all.
    let h = vec![("content-type", "multipart/form-data; boundary=x".to_owned())];
    let r = send(
        &w,
        &w.pki,
        Some("recorder-a"),
        "POST",
        "/api/v1/recordings",
        &h,
        b"garbage".to_vec(),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        (
            w.vault.catalog().stats().expect("stats").recordings,
            objects(&w)
        ),
        after_good
    );
    // And no temporary upload was left at any site.
    assert_no_temporaries(&w);
}

/// Storage faults seen by a recorder: with one site unwritable the upload is acknowledged
/// from the other (and the response names only it); with no site writable it is refused
/// with `503` and `Retry-After: 30`, nothing is stored, and the same delivery succeeds once the
/// sites are back.
#[tokio::test]
async fn unwritable_sites_give_an_acknowledgement_from_the_other_or_a_503_to_retry() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(78);
    let sites = w._dir.path().join("data/sites");
    let before = stored(&w);
    let meta = upload_meta("fault-1", "SE2321000016-1177", &pnr);
    {
        let _b = callvault_testkit::Unwritable::new(&sites.join("b/tmp"));
        let r = upload(&w, "recorder-a", &meta, &wav)
            .await
            .expect("response");
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(json["sites"], serde_json::json!(["a"]));
    }
    assert_eq!(stored(&w), (before.0 + 1, before.1 + 1));
    let meta = upload_meta("fault-2", "SE2321000016-1177", &pnr);
    {
        let _a = callvault_testkit::Unwritable::new(&sites.join("a/tmp"));
        let _b = callvault_testkit::Unwritable::new(&sites.join("b/tmp"));
        let r = upload(&w, "recorder-a", &meta, &wav)
            .await
            .expect("response");
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"30"[..]),
            "{:?}",
            r.headers
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.contains("nothing was stored"), "{body}");
        assert!(!body.contains(&pnr) && !body.contains("/tmp"), "{body}");
    }
    assert_eq!(stored(&w), (before.0 + 1, before.1 + 1));
    assert_no_temporaries(&w);
    let r = upload(&w, "recorder-a", &meta, &wav)
        .await
        .expect("response");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}
