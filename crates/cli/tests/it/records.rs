//! Records management from the command line: an IVO deletion order carried out by two
//! records managers, with its certificate.

use std::process::Command;

use crate::*;

#[test]
fn records_managers_destroy_a_recording_by_ivo_decision_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = demo_no_serve(&data, "4", &["--listen", "127.0.0.1:0"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // The demo prints a Region Stockholm recording's URL.
    let rec = out
        .split("/api/v1/recordings/")
        .nth(1)
        .and_then(|r| r.split(['?', '/', '\'']).next())
        .expect("recording id")
        .to_owned();
    let (child, addr) = serve(&data.join("server.toml"));
    let server = format!("https://{addr}");
    let pki = data.join("pki");
    let ca = pki.join("root-ca.pem");
    let as_person =
        |who: &str, group: &str, args: &[&str]| as_person(&pki, &server, who, group, args);
    // The two administrators become records managers, each approved by the other.
    make_records_managers(&pki, &server);
    let sthlm = "SE2321000016-0001";
    // A nurse is no records manager.
    let o = as_person("nurse-a", "records", &["holds", "--care-provider", sthlm]);
    assert!(
        !o.status.success() && text(&o).contains("HTTP 403"),
        "{}",
        text(&o)
    );

    let doc = dir.path().join("beslut.pdf");
    std::fs::write(&doc, b"%PDF-1.7 IVO beslut").expect("doc");
    let o = as_person(
        "admin-a",
        "records",
        &[
            "hold",
            "--care-provider",
            sthlm,
            "--recording",
            &rec,
            "--reason",
            "Klagomål under utredning",
            "--case-reference",
            "Dnr 2026/1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let hold = json_id(&o);
    let o = as_person(
        "admin-a",
        "records",
        &[
            "register-ivo",
            "--care-provider",
            sthlm,
            "--case-number",
            "IVO 3.5.1-1/2026",
            "--decision-date",
            "2026-11-20",
            "--document",
            p(&doc),
            "--recording",
            &rec,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let order = json_id(&o);
    let o = as_person("admin-a", "records", &["approve", &order]);
    assert!(
        !o.status.success() && text(&o).contains("HTTP 403"),
        "own order: {}",
        text(&o)
    );
    let o = as_person("admin-a2", "records", &["approve", &order]);
    assert!(o.status.success(), "{}", text(&o));
    let fetched = dir.path().join("fetched.pdf");
    let o = as_person(
        "admin-a2",
        "records",
        &["document", &order, "--out", p(&fetched)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&fetched).expect("doc"),
        b"%PDF-1.7 IVO beslut"
    );
    let cert = dir.path().join("certificate.json");
    let o = as_person(
        "admin-a2",
        "records",
        &["execute", &order, "--certificate", p(&cert)],
    );
    assert!(
        !o.status.success() && text(&o).contains("under legal hold"),
        "{}",
        text(&o)
    );
    let o = as_person(
        "admin-a2",
        "records",
        &["release", &hold, "--reason", "Avslutad"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = as_person(
        "admin-a2",
        "records",
        &["execute", &order, "--certificate", p(&cert)],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The nurse finds the recording no more.
    let o = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            p(&ca),
            "--cert",
            p(&pki.join("nurse-a.pem")),
            "--key",
            p(&pki.join("nurse-a-key.pem")),
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!(
            "{server}/api/v1/recordings/{rec}?purpose=vard-och-behandling"
        ))
        .output()
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&o.stdout).ends_with("404"),
        "{}",
        text(&o)
    );
    stop_server(child);
    // Anyone holding the log's public key can check the certificate offline.
    let o = callvault(&["audit", "verifier-key", "--data-dir", p(&data)]);
    let key = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let o = callvault(&[
        "deletion",
        "verify-certificate",
        "--file",
        p(&cert),
        "--key",
        &key,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("destroyed {rec}")),
        "{}",
        text(&o)
    );
    let forged =
        std::fs::read_to_string(&cert)
            .expect("cert")
            .replacen("destroyed ", "destroyed  ", 1);
    std::fs::write(&cert, forged).expect("forge");
    let o = callvault(&[
        "deletion",
        "verify-certificate",
        "--file",
        p(&cert),
        "--key",
        &key,
    ]);
    assert!(!o.status.success(), "{}", text(&o));
}
