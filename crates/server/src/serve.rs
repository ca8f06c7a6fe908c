//! The accept loop: TLS handshake (client certificate required), principal from the
//! verified certificate, then HTTP/1.1 with header timeouts.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::tls::Identities;

/// Longest a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves. Each connection uses the TLS
/// configuration current when it is accepted, so reloaded CRLs apply to new connections.
pub async fn serve(
    listener: TcpListener,
    tls: watch::Receiver<Arc<rustls::ServerConfig>>,
    identities: Arc<Identities>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("callvault-server: accept: {e}");
                    continue;
                }
            },
        };
        let acceptor = TlsAcceptor::from(Arc::clone(&tls.borrow()));
        let identities = Arc::clone(&identities);
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, peer, acceptor, &identities, app).await {
                eprintln!("callvault-server: {peer}: {e}");
            }
        });
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    identities: &Identities,
    app: Router,
) -> Result<(), String> {
    let _ = peer;
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS handshake refused: {e}"))?;
    // rustls has verified the chain and revocation; now name the principal.
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no client certificate")?;
    let principal = identities.principal(leaf).map_err(|e| e.to_string())?;
    let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(principal.clone());
        app.clone().oneshot(req.map(Body::new))
    });
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
        .await
        .map_err(|e| format!("HTTP: {e}"))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The vault would not open.
    #[error(transparent)]
    Vault(#[from] callvault_vault::VaultError),
    /// The assignment file is not acceptable.
    #[error(transparent)]
    Assignments(#[from] callvault_auth::AssignmentError),
    /// TLS material is not usable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A listen address could not be bound, or the runtime could not start.
    #[error("{0}")]
    Io(String),
}

/// Runs the server of `config` until SIGINT or SIGTERM; SIGHUP reloads the TLS material
/// (certificates and CRLs) for new connections, keeping the old one if the new is bad.
/// `ready` is called with the bound addresses once the server accepts connections.
pub fn run(
    config: crate::ServerConfig,
    ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), StartError> {
    let vault = Arc::new(callvault_vault::Vault::open(&config.data_dir)?);
    let policy = Arc::new(callvault_auth::Policy::new(
        callvault_auth::AssignmentSet::load(&config.assignments)?,
    ));
    let tls = crate::tls::server_config(&config.tls)?;
    let identities = Arc::new(Identities::load(&config.tls)?);
    let app = crate::app(crate::AppState {
        vault,
        policy,
        metrics: crate::metrics::Metrics::default(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Io(format!("starting the runtime: {e}")))?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Io(format!("listening on {addr}: {e}")))?;
            listeners.push(l);
        }
        let bound: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        let (tls_tx, tls_rx) = watch::channel(tls);
        let (stop_tx, stop_rx) = watch::channel(false);
        for l in listeners {
            let mut stop = stop_rx.clone();
            tokio::spawn(serve(l, tls_rx.clone(), Arc::clone(&identities), app.clone(), async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
        }
        ready(&bound);
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).map_err(|e| StartError::Io(e.to_string()))?;
        let mut term = signal(SignalKind::terminate()).map_err(|e| StartError::Io(e.to_string()))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| StartError::Io(e.to_string()))?;
        loop {
            tokio::select! {
                _ = hup.recv() => match crate::tls::server_config(&config.tls) {
                    Ok(new) => {
                        let _ = tls_tx.send(new);
                        eprintln!("callvault-server: TLS material and CRLs reloaded");
                    }
                    Err(e) => eprintln!("callvault-server: reload failed, keeping the old TLS material: {e}"),
                },
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        let _ = stop_tx.send(true);
        Ok(())
    })
}
