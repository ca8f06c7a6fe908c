//! `callvault witness serve`: a C2SP tlog-witness that another region or an authority runs
//! to cosign callvault's checkpoints — and to refuse a log that forks.
//!
//! `POST /add-checkpoint` (HTTPS; no client authentication — the checkpoint's signature by
//! a configured log key is the authentication, as the spec says). The decision is
//! `callvault_audit::witness::decide`; the state (per log: the size, root and note of the
//! latest cosigned checkpoint) is one JSON file per log in the state directory, replaced
//! atomically (write, fsync, rename, fsync the directory) *before* the cosignature is
//! returned, and the check and the update happen under one lock, so a concurrent
//! submission can never roll the state back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use callvault_audit::cosignature::Cosigner;
use callvault_audit::note::NoteVerifier;
use callvault_audit::witness::{Seen, WitnessError, decide, parse_add_checkpoint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

/// Largest accepted request body (a checkpoint with a few signatures and 63 proof lines is
/// a few KiB).
const MAX_BODY: usize = 64 << 10;

/// Why the witness could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessStartError {
    /// The configuration is not usable.
    #[error("witness configuration {path}: {message}")]
    Config {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing state or keys failed.
    #[error("{0}")]
    Io(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    key: PathBuf,
    state_dir: PathBuf,
    listen: Vec<String>,
    tls: RawTls,
    #[serde(rename = "log", default)]
    logs: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    server_chain: PathBuf,
    server_key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    verifier_key: String,
}

/// A validated witness configuration.
#[derive(Debug)]
pub struct WitnessConfig {
    /// The cosigner.
    pub cosigner: Arc<Cosigner>,
    /// Where the per-log state files live.
    pub state_dir: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Server certificate chain (PEM).
    pub server_chain: PathBuf,
    /// Server key (PEM).
    pub server_key: PathBuf,
    /// The logs it witnesses.
    pub logs: Vec<NoteVerifier>,
}

impl WitnessConfig {
    /// Reads and validates a witness configuration (relative paths against its folder).
    pub fn load(path: &Path) -> Result<Self, WitnessStartError> {
        let err = |message: String| WitnessStartError::Config {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let key_path = abs(&raw.key);
        let key_text = read_private_key_file(&key_path).map_err(err)?;
        let cosigner = Cosigner::from_signer_key(key_text.trim())
            .map_err(|e| err(format!("key {}: {e}", key_path.display())))?;
        if raw.logs.is_empty() {
            return Err(err("no [[log]] to witness".into()));
        }
        let mut logs = Vec::new();
        for l in &raw.logs {
            let v = NoteVerifier::from_verifier_key(l.verifier_key.trim())
                .map_err(|e| err(format!("log verifier key {:?}: {e}", l.verifier_key)))?;
            if logs.iter().any(|x: &NoteVerifier| x.name() == v.name()) {
                return Err(err(format!("log {} is configured twice", v.name())));
            }
            logs.push(v);
        }
        let mut listen = Vec::new();
        for l in &raw.listen {
            let a: SocketAddr = l
                .parse()
                .map_err(|_| err(format!("listen address {l:?} is not IP:port")))?;
            if a.ip().is_unspecified() {
                return Err(err(format!(
                    "listen address {l} is a wildcard; name the address"
                )));
            }
            listen.push(a);
        }
        if listen.is_empty() {
            return Err(err("listen names no address".into()));
        }
        Ok(Self {
            cosigner: Arc::new(cosigner),
            state_dir: abs(&raw.state_dir),
            listen,
            server_chain: abs(&raw.tls.server_chain),
            server_key: abs(&raw.tls.server_key),
            logs,
        })
    }
}

/// Reads a secret key file, refusing one that group or others can read.
fn read_private_key_file(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: the key is readable by group or others; run chmod 600",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One log's state as stored.
#[derive(Serialize, Deserialize)]
struct StoredState {
    origin: String,
    size: u64,
    root: String,
    note: String,
}

/// The witness's durable state: one file per log.
#[derive(Debug)]
pub struct WitnessState {
    dir: PathBuf,
    lock: Mutex<()>,
}

fn state_file(dir: &Path, origin: &str) -> PathBuf {
    let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, origin.as_bytes());
    let hex: String = h.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}.json"))
}

impl WitnessState {
    /// Opens (creating, mode 0700) the state directory.
    pub fn open(dir: &Path) -> Result<Self, WitnessStartError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| WitnessStartError::Io(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            lock: Mutex::new(()),
        })
    }

    /// What was last cosigned for `origin`.
    pub fn seen(&self, origin: &str) -> Result<Option<Seen>, String> {
        let path = state_file(&self.dir, origin);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let s: StoredState =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let root = base64::engine::general_purpose::STANDARD
            .decode(&s.root)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| format!("{}: bad root", path.display()))?;
        if s.origin != origin {
            return Err(format!("{}: holds another origin", path.display()));
        }
        Ok(Some(Seen { size: s.size, root }))
    }

    fn store(&self, origin: &str, size: u64, root: &[u8; 32], note: &str) -> Result<(), String> {
        use std::io::Write;
        let path = state_file(&self.dir, origin);
        let tmp = path.with_extension("json.new");
        let json = serde_json::to_vec(&StoredState {
            origin: origin.to_owned(),
            size,
            root: base64::engine::general_purpose::STANDARD.encode(root),
            note: note.to_owned(),
        })
        .map_err(|e| e.to_string())?;
        let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).and_then(|()| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: {e}", self.dir.display()))
    }

    /// Checks a request against the stored state and, if it passes, stores the new
    /// checkpoint and returns the cosignature line — atomically.
    pub fn add_checkpoint(
        &self,
        logs: &[NoteVerifier],
        cosigner: &Cosigner,
        body: &str,
        now: u64,
    ) -> Result<String, AddError> {
        let req = parse_add_checkpoint(body).map_err(AddError::Refused)?;
        let _guard = self
            .lock
            .lock()
            .map_err(|_| AddError::Internal("lock poisoned".into()))?;
        let origin = req.note.split('\n').next().unwrap_or_default();
        let seen = self.seen(origin).map_err(AddError::Internal)?;
        let cp = decide(logs, |_| seen.clone(), &req);
        let cp = cp.map_err(AddError::Refused)?;
        let text = cp.to_body();
        let line = cosigner
            .cosign(&text, now)
            .map_err(|e| AddError::Internal(e.to_string()))?;
        // Durable before the cosignature leaves.
        self.store(&cp.origin, cp.size, &cp.root_hash, &req.note)
            .map_err(AddError::Internal)?;
        Ok(line)
    }
}

