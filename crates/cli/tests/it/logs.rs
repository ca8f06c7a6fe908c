//! The server's logs, as an operator ships them: JSON lines with a level and fields when
//! `CALLVAULT_LOG_FORMAT=json`, and never a patient identifier.

use std::process::Stdio;

use crate::{demo_no_serve, serve_with, stop_server};

#[test]
fn serve_logs_json_lines_with_levels_and_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let o = demo_no_serve(&data, "2", &["--listen", "127.0.0.1:0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = dir.path().join("serve.log");
    let (child, addr) = serve_with(&data.join("server.toml"), |c| {
        c.env("CALLVAULT_LOG_FORMAT", "json")
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")));
    });
    // A connection without a client certificate: refused, and logged with its peer.
    let refused = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(data.join("pki/root-ca.pem"))
        .arg(format!("https://{addr}/healthz"))
        .output()
        .expect("curl (Debian package curl)");
    assert!(!refused.status.success());
    stop_server(child);
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"] == "connection refused or failed"
            && l["fields"]["peer"].is_string()),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "stopping; requests in flight may finish"),
        "{text}"
    );
    for i in 0..2 {
        let pnr = callvault_vault::demo::personnummer(i + 1);
        assert!(!text.contains(&pnr) && !text.contains(&pnr.replace('-', "")));
    }
}
