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
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::Limits;
use crate::tls::Identities;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets requests
/// in flight finish for up to `limits.shutdown_grace`, and aborts the rest (an aborted
/// upload leaves nothing behind). Each connection uses the TLS configuration current when
/// it is accepted, so reloaded CRLs apply to new connections. At most
/// `limits.max_connections` connections are served at once; further clients wait in the
/// listen backlog.
pub async fn serve(
    listener: TcpListener,
    tls: watch::Receiver<Arc<rustls::ServerConfig>>,
    identities: Arc<Identities>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = TlsAcceptor::from(Arc::clone(&tls.borrow()));
        let identities = Arc::clone(&identities);
        let app = app.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            if let Err(e) = connection(tcp, acceptor, &identities, app, limits, stop).await {
                tracing::info!(%peer, error = %e, "connection refused or failed");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connection(s) still busy after {} s; aborting them",
            connections.len(),
            limits.shutdown_grace.as_secs()
        );
        connections.shutdown().await;
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    identities: &Identities,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    let tls = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp))
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
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 << 10)
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            // Finish the request in flight, then close; idle connections close at once.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    result.map_err(|e| format!("HTTP: {e}"))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The vault would not open.
    #[error(transparent)]
    Vault(#[from] callvault_vault::VaultError),
    /// TLS material is not usable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A listen address could not be bound, or the runtime could not start.
    #[error("{0}")]
    Io(String),
}

/// The background scrub: one pass within the I/O budget, then a pause, for as long as the
/// process runs. A pass cut short by shutdown resumes at the next start.
fn spawn_scrub(vault: Arc<callvault_vault::Vault>, s: crate::ScrubSettings) {
    let run = move || {
        loop {
            let opts = callvault_vault::scrub::ScrubOptions {
                bytes_per_sec: Some(s.bytes_per_sec),
                repair: true,
            };
            match vault.scrub(opts, callvault_vault::Maintainer::Vault, |_| {}) {
                Ok(r) => {
                    for id in &r.state.lost {
                        tracing::error!(
                            "LOST: recording {id}: no site holds a good copy; restore it from a backup"
                        );
                    }
                    tracing::info!(
                        "scrub pass done: {} recordings, {} bad copies, {} repaired, {} repair tasks open",
                        r.state.recordings,
                        r.state.bad_copies,
                        r.state.repaired,
                        r.state.open_repair_tasks
                    );
                }
                Err(e) => tracing::error!("scrub failed: {e}"),
            }
            std::thread::sleep(s.interval);
        }
    };
    if let Err(e) = std::thread::Builder::new().name("scrub".into()).spawn(run) {
        tracing::error!("the background scrub could not start: {e}");
    }
}