/// Why `add_checkpoint` gave no cosignature.
#[derive(Debug)]
pub enum AddError {
    /// Refused, with the spec's status.
    Refused(WitnessError),
    /// The witness failed (500).
    Internal(String),
}

#[derive(Clone)]
struct WitnessApp {
    state: Arc<WitnessState>,
    logs: Arc<Vec<NoteVerifier>>,
    cosigner: Arc<Cosigner>,
}

async fn add_checkpoint(State(w): State<WitnessApp>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large\n").into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "request is not UTF-8\n").into_response();
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let res = tokio::task::spawn_blocking(move || {
        w.state.add_checkpoint(&w.logs, &w.cosigner, &text, now)
    })
    .await;
    match res {
        Ok(Ok(line)) => (StatusCode::OK, line).into_response(),
        Ok(Err(AddError::Refused(WitnessError::OldSizeMismatch { latest }))) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{latest}\n"),
        )
            .into_response(),
        Ok(Err(AddError::Refused(e))) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            format!("{e}\n"),
        )
            .into_response(),
        Ok(Err(AddError::Internal(e))) => {
            tracing::error!("{e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
        Err(e) => {
            tracing::error!("{e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// The witness's router: `POST /add-checkpoint`.
pub fn witness_app(
    state: Arc<WitnessState>,
    logs: Vec<NoteVerifier>,
    cosigner: Arc<Cosigner>,
) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .with_state(WitnessApp {
            state,
            logs: Arc::new(logs),
            cosigner,
        })
}

/// TLS for the witness: server certificate only (no client authentication, per the spec).
pub fn witness_tls(chain: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(chain)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", chain.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// Serves the witness router on a listener until `shutdown` resolves.
pub async fn serve_witness(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = tower::service_fn(move |req: hyper::Request<Incoming>| {
                app.clone().oneshot(req.map(Body::new))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await;
        });
    }
}

/// Runs a witness from its configuration until SIGINT or SIGTERM; `ready` gets the bound
/// addresses.
pub fn run_witness(
    config: WitnessConfig,
    ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), WitnessStartError> {
    let state = Arc::new(WitnessState::open(&config.state_dir)?);
    let tls =
        witness_tls(&config.server_chain, &config.server_key).map_err(WitnessStartError::Io)?;
    let app = witness_app(state, config.logs, config.cosigner);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| WitnessStartError::Io(e.to_string()))?;
    rt.block_on(async move {
        let mut bound = Vec::new();
        let mut tasks = Vec::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        for addr in &config.listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| WitnessStartError::Io(format!("listening on {addr}: {e}")))?;
            bound.push(
                l.local_addr()
                    .map_err(|e| WitnessStartError::Io(e.to_string()))?,
            );
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(serve_witness(
                l,
                Arc::clone(&tls),
                app.clone(),
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )));
        }
        ready(&bound);
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| WitnessStartError::Io(e.to_string()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| WitnessStartError::Io(e.to_string()))?;
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}
