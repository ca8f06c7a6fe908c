//! HTTP figures over mutual TLS with real certificates (a development PKI), against the real
//! server (`callvault_server::serve` on its own runtime, as `callvault serve` runs it):
//!
//! * reads: audited metadata reads by many concurrent keep-alive clients (every request a
//!   policy decision and a durable audit event), beside `/healthz` on the same connections
//!   (TLS and HTTP alone);
//! * play: whole-recording audio streams at 64 concurrent clients, beside nginx (Debian
//!   package) serving the same plaintext file over TLS 1.3 with client-certificate
//!   verification on the same machine.
//!
//! The load generator runs in the same process on its own runtime and shares the two cores
//! with the server (and with nginx for the baseline): both sides pay for it alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use callvault_auth::{AssignmentSet, AssignmentSpec, Policy};
use callvault_server::{AppState, Identities, Limits, TlsSettings, app, serve, server_config};
use callvault_types::{CallId, CareProvider};
use callvault_vault::Vault;
use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::row;

const CP: &str = "SE2321000016-0001";

/// What one load run measured.
struct Load {
    requests: u64,
    bytes: u64,
    elapsed: Duration,
    /// Time to the response headers (the first byte), per request.
    ttfb: Vec<Duration>,
    /// Time to the last byte, per request.
    total: Vec<Duration>,
    errors: u64,
}

impl Load {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn mib_s(&self) -> f64 {
        self.bytes as f64 / f64::from(1u32 << 20) / self.elapsed.as_secs_f64()
    }
}

pub(crate) fn percentile(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

/// The vault, PKI and the path of the plaintext recording.
struct Fixture {
    vault: Arc<Vault>,
    settings: TlsSettings,
    client: Arc<rustls::ClientConfig>,
    pki: callvault_pki::DevPki,
    id: String,
    wav: PathBuf,
}

fn fixture(base: &Path, mib: u32) -> Result<Fixture> {
    let now = time::OffsetDateTime::now_utc();
    let pki = callvault_pki::generate(&base.join("pki"), &callvault_pki::demo_clients(), now)
        .context("dev PKI")?;
    let cp = CareProvider::parse(CP)?;
    let vault = Vault::init(
        &base.join("data"),
        "bench.callvault.example",
        std::slice::from_ref(&cp),
    )?;
    let (manifest, files, _) = crate::make_archive(&base.join("http-archive"), 1, mib)?;
    vault.import_manifest(&manifest, &callvault_vault::vault_operator(), |_, _, _| {})?;
    let id = vault
        .catalog()
        .recording_by_call(&cp, &CallId::parse("bench-0")?)?
        .context("imported recording")?
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
    let client = Arc::new(client_config(&pki, "nurse-a")?);
    Ok(Fixture {
        vault: Arc::new(vault),
        settings,
        client,
        wav: files.into_iter().next().context("wav")?,
        pki,
        id,
    })
}

fn client_config(pki: &callvault_pki::DevPki, who: &str) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&pki.root_ca)? {
        roots.add(c?)?;
    }
    let (_, chain, key, _) = pki
        .clients
        .iter()
        .find(|c| c.0 == who)
        .context("client certificate")?;
    let certs = CertificateDer::pem_file_iter(chain)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)?)
}

pub(crate) fn assignments() -> Result<AssignmentSet> {
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let now = time::OffsetDateTime::now_utc();
    let (from, until) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::days(30)),
    );
    let text = AssignmentSpec {
        id: "bench-nurse",
        holder: "SE2321000016-N001",
        care_provider: CP,
        care_units: &["SE2321000016-1177"],
        purpose: "vård och behandling",
        rights: &["search", "view-metadata", "play"],
        valid_from: &from,
        valid_until: &until,
    }
    .to_toml();
    Ok(AssignmentSet::parse(&text)?)
}

