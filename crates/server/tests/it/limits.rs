//! Limits and robustness over real TLS: upload sizes, stalled bodies, shutdown with an
//! upload in flight, many concurrent clients, purpose headers, TLS 1.2 only when configured.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::sync::Arc;

use callvault_server::{Limits, server_config};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::*;

/// Writes the head of an upload whose body is `total` bytes long, then the first `sent` bytes.
async fn start_upload(
    w: &World,
    meta: &str,
    audio: &[u8],
    sent: usize,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let (headers, body) = multipart(meta, audio);
    let mut tls = connect(w, client_config(&w.pki, &w.pki, Some("recorder-a")))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/recordings HTTP/1.1\r\nhost: localhost\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
        headers[0].1,
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&body[..sent]).await.expect("body");
    tls.flush().await.expect("flush");
    tls
}

/// Everything the server sends until it closes the connection (or `limit` passes).
async fn read_all(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    limit: Duration,
) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn oversized_and_stalled_uploads_are_refused_and_leave_nothing() {
    let limits = Limits {
        max_audio_bytes: 10_000,
        max_metadata_bytes: 600,
        idle_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let w = world_with(limits, false).await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    assert!(wav.len() > 10_000);
    let pnr = callvault_vault::demo::personnummer(78);
    let before = stored(&w);

    let meta = upload_meta("big-1", "SE2321000016-1177", &pnr);
    let r = upload(&w, "recorder-a", &meta, &wav)
        .await
        .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 413, "{text}");
    assert!(text.contains("larger than 10000 bytes"), "{text}");

    let padded = upload_meta("big-2", "SE2321000016-1177", &pnr).replace(
        "\"nurse_hsa_id\"",
        &format!("\"caller_number\":\"{}\",\"nurse_hsa_id\"", "1".repeat(700)),
    );
    let r = upload(&w, "recorder-a", &padded, &wav[..5000])
        .await
        .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 413, "{text}");
    assert!(text.contains("metadata is larger than 600 bytes"), "{text}");

    // A client that sends part of the audio and then nothing: 408 after the idle timeout.
    let small = &wav[..8000];
    let meta = upload_meta("slow-1", "SE2321000016-1177", &pnr);
    let mut tls = start_upload(&w, &meta, small, meta.len() + 400 + 4000).await;
    let answer = read_all(&mut tls, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("nothing was stored"), "{answer}");
    assert_eq!(stored(&w), before);
    assert_no_temporaries(&w);
}

#[tokio::test]
async fn shutdown_aborts_an_unfinished_upload_and_leaves_nothing() {
    let limits = Limits {
        shutdown_grace: Duration::from_millis(500),
        ..Limits::default()
    };
    let mut w = world_with(limits, false).await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(79);
    let before = stored(&w);
    let meta = upload_meta("cut-1", "SE2321000016-1177", &pnr);
    let mut tls = start_upload(&w, &meta, &wav, meta.len() + 400 + wav.len() / 2).await;
    // Let the server start the ingest (it has the header and half the audio).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = std::time::Instant::now();
    w.stop().await;
    assert!(stopped.elapsed() < Duration::from_secs(10));
    let answer = read_all(&mut tls, Duration::from_secs(5)).await;
    assert!(!answer.contains("201"), "{answer}");
    // The blocking ingest notices the abort and removes its blobs; give it a moment.
    for _ in 0..50 {
        if stored(&w) == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored(&w), before);
    assert_no_temporaries(&w);
    // And the listener is closed: new clients are refused.
    assert!(
        get(&w, &w.pki, Some("nurse-a"), "/healthz", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn many_concurrent_uploads_and_plays_all_succeed() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let recorded = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let before = stored(&w).0;
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        w.rec_a
    );
    let uploads = (0..12).map(|i| {
        let meta = upload_meta(
            &format!("many-{i}"),
            "SE2321000016-1177",
            &callvault_vault::demo::personnummer(100 + i),
        );
        let (w, wav) = (&w, &wav);
        async move { upload(w, "recorder-a", &meta, wav).await.map(|r| r.status) }
    });
    let plays = (0..24).map(|_| {
        let (w, audio) = (&w, &audio);
        async move {
            get(w, &w.pki, Some("nurse-a"), audio, None)
                .await
                .map(|r| (r.status, r.body))
        }
    });
    let (up, pl) = tokio::join!(
        futures_join_all(uploads.collect()),
        futures_join_all(plays.collect())
    );
    for r in up {
        assert_eq!(r.expect("upload"), 201);
    }
    for r in pl {
        let (status, body) = r.expect("play");
        assert_eq!(status, 200);
        assert!(body == recorded, "every play returns the whole recording");
    }
    assert_eq!(stored(&w).0, before + 12);
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[tokio::test]
async fn purpose_reason_and_case_number_may_come_as_headers() {
    let w = world().await;
    let meta = format!("/api/v1/recordings/{}", w.rec_a);
    let as_header = |v: &str| vec![("x-callvault-purpose", v.to_owned())];
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "GET",
        &meta,
        &as_header("vard-och-behandling"),
        Vec::new(),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = send(&w, &w.pki, Some("nurse-a"), "GET", &meta, &[], Vec::new())
        .await
        .expect("response");
    assert_eq!(r.status, 400);
    // Query and header disagreeing is a client error, not a silent choice.
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "GET",
        &format!("{meta}?purpose=kvalitetssakring"),
        &as_header("vard-och-behandling"),
        Vec::new(),
    )
    .await
    .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("different values"), "{text}");
    // An emergency reason in Swedish (UTF-8) reaches the policy and the audit event: a
    // recording of the other unit of the nurse's care provider.
    let id = crate::upload_other_unit(&w, "other-unit-1", 80).await;
    let other = format!("/api/v1/recordings/{id}");
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "GET",
        &other,
        &as_header("vard-och-behandling"),
        Vec::new(),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 403);
    let size = audit_size(&w);
    let r = send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "GET",
        &other,
        &[
            ("x-callvault-purpose", "vard-och-behandling".to_owned()),
            (
                "x-callvault-emergency-reason",
                "Patienten ringer åter, medvetslös enligt anhörig".to_owned(),
            ),
        ],
        Vec::new(),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut flagged = false;
    w.vault
        .catalog()
        .for_each_audit_leaf(size, size + 1, &mut |_, data, _| {
            let e = callvault_audit::event::AuditEvent::decode(data).expect("event");
            flagged = e
                .details
                .iter()
                .any(|(k, v)| k == "emergency_access" && v == "true");
            Ok(())
        })
        .expect("read");
    assert!(
        flagged,
        "the emergency access is flagged in the audit event"
    );
}

