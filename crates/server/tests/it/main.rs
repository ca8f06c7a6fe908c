//! The access server over real TLS with real certificates (a development PKI made by
//! rcgen): handshake refusals, the policy through HTTP, audit events, Range.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use callvault_auth::{AssignmentSet, Policy};
use callvault_server::{AppState, Identities, TlsSettings, app, serve, server_config};
use callvault_types::{CallId, CareProvider};
use callvault_vault::Vault;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const CP_A: &str = "SE2321000016-0001";
const CP_B: &str = "SE2321000156-0001";

struct World {
    _dir: tempfile::TempDir,
    pki: callvault_pki::DevPki,
    other_pki: callvault_pki::DevPki,
    addr: std::net::SocketAddr,
    vault: Arc<Vault>,
    archive: PathBuf,
    rec_a: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn assignments() -> AssignmentSet {
    AssignmentSet::parse(&format!(
        r#"
[[assignment]]
id = "nurse-a"
holder = "SE2321000016-N001"
care_provider = "{CP_A}"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata", "play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "nurse-b"
holder = "SE2321000156-N001"
care_provider = "{CP_B}"
care_units = ["SE2321000156-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata", "play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "admin-a"
holder = "SE2321000016-A001"
care_provider = "{CP_A}"
purpose = "administration"
rights = ["play", "view-metadata"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "recorder-a"
holder = "SE2321000016-R001"
care_provider = "{CP_A}"
purpose = "vård och behandling"
rights = ["ingest"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"
"#
    ))
    .expect("assignments")
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = time::OffsetDateTime::now_utc();
    let pki = callvault_pki::generate(&dir.path().join("pki"), &callvault_pki::demo_clients(), now)
        .expect("pki");
    let other_pki = callvault_pki::generate(
        &dir.path().join("other"),
        &callvault_pki::demo_clients(),
        now,
    )
    .expect("pki");
    let cps = [
        CareProvider::parse(CP_A).expect("cp"),
        CareProvider::parse(CP_B).expect("cp"),
    ];
    let vault = Vault::init(
        &dir.path().join("data"),
        "audit.callvault.test.example",
        &cps,
    )
    .expect("init");
    let archive = dir.path().join("archive");
    let manifest = callvault_vault::demo::write_archive(&archive, 2, 2).expect("archive");
    vault
        .import_manifest(&manifest, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let rec_a = vault
        .catalog()
        .recording_by_call(&cps[0], &CallId::parse("demo-call-0000").expect("call"))
        .expect("q")
        .expect("row")
        .rec
        .id
        .to_string();
    let settings = TlsSettings {
        server_chain: pki.server_chain.clone(),
        server_key: pki.server_key.clone(),
        client_roots: vec![pki.root_ca.clone()],
        person_cas: vec![pki.person_ca.clone()],
        function_cas: vec![pki.function_ca.clone()],
        crls: pki.crls.clone(),
        allow_tls12: false,
    };
    let tls = server_config(&settings).expect("tls");
    let identities = Arc::new(Identities::load(&settings).expect("identities"));
    let vault = Arc::new(vault);
    let state = AppState {
        vault: Arc::clone(&vault),
        policy: Arc::new(Policy::new(assignments())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (_tls_tx, tls_rx) = tokio::sync::watch::channel(tls);
    tokio::spawn(serve(listener, tls_rx, identities, app(state), async {
        let _ = rx.await;
    }));
    World {
        _dir: dir,
        pki,
        other_pki,
        addr,
        vault,
        archive,
        rec_a,
        _shutdown: tx,
    }
}

fn client_config(
    pki: &callvault_pki::DevPki,
    server_pki: &callvault_pki::DevPki,
    who: Option<&str>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&server_pki.root_ca).expect("root") {
        roots.add(c.expect("cert")).expect("add");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    match who {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let (_, chain, key, _) = pki.clients.iter().find(|c| c.0 == name).expect("client");
            let certs: Vec<_> = CertificateDer::pem_file_iter(chain)
                .expect("chain")
                .map(|c| c.expect("cert"))
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).expect("key");
            builder
                .with_client_auth_cert(certs, key)
                .expect("client auth")
        }
    }
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

/// One GET over a fresh TLS connection; `Err` if TLS or HTTP fails (e.g. a refused cert).
async fn get(
    w: &World,
    pki: &callvault_pki::DevPki,
    who: Option<&str>,
    path: &str,
    range: Option<&str>,
) -> Result<Reply, String> {
    let config = Arc::new(client_config(pki, &w.pki, who));
    let tcp = tokio::net::TcpStream::connect(w.addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", "localhost");
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).expect("request"))
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn audit_size(w: &World) -> u64 {
    w.vault.catalog().audit_size().expect("size")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

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
    assert_eq!(denied.status, 403);
    assert_eq!(denied.headers["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&denied.body).expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("nobody crosses care providers")
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
}

#[tokio::test]
async fn search_by_patient_is_audited_and_scoped_and_the_checkpoint_is_public() {
    let w = world().await;
    let pnr = callvault_vault::demo::personnummer(1); // the patient of demo-call-0000
    let url = |who_cp: &str| {
        format!(
            "/api/v1/recordings?care_provider={who_cp}&patient={pnr}&purpose=vard-och-behandling"
        )
    };
    let before = audit_size(&w);
    let r = get(&w, &w.pki, Some("nurse-a"), &url(CP_A), None)
        .await
        .expect("response");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(json["recordings"][0]["id"], w.rec_a.as_str());
    assert_eq!(json["recordings"].as_array().expect("list").len(), 1);
    assert_eq!(audit_size(&w), before + 1, "the search is audited");
    // Searching another care provider: refused and audited.
    let r = get(&w, &w.pki, Some("nurse-a"), &url(CP_B), None)
        .await
        .expect("response");
    assert_eq!(r.status, 403);
    assert_eq!(audit_size(&w), before + 2);
    // A bad personnummer is a clear 400 that does not echo it.
    let bad = format!(
        "/api/v1/recordings?care_provider={CP_A}&patient=19121212-1213&purpose=vard-och-behandling"
    );
    let r = get(&w, &w.pki, Some("nurse-a"), &bad, None)
        .await
        .expect("response");
    assert_eq!(r.status, 400);
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        body.contains("check digit") && !body.contains("1213"),
        "{body}"
    );
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
    let verifier = callvault_audit::note::NoteVerifier::from_verifier_key(&w.vault.verifier_key())
        .expect("key");
    callvault_audit::note::verify_checkpoint(&verifier, &note).expect("signed checkpoint");
}