/// The server on its own two-thread runtime, as `callvault serve` runs it.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(f: &Fixture) -> Result<Self> {
        let tls = server_config(&f.settings)?;
        let identities = Arc::new(Identities::load(&f.settings)?);
        let limits = Limits::default();
        let state = AppState::new(Arc::clone(&f.vault), Policy::new(assignments()?), limits);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let (_tls_tx, tls_rx) = tokio::sync::watch::channel(tls);
            rt.block_on(serve(
                listener,
                tls_rx,
                identities,
                app(state),
                limits,
                async {
                    let _ = rx.await;
                },
            ));
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// nginx (Debian package) serving `www` over TLS 1.3 with client certificates required.
struct Nginx {
    addr: SocketAddr,
    child: std::process::Child,
}

impl Nginx {
    fn start(dir: &Path, pki: &callvault_pki::DevPki, www: &Path) -> Result<Self> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("nginx is not installed (apt-get install nginx-light)")?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut crl = String::new();
        for c in &pki.crls {
            crl.push_str(&std::fs::read_to_string(c)?);
        }
        std::fs::write(dir.join("crls.pem"), crl)?;
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
master_process on;
user root;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ audio/wav wav; }}
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        ssl_client_certificate {root};
        ssl_crl {d}/crls.pem;
        ssl_verify_client on;
        ssl_verify_depth 3;
        root {www};
    }}
}}
"#,
            chain = pki.server_chain.display(),
            key = pki.server_key.display(),
            root = pki.root_ca.display(),
            www = www.display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = std::process::Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "nginx did not start: {}",
                    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { addr, child })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a client paces its requests.
#[derive(Clone, Copy)]
struct Pacing {
    /// Ask for `chunk` bytes at a time (HTTP Range), walking through a file of `len` bytes.
    chunk: Option<(u64, u64)>,
    /// Send a request every `every` at most (a player), instead of back to back.
    every: Option<Duration>,
}

const FLAT_OUT: Pacing = Pacing {
    chunk: None,
    every: None,
};

/// `clients` keep-alive connections, each sending `path` in a loop for `seconds` (after a
/// one-second warm-up that is not counted).
fn load(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
    clients: usize,
    seconds: f64,
    pacing: Pacing,
) -> Result<Load> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let start = Instant::now() + Duration::from_secs(1);
        let end = start + Duration::from_secs_f64(seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..clients {
            let (config, path) = (Arc::clone(config), path.to_owned());
            tasks.spawn(async move { client(addr, config, path, start, end, pacing, i).await });
        }
        let mut all = Load {
            requests: 0,
            bytes: 0,
            elapsed: Duration::from_secs_f64(seconds),
            ttfb: Vec::new(),
            total: Vec::new(),
            errors: 0,
        };
        while let Some(r) = tasks.join_next().await {
            let r = r??;
            all.requests += r.requests;
            all.bytes += r.bytes;
            all.errors += r.errors;
            all.ttfb.extend(r.ttfb);
            all.total.extend(r.total);
        }
        Ok(all)
    })
}

async fn client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: String,
    start: Instant,
    end: Instant,
    pacing: Pacing,
    seed: usize,
) -> Result<Load> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let mut out = Load {
        requests: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        ttfb: Vec::new(),
        total: Vec::new(),
        errors: 0,
    };
    let mut offset = 0u64;
    if let Some(every) = pacing.every {
        // Spread the players over one period.
        tokio::time::sleep(every.mul_f64(seed as f64 / 64.0 % 1.0)).await;
    }
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let mut req = hyper::Request::get(path.as_str()).header("host", "localhost");
        if let Some((chunk, len)) = pacing.chunk {
            let first = offset % len;
            let last = (first + chunk).min(len) - 1;
            req = req.header("range", format!("bytes={first}-{last}"));
            offset = last + 1;
        }
        let req = req.body(http_body_util::Empty::<Bytes>::new())?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let ttfb = t0.elapsed();
        let ok = resp.status().is_success();
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame?.into_data() {
                n += d.len() as u64;
            }
        }
        let done = Instant::now();
        if t0 >= start && done <= end {
            if ok {
                out.requests += 1;
                out.bytes += n;
                out.ttfb.push(ttfb);
                out.total.push(done - t0);
            } else {
                out.errors += 1;
            }
        } else if t0 >= start && ok {
            // A request straddling the end: its bytes inside the window still count.
            let inside = end.saturating_duration_since(t0).as_secs_f64()
                / (done - t0).as_secs_f64().max(1e-9);
            out.bytes += (n as f64 * inside) as u64;
            out.ttfb.push(ttfb);
        }
        if let Some(every) = pacing.every {
            tokio::time::sleep_until((t0 + every).into()).await;
        }
    }
    Ok(out)
}