/// Post-quantum key exchange is on: a client that offers only the hybrid X25519MLKEM768
/// completes the handshake, and a client offering it among others (as browsers and rustls
/// do) gets it too.
#[tokio::test]
async fn a_client_offering_only_x25519mlkem768_completes_the_handshake() {
    use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    let w = world().await;
    let pq_only = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519MLKEM768],
        ..default_provider()
    };
    for (what, provider) in [
        ("only X25519MLKEM768", pq_only),
        ("the defaults", default_provider()),
    ] {
        let tls = connect(
            &w,
            client_config_with(provider, &w.pki, &w.pki, Some("nurse-a")),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (_, conn) = tls.get_ref();
        assert_eq!(
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            Some(rustls::NamedGroup::X25519MLKEM768),
            "{what}"
        );
        assert_eq!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
    }
    // And the server still answers over it.
    let r = health(&w, "nurse-a").await.expect("healthz");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn tls12_is_offered_only_when_configured_and_then_only_with_ecdhe_aead() {
    let tls12_only = |w: &World| {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&w.pki.root_ca).expect("root") {
            roots.add(c.expect("cert")).expect("add");
        }
        let (_, chain, key, _) = w
            .pki
            .clients
            .iter()
            .find(|c| c.0 == "nurse-a")
            .expect("client");
        let certs: Vec<_> = CertificateDer::pem_file_iter(chain)
            .expect("chain")
            .map(|c| c.expect("cert"))
            .collect();
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(key).expect("key"))
        .expect("client auth")
    };
    let strict = world().await;
    let refused = connect(&strict, tls12_only(&strict)).await;
    assert!(
        refused.is_err(),
        "TLS 1.2 must be refused unless configured"
    );

    let w = world_with(Limits::default(), true).await;
    let tls = connect(&w, tls12_only(&w)).await.expect("TLS 1.2");
    let (_, conn) = tls.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let suite = format!(
        "{:?}",
        conn.negotiated_cipher_suite().expect("suite").suite()
    );
    assert!(
        suite.starts_with("TLS_ECDHE_")
            && (suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305")),
        "{suite}"
    );
    // TLS 1.3 clients still get TLS 1.3.
    let modern = connect(&w, client_config(&w.pki, &w.pki, Some("nurse-a")))
        .await
        .expect("TLS 1.3");
    assert_eq!(
        modern.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_to_authenticated_clients() {
    let w = world().await;
    let r = get(&w, &w.pki, Some("nurse-a"), "/api/v1/openapi.json", None)
        .await
        .expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.body, callvault_server::app::OPENAPI.as_bytes());
    // Without a client certificate there is no handshake, so no document either.
    assert!(
        get(&w, &w.pki, None, "/api/v1/openapi.json", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_reloaded_crl_applies_to_new_connections_and_an_expired_one_refuses_everyone() {
    let mut w = world().await;
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(health(&w, "nurse-a").await.expect("before").status, 200);

    // The person CA revokes nurse-a; what SIGHUP does is rebuild the configuration from
    // the files and put it in force for new connections.
    w.crl_signer
        .write_crl(
            &["nurse-a"],
            now - time::Duration::minutes(5),
            now + time::Duration::days(7),
        )
        .expect("crl");
    let reload = |w: &World| {
        let config = server_config(&w.settings).expect("config");
        w.tls_tx.send(config).expect("send");
    };
    reload(&w);
    let refused = health(&w, "nurse-a").await;
    assert!(
        refused.is_err(),
        "revoked after reload: {:?}",
        refused.map(|r| r.status)
    );
    assert_eq!(
        health(&w, "investigator-a").await.expect("others").status,
        200
    );

    // An expired CRL is an error, not a pass: nobody of that CA gets in.
    w.crl_signer
        .write_crl(
            &[],
            now - time::Duration::days(40),
            now - time::Duration::days(10),
        )
        .expect("crl");
    reload(&w);
    assert!(
        health(&w, "investigator-a").await.is_err(),
        "an expired CRL must refuse its CA's certificates"
    );
    // Recorders (function CA, whose CRL is current) are unaffected.
    assert_eq!(
        health(&w, "recorder-a").await.expect("recorder").status,
        200
    );
}

#[tokio::test]
async fn a_dripping_upload_is_cut_off_and_uploads_beyond_the_limit_get_503() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(1),
        max_uploads: 1,
        ..Limits::default()
    };
    let w = world_with(limits, false).await;
    let wav = std::fs::read(w.archive.join("call-0001.wav")).expect("wav");
    let pnr = callvault_vault::demo::personnummer(81);
    let before = stored(&w);
    let meta = upload_meta("drip-1", "SE2321000016-1177", &pnr);
    // The head, the metadata and a little audio; then one byte every 200 ms: never idle
    // for a second, but far below 4096 bytes/s.
    let mut tls = start_upload(&w, &meta, &wav, meta.len() + 400 + 100).await;
    // Let the server take it up (it then holds the only upload slot); another upload is
    // turned away at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = upload(
        &w,
        "recorder-a",
        &upload_meta("drip-2", "SE2321000016-1177", &pnr),
        &wav,
    )
    .await
    .expect("response");
    assert_eq!(
        second.status,
        503,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert!(second.headers.contains_key("retry-after"));
    let answer = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..50 {
            tokio::select! {
                n = tls.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    let _ = tls.write_all(b"x").await;
                    let _ = tls.flush().await;
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("slower than 4096 bytes/s"), "{answer}");
    assert_eq!(stored(&w), before);
    assert_no_temporaries(&w);
}

#[tokio::test]
async fn when_the_audit_store_fails_requests_fail_and_no_data_is_returned() {
    let w = world().await;
    let wav = std::fs::read(w.archive.join("call-0000.wav")).expect("wav");
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        w.rec_a
    );
    let meta = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a);
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &audio, None)
            .await
            .expect("works")
            .body,
        wav
    );
    // Through the real SQLite file, a trigger makes every audit insert fail (as a full or
    // failing disk would).
    let conn =
        callvault_catalog::raw_connection(&w._dir.path().join("data/catalog/catalog.sqlite3"))
            .expect("db");
    conn.execute_batch(
        "CREATE TRIGGER audit_store_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;",
    )
    .expect("trigger");
    let size = audit_size(&w);
    let pnr = callvault_vault::demo::personnummer(1);
    for (path, range) in [
        (audio.as_str(), None),
        (audio.as_str(), Some("bytes=0-99")),
        (meta.as_str(), None),
    ] {
        let r = get(&w, &w.pki, Some("nurse-a"), path, range)
            .await
            .expect("response");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, 500, "{path}: {body}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert!(body.contains("no data was returned"), "{body}");
        assert!(
            !body.contains("audit store unavailable"),
            "nothing internal: {body}"
        );
        assert!(!body.contains(&pnr), "{body}");
        let head = &wav[..64];
        assert!(!r.body.windows(64).any(|x| x == head), "no audio bytes");
    }
    // A refusal that cannot be recorded is not answered as a plain 403 either.
    let r = get(&w, &w.pki, Some("nurse-b"), &meta, None)
        .await
        .expect("response");
    assert_eq!(r.status, 500);
    assert_eq!(audit_size(&w), size, "nothing was written");
    conn.execute_batch("DROP TRIGGER audit_store_fails;")
        .expect("drop");
    assert_eq!(
        get(&w, &w.pki, Some("nurse-a"), &meta, None)
            .await
            .expect("works again")
            .status,
        200
    );
}