/// Every `interval`: when the log has grown past the latest checkpoint, sign a new one and
/// submit it to the configured witnesses (their cosignatures are stored; a refusal is
/// recorded as `audit.witness-refused` and logged loudly).
fn spawn_checkpoints(vault: Arc<callvault_vault::Vault>, interval: std::time::Duration) {
    let run = move || {
        loop {
            std::thread::sleep(interval);
            let grown = match (
                vault.catalog().audit_size(),
                vault.catalog().latest_checkpoint(),
            ) {
                (Ok(size), Ok(latest)) => latest.is_none_or(|c| size > c.size),
                _ => false,
            };
            if !grown {
                continue;
            }
            match vault.checkpoint() {
                Ok(c) => tracing::info!("checkpoint signed at size {}", c.size),
                Err(e) => {
                    tracing::error!("signing a checkpoint failed: {e}");
                    continue;
                }
            }
            for (name, outcome) in crate::witnessing::submit_to_witnesses(&vault) {
                match outcome {
                    crate::witnessing::WitnessOutcome::Refused(status, m) => tracing::error!(
                        "WITNESS REFUSED: {name} answered {status}: {m} (recorded in the audit log)"
                    ),
                    crate::witnessing::WitnessOutcome::Failed(m) => {
                        tracing::warn!("witness {name} not reached: {m}")
                    }
                    _ => {}
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("checkpoints".into())
        .spawn(run)
    {
        tracing::error!("the checkpoint job could not start: {e}");
    }
}

/// Runs the server of `config` until SIGINT or SIGTERM; SIGHUP reloads the TLS material
/// (certificates and CRLs) for new connections, keeping the old if the new is bad. The
/// policy comes from the vault's approved assignments; governance routes apply approvals
/// and revocations at once.
/// `ready` is called with the bound addresses once the server accepts connections.
pub fn run(
    config: crate::ServerConfig,
    ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), StartError> {
    let vault = Arc::new(callvault_vault::Vault::open(&config.data_dir)?);
    let policy = vault.policy()?;
    // What a crash left unfinished is finished before anything is served; an interrupted key
    // rotation is only reported (it is finished offline, by `callvault repair`).
    let recovered = vault.recover(
        callvault_vault::Maintainer::Vault,
        callvault_vault::Rotations::Report,
    )?;
    for id in &recovered.finished_deletions {
        tracing::info!("finished the interrupted deletion order {id}");
    }
    for r in &recovered.rotations {
        tracing::warn!(
            "WARNING: the key rotation of {} is unfinished ({} data keys under older KEK versions); stop the server and run `callvault repair` to finish it",
            r.care_provider,
            r.pending
        );
    }
    if config.scrub.enabled {
        spawn_scrub(Arc::clone(&vault), config.scrub);
    }
    if let Some(interval) = config.checkpoint_interval {
        spawn_checkpoints(Arc::clone(&vault), interval);
    }
    let mut forwarders = Vec::new();
    for r in &config.syslog {
        let f = crate::syslog::Forwarder::spawn(Arc::clone(&vault), &config.data_dir, r.clone())
            .map_err(|e| StartError::Io(format!("syslog {}: {e}", r.name)))?;
        forwarders.push(f);
    }
    let tls = crate::tls::server_config(&config.tls)?;
    let identities = Arc::new(Identities::load(&config.tls)?);
    let limits = config.limits;
    let state = crate::AppState::new(Arc::clone(&vault), policy, limits);
    let policy_slot = Arc::clone(&state.policy);
    let app = crate::app(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Every upload and audio stream holds one blocking thread; keep room for the rest.
        .max_blocking_threads(limits.max_uploads + limits.max_audio_streams + 64)
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
        let mut servers = JoinSet::new();
        for l in listeners {
            let mut stop = stop_rx.clone();
            servers.spawn(serve(l, tls_rx.clone(), Arc::clone(&identities), app.clone(), limits, async move {
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
                _ = hup.recv() => {
                    match crate::tls::server_config(&config.tls) {
                        Ok(new) => {
                            let _ = tls_tx.send(new);
                            tracing::info!("TLS material and CRLs reloaded");
                        }
                        Err(e) => tracing::error!("reload failed, keeping the old TLS material: {e}"),
                    }
                    let v = Arc::clone(&vault);
                    match tokio::task::spawn_blocking(move || v.policy()).await {
                        Ok(Ok(p)) => policy_slot.replace(p),
                        Ok(Err(e)) => tracing::error!("reloading the assignments failed, keeping the current ones: {e}"),
                        Err(e) => tracing::error!("reloading the assignments failed, keeping the current ones: {e}"),
                    }
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        tracing::info!("stopping; requests in flight may finish");
        let _ = stop_tx.send(true);
        while servers.join_next().await.is_some() {}
        // The forwarders save their cursors; whatever is unconfirmed goes again next start.
        tokio::task::spawn_blocking(move || forwarders.into_iter().for_each(crate::syslog::Forwarder::stop))
            .await
            .map_err(|e| StartError::Io(e.to_string()))?;
        Ok(())
    })
}