/// The vault's share of an audited metadata read, without TLS or HTTP: `threads` threads
/// each deciding, writing the durable access event and decrypting the metadata, in a loop.
fn vault_reads(f: &Fixture, threads: usize, seconds: f64) -> Result<(f64, Vec<Duration>)> {
    use callvault_auth::{AccessRequest, Action, AuthenticatedPrincipal, PrincipalKind, Purpose};
    use callvault_vault::access::target::*;
    let policy = Policy::new(assignments()?);
    let who = AuthenticatedPrincipal::assert_verified_certificate(
        callvault_types::HsaId::parse("SE2321000016-N001")?,
        PrincipalKind::Person,
        [0; 32],
    );
    let id = callvault_types::RecordingId::parse(&f.id)?;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut all = Vec::new();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<Vec<Duration>> {
                    let mut lat = Vec::new();
                    while Instant::now() < end {
                        let t0 = Instant::now();
                        let req = AccessRequest {
                            action: Action::ViewMetadata,
                            resource: f.vault.recording_resource(&id)?.context("resource")?,
                            purpose: Purpose::CareAndTreatment,
                            assignment: None,
                            emergency_reason: None,
                            case_number: None,
                        };
                        let authz = policy
                            .decide(&who, &req, time::OffsetDateTime::now_utc())
                            .map_err(|d| anyhow::anyhow!("{d}"))?;
                        let receipt = f.vault.record_access(authz, Metadata { id })?;
                        let m = f.vault.read_metadata(&receipt)?;
                        std::hint::black_box(m);
                        lat.push(t0.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow::anyhow!("thread panicked"))??);
        }
        Ok(())
    })?;
    Ok((all.len() as f64 / seconds, all))
}

/// Audited metadata reads vs `/healthz` on the same server and connections.
pub fn bench_reads(base: &Path, clients: usize, seconds: f64) -> Result<()> {
    let f = fixture(base, 1)?;
    let (vault_rps, mut vault_lat) = vault_reads(&f, clients, seconds.min(5.0))?;
    println!(
        "  the vault's share alone (no TLS, no HTTP; {clients} threads): {vault_rps:.0} reads/s, p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut vault_lat, 0.5),
        percentile(&mut vault_lat, 0.99)
    );
    let server = Server::start(&f)?;
    let audit_before = f.vault.catalog().audit_size()?;
    let meta = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", f.id);
    let mut ours = load(server.addr, &f.client, &meta, clients, seconds, FLAT_OUT)?;
    let audit_after = f.vault.catalog().audit_size()?;
    let mut health = load(
        server.addr,
        &f.client,
        "/healthz",
        clients,
        seconds,
        FLAT_OUT,
    )?;
    drop(server);
    println!(
        "  reads: {} ok, {} errors, {} audit events written (incl. warm-up); /healthz: {} ok",
        ours.requests,
        ours.errors,
        audit_after - audit_before,
        health.requests
    );
    if ours.errors > 0 || ours.requests == 0 {
        bail!("metadata reads failed");
    }
    row(
        &format!("audited metadata reads, {clients} clients (req/s)"),
        ours.rps(),
        health.rps(),
        "req/s",
        ">= 10000",
    );
    let (p50, p99) = (
        percentile(&mut ours.total, 0.5),
        percentile(&mut ours.total, 0.99),
    );
    let (h50, h99) = (
        percentile(&mut health.total, 0.5),
        percentile(&mut health.total, 0.99),
    );
    println!("  latency p50 {p50:.2} ms (healthz {h50:.2} ms)");
    row("  read latency p99 (ms)", p99, h99, "ms", "< 5 ms");
    Ok(())
}

