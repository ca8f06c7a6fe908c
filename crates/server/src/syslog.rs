//! Forwarding of audit events to audit record repositories and SIEMs: RFC 5424 syslog
//! messages over TLS (RFC 5425, octet-counted framing) carrying IHE ATNA audit messages
//! (DICOM PS3.15 A.5), as in IHE ITI-20.
//!
//! **The audit log is the outbox.** It is durable and append-only, so a receiver's
//! progress is just an index: the next leaf it has not confirmably received, kept in
//! `<data dir>/syslog/<receiver>.cursor` (written atomically). A leaf counts as received
//! once it was written to a connection that was still open `confirm_after` later (the
//! receiver had read it; TLS syslog has no acknowledgement). When the connection breaks,
//! everything after the cursor is sent again on the next one: delivery is at least once,
//! and the structured data `[meta sequenceId="leaf+1"]` lets a receiver drop repeats.
//! Connection failures back off from one second to a minute.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callvault_reporting::atna::AtnaMessage;
use callvault_reporting::fhir::PatientIdentifiers;
use callvault_types::CareProvider;
use callvault_vault::Vault;
use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};

/// Facility 10 (security/authorization), severity 5 (notice): `<85>`.
pub const PRI: u8 = 85;
/// MSGID of IHE ATNA audit messages (ITI-20).
pub const MSGID: &str = "IHE+RFC-3881";
/// Leaves read and sent at a time.
const BATCH: u64 = 256;
/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One receiver (`[[syslog]]` in the server configuration).
#[derive(Clone, Debug)]
pub struct SyslogReceiver {
    /// Name (`[a-z0-9-]`, names the cursor file).
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Name the receiver's certificate must carry.
    pub server_name: String,
    /// CA certificate(s) of the receiver's certificate (PEM).
    pub ca: PathBuf,
    /// Client certificate chain and key (mutual TLS, as ATNA secure nodes use).
    pub client: Option<(PathBuf, PathBuf)>,
    /// How patients appear in the messages.
    pub patient_identifiers: PatientIdentifiers,
    /// Only events of these care providers (all when empty).
    pub care_providers: Vec<CareProvider>,
    /// HOSTNAME field of the messages.
    pub hostname: String,
    /// How long a connection must stay open after a write before the write counts.
    pub confirm_after: Duration,
    /// Without a cursor, start at the beginning of the log (`true`) or at its end.
    pub from_beginning: bool,
}

/// A receiver's progress, readable while the forwarder runs.
#[derive(Debug, Default)]
pub struct SyslogStatus {
    /// Leaves before this one are confirmed received.
    pub confirmed: AtomicU64,
    /// Leaves before this one were written to the current connection.
    pub sent: AtomicU64,
    /// A connection is open.
    pub connected: AtomicBool,
    /// Connections made.
    pub connections: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    receiver: String,
    next_index: u64,
}

fn cursor_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("syslog").join(format!("{name}.cursor"))
}

fn read_cursor(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Cursor>(&text)
        .ok()
        .map(|c| c.next_index)
}

fn write_cursor(path: &Path, name: &str, next: u64) -> Result<(), String> {
    let json = serde_json::to_vec(&Cursor {
        receiver: name.to_owned(),
        next_index: next,
    })
    .map_err(|e| e.to_string())?;
    callvault_vault::write_durably(path, &json).map_err(|e| e.to_string())
}

/// RFC 5424 timestamp with microseconds, UTC.
fn timestamp(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_else(|_| "-".into())
}

/// One message, framed for RFC 5425 (`MSG-LEN SP SYSLOG-MSG`); the XML is UTF-8 behind a
/// byte order mark, as RFC 5424 asks of UTF-8 messages.
pub fn frame(m: &AtnaMessage, hostname: &str) -> Vec<u8> {
    let seq = m.index % 2_147_483_647 + 1;
    let msg = format!(
        "<{PRI}>1 {} {hostname} callvault - {MSGID} [meta sequenceId=\"{seq}\"] \u{feff}{}",
        timestamp(m.time),
        m.xml
    );
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

type Conn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(r: &SyslogReceiver, config: &Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    let addr = r
        .address
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", r.address))?
        .next()
        .ok_or_else(|| format!("{} has no address", r.address))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    tcp.set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(r.server_name.clone())
        .map_err(|_| format!("{:?} is not a server name", r.server_name))?;
    let conn =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| format!("TLS: {e}"))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // Complete the handshake now, so that a refused certificate shows here.
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
    }
    Ok(s)
}

/// Whether the receiver still has the connection open (it never sends anything; a close
/// or an error means it is gone).
fn alive(c: &mut Conn) -> bool {
    if c.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0u8; 256];
    let r = c.read(&mut buf);
    let restored = c.sock.set_nonblocking(false).is_ok();
    restored
        && match r {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
}

