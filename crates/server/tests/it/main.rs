//! The access server over real TLS with real certificates (a development PKI made by
//! rcgen): handshake refusals, the policy through HTTP, audit events, Range.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use callvault_auth::{AssignmentSpec, UserEntry};
use callvault_server::{AppState, Identities, Limits, TlsSettings, app, serve, server_config};
use callvault_types::{CallId, CareProvider};
use callvault_vault::Vault;
use callvault_vault::governance::ScriptedAdmins;
use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

mod abuse;
mod followup;
mod governance;
mod incomplete;
mod limits;
mod link;
mod refusals;
mod syslog;
mod web;
mod witness;

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
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    /// The person CA's key (in memory), to issue new CRLs.
    crl_signer: callvault_pki::PersonCrlSigner,
    /// The TLS settings and the channel SIGHUP uses to put a rebuilt configuration in force.
    settings: TlsSettings,
    tls_tx: tokio::sync::watch::Sender<Arc<rustls::ServerConfig>>,
}

impl World {
    /// Stops the server and waits until it has drained (or aborted) its connections.
    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.server).await.expect("server task");
    }
}

/// The test principals as users and their assignments, valid from yesterday for 300 days
/// (the server decides with the real clock): an assignment file, which the world imports
/// into the governance workflow.
fn assignments_file() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let (from, until) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::days(300)),
    );
    let spec = |id, holder, care_provider, care_units, purpose, rights| {
        AssignmentSpec {
            id,
            holder,
            care_provider,
            care_units,
            purpose,
            rights,
            valid_from: &from,
            valid_until: &until,
        }
        .to_toml()
    };
    let care = "vård och behandling";
    let read = &["search", "view-metadata", "play"][..];
    let text = [
        spec(
            "nurse-a",
            "SE2321000016-N001",
            CP_A,
            &["SE2321000016-1177"][..],
            care,
            read,
        ),
        spec(
            "nurse-b",
            "SE2321000156-N001",
            CP_B,
            &["SE2321000156-1177"][..],
            care,
            read,
        ),
        spec(
            "admin-a",
            "SE2321000016-A001",
            CP_A,
            &[][..],
            "administration",
            &["play", "view-metadata"][..],
        ),
        spec(
            "reviewer-a",
            "SE2321000016-L001",
            CP_A,
            &[][..],
            "logguppföljning",
            &["read-audit", "read-access-log"][..],
        ),
        spec(
            "recorder-a",
            "SE2321000016-R001",
            CP_A,
            &[][..],
            care,
            &["ingest"][..],
        ),
        spec(
            "recorder-b",
            "SE2321000156-R001",
            CP_B,
            &[][..],
            care,
            &["ingest"][..],
        ),
        spec(
            "records-a",
            "SE2321000016-A001",
            CP_A,
            &[][..],
            "administration",
            &["manage-records"][..],
        ),
        spec(
            "operator-a",
            "SE2321000016-O001",
            CP_A,
            &[][..],
            "administration",
            &["operate"][..],
        ),
    ]
    .concat();
    let users: String = [
        ("SE2321000016-N001", "Anna Andersson", CP_A),
        ("SE2321000156-N001", "Bo Berg", CP_B),
        ("SE2321000016-L001", "David Dahl", CP_A),
        ("SE2321000016-R001", "Inspelningssystem A", CP_A),
        ("SE2321000156-R001", "Inspelningssystem B", CP_B),
        ("SE2321000016-O001", "Olle Ohlsson", CP_A),
    ]
    .iter()
    .map(|(h, n, cp)| {
        UserEntry::new(h, n, "Testanvändare", cp)
            .expect("user")
            .to_toml()
    })
    .collect();
    format!("{users}{text}")
}

/// Bootstraps both care providers' administrators, imports the test assignment file and has
/// each care provider's second administrator approve its requests (four eyes, audited).
fn govern(vault: &Vault, pki: &callvault_pki::DevPki, settings: &TlsSettings, dir: &Path) {
    let identities = Identities::load(settings).expect("identities");
    let chain = |name: &str| {
        pki.clients
            .iter()
            .find(|c| c.0 == name)
            .expect("client")
            .1
            .clone()
    };
    let admins = [
        (CP_A, "SE2321000016-A001", "SE2321000016-A002", "admin-a2"),
        (CP_B, "SE2321000156-A001", "SE2321000156-A002", "admin-b2"),
    ]
    .map(|(cp, a1, a2, approver)| ScriptedAdmins {
        care_provider: CareProvider::parse(cp).expect("cp"),
        admins: [a1, a2]
            .map(|h| UserEntry::new(h, "Admin", "Behörighetsadministratör", cp).expect("admin")),
        approver: identities
            .principal_of_local_certificate(&chain(approver))
            .expect("approver"),
    });
    let file = dir.join("assignments.toml");
    std::fs::write(&file, assignments_file()).expect("assignments");
    let done = vault
        .scripted_setup(&admins, &file, &callvault_vault::vault_operator())
        .expect("governance set-up");
    assert_eq!(done.imported.requested.len(), 8);
}