/// Whole-recording audio streams vs nginx serving the same plaintext file.
pub fn bench_play(base: &Path, clients: usize, seconds: f64, mib: u32) -> Result<()> {
    let f = fixture(base, mib)?;
    let www = base.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::copy(&f.wav, www.join("call.wav"))?;
    let size = std::fs::metadata(&f.wav)?.len();

    let server = Server::start(&f)?;
    let audio = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        f.id
    );
    // Players: each asks for the next 64 KiB every 250 ms (about 8x real time for 8 kHz
    // 16-bit stereo), as an audio element buffering ahead does.
    let player = Pacing {
        chunk: Some((64 << 10, size)),
        every: Some(Duration::from_millis(250)),
    };
    let mut ours = load(server.addr, &f.client, &audio, clients, seconds, FLAT_OUT)?;
    let mut ours_paced = load(server.addr, &f.client, &audio, clients, seconds, player)?;
    drop(server);
    let nginx = Nginx::start(&base.join("nginx"), &f.pki, &www)?;
    let mut theirs = load(
        nginx.addr,
        &f.client,
        "/call.wav",
        clients,
        seconds,
        FLAT_OUT,
    )?;
    let mut theirs_paced = load(nginx.addr, &f.client, "/call.wav", clients, seconds, player)?;
    drop(nginx);
    println!(
        "  play: {} whole streams of {:.1} MiB ({} errors); nginx: {} ({} errors)",
        ours.requests,
        size as f64 / f64::from(1u32 << 20),
        ours.errors,
        theirs.requests,
        theirs.errors
    );
    if ours.errors > 0 || ours.ttfb.is_empty() {
        bail!("audio streams failed");
    }
    row(
        &format!("playback, {clients} streams (MiB/s)"),
        ours.mib_s(),
        theirs.mib_s(),
        "MiB/s",
        ">= 0.70x",
    );
    let (p50, p99) = (
        percentile(&mut ours.ttfb, 0.5),
        percentile(&mut ours.ttfb, 0.99),
    );
    let (n50, n99) = (
        percentile(&mut theirs.ttfb, 0.5),
        percentile(&mut theirs.ttfb, 0.99),
    );
    println!(
        "  TTFB at full speed (every stream as fast as the CPU allows): p50 {p50:.2} ms, p99 {p99:.2} ms (nginx {n50:.2} / {n99:.2} ms)"
    );
    if ours_paced.errors > 0 || ours_paced.ttfb.is_empty() {
        bail!("paced audio requests failed");
    }
    println!(
        "  players: {} range requests of 64 KiB ({} errors); nginx: {} ({} errors)",
        ours_paced.requests, ours_paced.errors, theirs_paced.requests, theirs_paced.errors
    );
    let (q50, q99) = (
        percentile(&mut ours_paced.ttfb, 0.5),
        percentile(&mut ours_paced.ttfb, 0.99),
    );
    let (m50, m99) = (
        percentile(&mut theirs_paced.ttfb, 0.5),
        percentile(&mut theirs_paced.ttfb, 0.99),
    );
    println!("  player TTFB p50 {q50:.2} ms (nginx {m50:.2} ms)");
    row(
        &format!("playback TTFB p99, {clients} players (ms)"),
        q99,
        m99,
        "ms",
        "< 10 ms",
    );
    Ok(())
}
