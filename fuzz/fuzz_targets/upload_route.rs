//! `POST /api/v1/recordings` through the real router and a real vault: the input is the
//! multipart body (boundary `cvfuzz`). No input may cause a server error, and a refused
//! upload leaves nothing: no recording, no blob, no temporary file.
#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::Request;
use callvault_fuzz::{BOUNDARY, UploadWorld, assert_no_long_number};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

static WORLD: LazyLock<UploadWorld> = LazyLock::new(UploadWorld::new);

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    let recordings = w.vault.catalog().stats().expect("stats").recordings;
    let files = w.site_files();
    let mut req = Request::post("/api/v1/recordings")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("request");
    req.extensions_mut().insert(w.recorder.clone());
    let (status, body) = w.rt.block_on(async {
        let resp = w.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    });
    let text = String::from_utf8_lossy(&body);
    assert!(!status.is_server_error(), "{status}: {text}");
    assert_eq!(
        w.temporaries(),
        0,
        "a temporary file is left: {status} {text}"
    );
    if status.is_success() {
        assert!(w.site_files() >= files);
    } else {
        assert_no_long_number("an upload refusal", &text, data);
        assert_eq!(
            w.vault.catalog().stats().expect("stats").recordings,
            recordings,
            "a refused upload left a recording: {status} {text}"
        );
        assert_eq!(
            w.site_files(),
            files,
            "a refused upload left a blob: {status} {text}"
        );
    }
});
