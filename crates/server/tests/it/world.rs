//! The test world: a vault with the demo archive, a development PKI, assignments through
//! the governance workflow, and the access server on a loopback port; and the TLS client
//! helpers the tests share.

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

pub(crate) const CP_A: &str = "SE2321000016-0001";
pub(crate) const CP_B: &str = "SE2321000156-0001";

pub(crate) struct World {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) pki: callvault_pki::DevPki,
    pub(crate) other_pki: callvault_pki::DevPki,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) vault: Arc<Vault>,
    pub(crate) archive: PathBuf,
    pub(crate) rec_a: String,
    pub(crate) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) server: tokio::task::JoinHandle<()>,
    /// The person CA's key (in memory), to issue new CRLs.
    pub(crate) crl_signer: callvault_pki::PersonCrlSigner,
    /// The TLS settings and the channel SIGHUP uses to put a rebuilt configuration in force.
    pub(crate) settings: TlsSettings,
    pub(crate) tls_tx: tokio::sync::watch::Sender<Arc<rustls::ServerConfig>>,
}

impl World {
    /// Stops the server and waits until it has drained (or aborted) its connections.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.server).await.expect("server task");
    }
}

/// The test principals as users and their assignments, valid from yesterday for 300 days
/// (the server decides with the real clock): an assignment file, which the world imports
/// into the governance workflow.
pub(crate) fn assignments_file() -> String {
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
pub(crate) fn govern(
    vault: &Vault,
    pki: &callvault_pki::DevPki,
    settings: &TlsSettings,
    dir: &Path,
) {
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

pub(crate) async fn world() -> World {
    world_with(Limits::default(), false).await
}

pub(crate) async fn world_with(limits: Limits, allow_tls12: bool) -> World {
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

pub(crate) fn client_config(
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
pub(crate) fn client_config_with(
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

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// One GET over a fresh TLS connection; `Err` if TLS or HTTP fails (e.g. a refused cert).
pub(crate) async fn get(
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
pub(crate) async fn connect(
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
pub(crate) async fn send(
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
pub(crate) async fn search_post(
    w: &World,
    who: &str,
    query: &str,
    body: serde_json::Value,
) -> Reply {
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
pub(crate) async fn health(w: &World, who: &str) -> Result<Reply, String> {
    get(w, &w.pki, Some(who), "/healthz", None).await
}

pub(crate) fn audit_size(w: &World) -> u64 {
    w.vault.catalog().audit_size().expect("size")
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}