/// A running forwarder to one receiver.
#[derive(Debug)]
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    status: Arc<SyslogStatus>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    /// Starts forwarding from the receiver's cursor. Fails only if the TLS material is
    /// unusable or the thread cannot start; an unreachable receiver is retried.
    pub fn spawn(vault: Arc<Vault>, data_dir: &Path, r: SyslogReceiver) -> Result<Self, String> {
        let identity = r.client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let config =
            crate::client::tls_client_config(&r.ca, identity).map_err(|e| e.to_string())?;
        let dir = data_dir.join("syslog");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(SyslogStatus::default());
        let path = cursor_path(data_dir, &r.name);
        let (s, st) = (Arc::clone(&stop), Arc::clone(&status));
        let handle = std::thread::Builder::new()
            .name(format!("syslog-{}", r.name))
            .spawn(move || run(&vault, &path, &r, &config, &s, &st))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            stop,
            status,
            handle: Some(handle),
        })
    }

    /// Progress.
    pub fn status(&self) -> &SyslogStatus {
        &self.status
    }

    /// Stops the forwarder and waits for it (the cursor is saved).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Sleeps up to `d`, waking early on stop.
fn pause(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
}

fn run(
    vault: &Vault,
    path: &Path,
    r: &SyslogReceiver,
    config: &Arc<rustls::ClientConfig>,
    stop: &AtomicBool,
    status: &SyslogStatus,
) {
    let log = |m: &str| tracing::info!("syslog {}: {m}", r.name);
    let mut confirmed = match read_cursor(path) {
        Some(n) => n,
        None if r.from_beginning => 0,
        None => vault.catalog().audit_size().unwrap_or(0),
    };
    status.confirmed.store(confirmed, Ordering::SeqCst);
    let mut conn: Option<Conn> = None;
    let mut sent = confirmed;
    let mut inflight: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut backoff = Duration::from_secs(1);
    let mut last_error = String::new();
    while !stop.load(Ordering::SeqCst) {
        let Some(c) = conn.as_mut() else {
            match connect(r, config) {
                Ok(c) => {
                    conn = Some(c);
                    sent = confirmed;
                    inflight.clear();
                    backoff = Duration::from_secs(1);
                    last_error.clear();
                    status.connected.store(true, Ordering::SeqCst);
                    status.connections.fetch_add(1, Ordering::SeqCst);
                    log(&format!(
                        "connected to {}; sending from leaf {sent}",
                        r.address
                    ));
                }
                Err(e) => {
                    if e != last_error {
                        log(&format!("{e}; retrying (the events wait in the audit log)"));
                        last_error = e;
                    }
                    pause(stop, backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        };
        if !alive(c) {
            log("the receiver closed the connection; unconfirmed events will be sent again");
            conn = None;
            status.connected.store(false, Ordering::SeqCst);
            continue;
        }
        // Writes that an open connection has held long enough are confirmed.
        let before = confirmed;
        while let Some(&(end, at)) = inflight.front() {
            if at.elapsed() < r.confirm_after {
                break;
            }
            confirmed = end;
            inflight.pop_front();
        }
        if confirmed != before {
            if let Err(e) = write_cursor(path, &r.name, confirmed) {
                log(&format!("saving the cursor: {e}"));
            }
            status.confirmed.store(confirmed, Ordering::SeqCst);
        }
        let size = match vault.catalog().audit_size() {
            Ok(s) => s,
            Err(e) => {
                log(&format!("reading the audit log: {e}"));
                pause(stop, backoff);
                continue;
            }
        };
        if sent >= size {
            pause(stop, Duration::from_millis(100));
            continue;
        }
        let end = size.min(sent + BATCH);
        let msgs = match vault.atna_messages(sent, end, r.patient_identifiers, &r.care_providers) {
            Ok(m) => m,
            Err(e) => {
                log(&format!("reading leaves {sent}..{end}: {e}"));
                pause(stop, backoff);
                continue;
            }
        };
        let mut buf = Vec::new();
        for m in &msgs {
            buf.extend_from_slice(&frame(m, &r.hostname));
        }
        match c.write_all(&buf).and_then(|()| c.flush()) {
            Ok(()) => {
                sent = end;
                status.sent.store(sent, Ordering::SeqCst);
                inflight.push_back((end, Instant::now()));
            }
            Err(e) => {
                log(&format!(
                    "sending: {e}; unconfirmed events will be sent again"
                ));
                conn = None;
                status.connected.store(false, Ordering::SeqCst);
                pause(stop, backoff);
            }
        }
    }
    if let Some(mut c) = conn {
        c.conn.send_close_notify();
        let _ = c.conn.complete_io(&mut c.sock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_rfc5424_and_octet_counted() {
        let m = AtnaMessage {
            index: 41,
            time: time::macros::datetime!(2026-11-27 10:00:00.123456 UTC),
            xml: "<AuditMessage>Åsa</AuditMessage>".into(),
        };
        let f = frame(&m, "vault-1");
        let text = String::from_utf8(f).expect("utf-8");
        let (len, msg) = text.split_once(' ').expect("frame");
        assert_eq!(len.parse::<usize>().expect("len"), msg.len());
        assert_eq!(
            msg,
            "<85>1 2026-11-27T10:00:00.123456Z vault-1 callvault - IHE+RFC-3881 [meta sequenceId=\"42\"] \u{feff}<AuditMessage>Åsa</AuditMessage>"
        );
    }
}
