//! Recordings cut short: refused unless the recorder says why, then stored and flagged.

use crate::{get, upload, upload_meta, world};

/// A recording cut short is refused unless the recorder says why; with a reason it is stored,
/// flagged, with the duration of the audio that arrived (a call cut off must not vanish).
#[tokio::test]
async fn a_short_upload_is_refused_unless_flagged_incomplete_with_a_reason() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let half = &wav[..wav.len() / 2];
    let meta = upload_meta(
        "cut-1",
        "SE2321000016-1177",
        &callvault_vault::demo::personnummer(70),
    );
    let r = upload(&w, "recorder-a", &meta, half).await.expect("upload");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let flagged = meta.replacen(
        '}',
        r#","incomplete":"cut off: the recorder restarted mid-call"}"#,
        1,
    );
    let r = upload(&w, "recorder-a", &flagged, half)
        .await
        .expect("upload");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let id = body["id"].as_str().expect("id");
    assert_eq!(body["size"].as_u64(), Some(half.len() as u64));
    let full_ms = w
        .vault
        .catalog()
        .recording(&callvault_types::RecordingId::parse(&w.rec_a).expect("id"))
        .expect("q")
        .expect("row")
        .rec
        .duration_ms;
    let ms = body["duration_ms"].as_u64().expect("duration");
    assert!(ms < full_ms && ms > full_ms / 3, "{ms} of {full_ms}");
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
    assert_eq!(m["incomplete"], "cut off: the recorder restarted mid-call");
    // A reason that is not one line is refused with what is wrong.
    let bad = meta
        .replace("cut-1", "cut-2")
        .replacen('}', r#","incomplete":"two\nlines"}"#, 1);
    let r = upload(&w, "recorder-a", &bad, half).await.expect("upload");
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("metadata incomplete"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