async fn world() -> World {
    world_with(Limits::default(), false).await
}

async fn world_with(limits: Limits, allow_tls12: bool) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = time::OffsetDateTime::now_utc();
    let (pki, crl_signer) = callvault_pki::generate_keeping_person_ca(
        &dir.path().join("pki"),
        &callvault_pki::demo_clients(),
        now,
    )
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
    let vault = Vault::init_with_config(
        &dir.path().join("data"),
        &callvault_vault::demo::config_toml("audit.callvault.test.example"),
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
        allow_tls12,
    };
    let tls = server_config(&settings).expect("tls");
    let identities = Arc::new(Identities::load(&settings).expect("identities"));
    let vault = Arc::new(vault);
    govern(&vault, &pki, &settings, dir.path());
    let state = AppState::new(Arc::clone(&vault), vault.policy().expect("policy"), limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (tls_tx, tls_rx) = tokio::sync::watch::channel(tls);
    let server = tokio::spawn(serve(
        listener,
        tls_rx,
        identities,
        app(state),
        limits,
        async {
            let _ = rx.await;
        },
    ));
    World {
        _dir: dir,
        pki,
        other_pki,
        addr,
        vault,
        archive,
        rec_a,
        shutdown: Some(tx),
        server,
        crl_signer,
        settings,
        tls_tx,
    }
}

fn client_config(
    pki: &callvault_pki::DevPki,
    server_pki: &callvault_pki::DevPki,
    who: Option<&str>,
) -> rustls::ClientConfig {
    client_config_with(
        rustls::crypto::aws_lc_rs::default_provider(),
        pki,
        server_pki,
        who,
    )
}

/// [`client_config`] with a crypto provider of the test's choosing.
fn client_config_with(
    provider: rustls::crypto::CryptoProvider,
    pki: &callvault_pki::DevPki,
    server_pki: &callvault_pki::DevPki,
    who: Option<&str>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&server_pki.root_ca).expect("root") {
        roots.add(c.expect("cert")).expect("add");
    }
    let provider = Arc::new(provider);
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
    let headers: Vec<(&str, String)> = range.map(|r| ("range", r.to_owned())).into_iter().collect();
    send(w, pki, who, "GET", path, &headers, Vec::new()).await
}

/// A TLS connection to the server with this client configuration.
async fn connect(
    w: &World,
    config: rustls::ClientConfig,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let tcp = tokio::net::TcpStream::connect(w.addr)
        .await
        .map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}

/// One request over a fresh TLS connection.
async fn send(
    w: &World,
    pki: &callvault_pki::DevPki,
    who: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let tls = connect(w, client_config(pki, &w.pki, who)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = sender
        .send_request(
            req.body(http_body_util::Full::new(Bytes::from(body)))
                .expect("request"),
        )
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

/// `POST /api/v1/recordings/search?{query}` as `who` with a JSON body (the patient travels
/// in the body, never in the URL).
async fn search_post(w: &World, who: &str, query: &str, body: serde_json::Value) -> Reply {
    send(
        w,
        &w.pki,
        Some(who),
        "POST",
        &format!("/api/v1/recordings/search?{query}"),
        &[("content-type", "application/json".to_owned())],
        body.to_string().into_bytes(),
    )
    .await
    .expect("response")
}

/// `GET /healthz` as `who`.
async fn health(w: &World, who: &str) -> Result<Reply, String> {
    get(w, &w.pki, Some(who), "/healthz", None).await
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

fn multipart(metadata: &str, audio: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
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

fn upload_meta(call_id: &str, unit: &str, pnr: &str) -> String {
    format!(
        r#"{{"care_provider":"{CP_A}","care_unit":"{unit}","call_id":"{call_id}","started_at":"2026-11-01T09:00:00Z","patient_id":"{pnr}","caller_number":"+46709876543","nurse_hsa_id":"SE2321000016-N001"}}"#
    )
}

/// `POST /api/v1/recordings` as `who` with a metadata part and an audio part.
async fn upload(w: &World, who: &str, meta: &str, audio: &[u8]) -> Result<Reply, String> {
    let (h, body) = multipart(meta, audio);
    send(w, &w.pki, Some(who), "POST", "/api/v1/recordings", &h, body).await
}

/// Uploads demo call 1's audio as a new call at the other unit of care provider A (which
/// nurse-a reaches only through emergency access), for patient `demo::personnummer(n)`;
/// returns the recording id.
async fn upload_other_unit(w: &World, call_id: &str, n: u64) -> String {
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
fn stored(w: &World) -> (u64, usize) {
    (
        w.vault.catalog().stats().expect("stats").recordings,
        objects(w),
    )
}

/// No temporary upload is left at any site.
fn assert_no_temporaries(w: &World) {
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

fn objects(w: &World) -> usize {
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
