//! Syslog forwarding against a real rsyslog (Debian `rsyslog` with `rsyslog-gnutls`)
//! listening with TLS and requiring a client certificate: every audit event arrives as an
//! RFC 5424 message with an ATNA audit message, and none is lost while the receiver is
//! stopped and started again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callvault_reporting::fhir::PatientIdentifiers;
use callvault_server::syslog::{Forwarder, SyslogReceiver};

use crate::{get, world};

struct Rsyslog {
    child: Child,
}

impl Rsyslog {
    /// rsyslogd on `port`; `auth` is the gtls client authentication mode
    /// (`x509/certvalid`: a certificate from a trusted CA is required; `anon`: none).
    fn start(dir: &Path, port: u16, auth: &str) -> Self {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(
  workDirectory="{work}"
  maxMessageSize="64k"
  DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="{dir}/ca.pem"
  DefaultNetstreamDriverCertFile="{dir}/server.pem"
  DefaultNetstreamDriverKeyFile="{dir}/server.key"
)
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="{auth}")
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="atna")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="atna") {{
  action(type="omfile" file="{dir}/received.log" template="raw" flushOnTXEnd="on" asyncWriting="off")
}}
"#,
                work = work.display(),
                dir = dir.display(),
            ),
        )
        .expect("conf");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .spawn()
            .expect("rsyslogd (Debian rsyslog and rsyslog-gnutls; scripts/test installs them)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child }
    }

    /// A clean stop (SIGTERM), waiting for the process to exit.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sequence ids (leaf + 1) of the messages received so far.
fn received(dir: &Path) -> BTreeSet<u64> {
    let text = std::fs::read_to_string(dir.join("received.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split("sequenceId=\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn wait_for_all(dir: &Path, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = received(dir);
        if (1..=size).all(|s| got.contains(&s)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rsyslog has {} of {size} events; missing e.g. {:?}",
            got.len(),
            (1..=size).find(|s| !got.contains(s))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A receiver on loopback `port`, pseudonymous, confirming after one second.
fn loopback_receiver(
    name: &str,
    port: u16,
    ca: &Path,
    client: Option<(PathBuf, PathBuf)>,
) -> SyslogReceiver {
    SyslogReceiver {
        name: name.into(),
        address: format!("127.0.0.1:{port}"),
        server_name: "localhost".into(),
        ca: ca.to_owned(),
        client,
        patient_identifiers: PatientIdentifiers::Pseudonym,
        care_providers: Vec::new(),
        hostname: "callvault-test".into(),
        confirm_after: Duration::from_secs(1),
        from_beginning: true,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn cat(out: &Path, files: &[&PathBuf]) {
    let mut text = String::new();
    for f in files {
        text.push_str(&std::fs::read_to_string(f).expect("pem"));
    }
    std::fs::write(out, text).expect("write");
}

#[tokio::test(flavor = "multi_thread")]
async fn rsyslog_receives_every_event_over_tls_across_a_restart() {
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rs = dir.path();
    // rsyslog: the server certificate; it trusts the CAs that issue function certificates.
    cat(&rs.join("server.pem"), &[&w.pki.server_chain]);
    cat(&rs.join("server.key"), &[&w.pki.server_key]);
    cat(&rs.join("ca.pem"), &[&w.pki.root_ca, &w.pki.function_ca]);
    let port = free_port();
    let receiver = Rsyslog::start(rs, port, "x509/certvalid");

    // callvault presents a function certificate (an ATNA secure node authenticates).
    let (_, chain, key, _) = w
        .pki
        .clients
        .iter()
        .find(|c| c.0 == "recorder-a")
        .expect("function certificate")
        .clone();
    let r = loopback_receiver("siem", port, &w.pki.root_ca, Some((chain, key)));
    let data_dir = w._dir.path().join("data");
    let fwd = Forwarder::spawn(Arc::clone(&w.vault), &data_dir, r.clone()).expect("forwarder");
    let size = w.vault.catalog().audit_size().expect("size");
    let rs_path = rs.to_owned();
    tokio::task::spawn_blocking(move || wait_for_all(&rs_path, size))
        .await
        .expect("wait");

    // The receiver stops; events keep coming; it starts again; nothing is missing.
    receiver.stop();
    let reads = format!("/api/v1/recordings/{}?purpose=vard-och-behandling", w.rec_a);
    for _ in 0..5 {
        assert_eq!(
            get(&w, &w.pki, Some("nurse-a"), &reads, None)
                .await
                .expect("r")
                .status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let down = w.vault.catalog().audit_size().expect("size");
    assert!(down >= size + 5);
    let receiver = Rsyslog::start(rs, port, "x509/certvalid");
    let rs_path = rs.to_owned();
    tokio::task::spawn_blocking(move || wait_for_all(&rs_path, down))
        .await
        .expect("wait");
    assert!(
        fwd.status()
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );

    // Every message is RFC 5424 with an ATNA audit message that an independent XML parser
    // (Python's) reads, whose leaf index matches the sequence id.
    let log = rs.join("received.log");
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import re, sys, xml.etree.ElementTree as ET
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r'^<85>1 \S+Z callvault-test callvault - IHE\+RFC-3881 \[meta sequenceId="(\d+)"\] \ufeff(.*)$', line.rstrip("\n"))
    assert m, "not RFC 5424 ATNA: " + line[:120]
    root = ET.fromstring(m.group(2).encode("utf-8"))
    assert root.tag == "AuditMessage", root.tag
    ev = root.find("EventIdentification")
    assert ev.get("EventActionCode") in "CRUDE" and ev.find("EventID").get("csd-code"), line[:200]
    leaf = [p for p in root.findall("ParticipantObjectIdentification") if p.get("ParticipantObjectTypeCodeRole") == "13"]
    assert int(leaf[0].get("ParticipantObjectID")) + 1 == int(m.group(1))
    n += 1
print(n)
"#,
        )
        .arg(&log)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("count");
    assert!(parsed >= down, "{parsed} messages parsed");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("csd-code=\"110110\""),
        "patient record events"
    );
    assert!(
        !text.contains(&callvault_vault::demo::personnummer(1)[..8]),
        "pseudonyms only"
    );

    // The cursor is durable: after a stop it names the confirmed end.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::spawn_blocking(move || fwd.stop())
        .await
        .expect("stop");
    let cursor: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir.join("syslog/siem.cursor")).expect("cursor"),
    )
    .expect("json");
    assert!(cursor["next_index"].as_u64().expect("next") >= down);
    receiver.stop();
}

#[tokio::test]
async fn an_unreachable_receiver_loses_nothing_and_is_retried() {
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let r = loopback_receiver("later", port, &w.pki.root_ca, None);
    let data_dir = w._dir.path().join("data");
    let fwd = Forwarder::spawn(Arc::clone(&w.vault), &data_dir, r).expect("forwarder");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fwd.status()
            .confirmed
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // The receiver appears (accepting clients without certificates here): the backlog
    // arrives.
    let rs = dir.path();
    cat(&rs.join("server.pem"), &[&w.pki.server_chain]);
    cat(&rs.join("server.key"), &[&w.pki.server_key]);
    cat(&rs.join("ca.pem"), &[&w.pki.root_ca]);
    let size = w.vault.catalog().audit_size().expect("size");
    let receiver = Rsyslog::start(rs, port, "anon");
    let rs_path = rs.to_owned();
    tokio::task::spawn_blocking(move || wait_for_all(&rs_path, size))
        .await
        .expect("wait");
    tokio::task::spawn_blocking(move || fwd.stop())
        .await
        .expect("stop");
    receiver.stop();
}
