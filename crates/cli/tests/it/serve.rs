//! `callvault serve` answering curl over mutual TLS with real certificates.

use std::path::Path;
use std::process::Command;

use crate::*;

/// `callvault serve` as a process: listens where configured, requires a client
/// certificate (checked with curl, an independent TLS client), stops on SIGTERM.
#[test]
fn serve_answers_curl_with_a_client_certificate_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    assert!(
        callvault(&["pki", "dev", "--out", p(&root.join("pki"))])
            .status
            .success()
    );
    let o = callvault(&[
        "init",
        "--data-dir",
        p(&root.join("data")),
        "--care-provider",
        "SE2321000016-0001",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Valid around the real clock: the server decides with it.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let (from, until) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::days(300)),
    );
    let rights = ["search", "view-metadata", "play"];
    let nurse = callvault_auth::AssignmentSpec {
        id: "nurse-a",
        holder: "SE2321000016-N001",
        care_provider: "SE2321000016-0001",
        care_units: &["SE2321000016-1177"],
        purpose: "vård och behandling",
        rights: &rights,
        valid_from: &from,
        valid_until: &until,
    };
    let nurse_user = callvault_auth::UserEntry::new(
        "SE2321000016-N001",
        "Anna Andersson",
        "Sjuksköterska",
        "SE2321000016-0001",
    )
    .expect("user")
    .to_toml();
    let data = root.join("data");
    // The care provider's first two administrators: explicit, audited, exactly two persons.
    let bootstrap = |admins: &[&str]| {
        let mut args = vec![
            "governance",
            "bootstrap",
            "--data-dir",
            p(&data),
            "--care-provider",
            "SE2321000016-0001",
        ];
        for a in admins {
            args.extend(["--admin", a, "Admin", "Behörighetsadministratör"]);
        }
        callvault(&args)
    };
    let o = bootstrap(&["SE2321000016-A001"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("exactly twice"), "{}", text(&o));
    let o = bootstrap(&["SE2321000016-A001", "SE2321000016-A001"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("two different persons"), "{}", text(&o));
    let o = bootstrap(&["SE2321000016-A001", "SE2321000016-A002"]);
    assert!(o.status.success(), "{}", text(&o));
    let import =
        |file: &Path| callvault(&["assignments", "import", "--data-dir", p(&data), p(file)]);
    // Refused files change nothing: a bad HSA-ID, an unregistered care provider, a holder
    // who is neither registered nor in the file.
    let bad = root.join("bad.toml");
    std::fs::write(
        &bad,
        format!("{nurse_user}{}", nurse.to_toml()).replace("SE2321000016-N001", "not-an-hsa-id"),
    )
    .expect("bad");
    let o = import(&bad);
    assert!(!o.status.success());
    assert!(text(&o).contains("assignments:"), "{}", text(&o));
    let foreign = callvault_auth::AssignmentSpec {
        care_provider: "SE2321000156-0001",
        care_units: &["SE2321000156-1177"],
        ..nurse
    };
    std::fs::write(&bad, format!("{nurse_user}{}", foreign.to_toml())).expect("bad");
    let o = import(&bad);
    assert!(!o.status.success());
    assert!(text(&o).contains("not registered"), "{}", text(&o));
    std::fs::write(&bad, nurse.to_toml()).expect("bad");
    let o = import(&bad);
    assert!(!o.status.success());
    assert!(text(&o).contains("not a registered user"), "{}", text(&o));
    // The file's assignment becomes a request; nothing is in force yet.
    let file = root.join("assignments.toml");
    std::fs::write(&file, format!("{nurse_user}{}", nurse.to_toml())).expect("assignments");
    let o = import(&file);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("registered 1 new users; requested 1 assignments"),
        "{}",
        text(&o)
    );
    let o = callvault(&["assignments", "list", "--data-dir", p(&data)]);
    assert!(
        text(&o).contains("nurse-a  SE2321000016-N001") && text(&o).contains("  requested  "),
        "{}",
        text(&o)
    );
    std::fs::write(
        root.join("server.toml"),
        callvault_server::ServerConfig::demo_toml("data", "pki", "127.0.0.1:0"),
    )
    .expect("config");
    let (child, addr) = serve(&root.join("server.toml"));
    let pki = root.join("pki");
    let curl_as = |who: Option<&str>, method: &str, path: &str, body: Option<&str>| {
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "--max-time",
            "10",
            "-X",
            method,
            "--cacert",
            p(&pki.join("root-ca.pem")),
        ]);
        if let Some(who) = who {
            c.args([
                "--cert",
                p(&pki.join(format!("{who}.pem"))),
                "--key",
                p(&pki.join(format!("{who}-key.pem"))),
            ]);
        }
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "--data", b]);
        }
        c.arg("-w")
            .arg("\n%{http_code}")
            .arg(format!("https://{addr}{path}"));
        c.output()
            .expect("curl (Debian package curl) is needed for this test")
    };
    let curl =
        |with_cert: bool, path: &str| curl_as(with_cert.then_some("nurse-a"), "GET", path, None);
    let ok = curl(true, "/healthz");
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "ok\n\n200");
    let refused = curl(false, "/healthz");
    assert!(
        !refused.status.success(),
        "no client certificate must be refused: {}",
        text(&refused)
    );
    let missing = curl(
        true,
        "/api/v1/recordings/00000000-0000-4000-8000-000000000000?purpose=vard-och-behandling",
    );
    // The audit log's verifier key: served to any authenticated caller, and printed by the
    // CLI beside the running server (which holds the data directory's lock).
    let served = curl(true, "/api/v1/audit/verifier-key");
    let served = String::from_utf8_lossy(&served.stdout).to_string();
    let o = callvault(&["audit", "verifier-key", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(printed.contains('+'), "{printed}");
    assert_eq!(served, format!("{printed}\n\n200"));
    // Operators look at a running deployment: the reading commands open the data directory
    // beside the server (no lock, nothing cleaned up), and the reads they record land in the
    // same log, at the next index, while the server keeps writing.
    let before = callvault(&["audit", "events", "--last", "1", "--data-dir", p(&data)]);
    assert!(before.status.success(), "{}", text(&before));
    assert!(
        text(&before).contains("reading beside it"),
        "{}",
        text(&before)
    );
    for args in [
        &["status"][..],
        &["verify"][..],
        &["audit", "verify"][..],
        &["audit", "events", "--last", "3"][..],
    ] {
        let mut a = args.to_vec();
        a.extend(["--data-dir", p(&data)]);
        let o = callvault(&a);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    // The server still writes after them (its next event follows theirs).
    let again = curl(true, "/api/v1/audit/verifier-key");
    assert!(String::from_utf8_lossy(&again.stdout).ends_with("200"));
    let after = curl(
        true,
        "/api/v1/recordings/00000000-0000-4000-8000-000000000000?purpose=vard-och-behandling",
    );
    assert!(String::from_utf8_lossy(&after.stdout).ends_with("403"));
    let o = callvault(&["audit", "verify", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    // Without an assignment in force, a recording that does not exist is refused exactly as
    // one that does (no existence oracle).
    let body = String::from_utf8_lossy(&missing.stdout).to_string();
    assert!(
        body.ends_with("403") && body.contains("no active assignment"),
        "{body}"
    );
    // Search is refused until an administrator approves the request. The patient travels in
    // the body, never in the URL.
    let search_path = "/api/v1/recordings/search?purpose=vard-och-behandling";
    let search_body = r#"{"care_provider":"SE2321000016-0001","patient":"191212121212"}"#;
    let search = || curl_as(Some("nurse-a"), "POST", search_path, Some(search_body));
    let before = String::from_utf8_lossy(&search().stdout).to_string();
    assert!(before.ends_with("403"), "{before}");
    // Privilege administration from the command line goes through the server as the person
    // whose certificate is presented: the nurse cannot approve (no administration
    // assignment) …
    let server = format!("https://{addr}");
    let admin = |who: &str, args: &[&str]| as_person(&pki, &server, who, "admin", args);
    let out = |o: std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    let o = admin("nurse-a", &["approve", "nurse-a"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("HTTP 403"), "{}", text(&o));
    // … an administrator can, and it applies to the very next request.
    let o = admin(
        "admin-a",
        &[
            "approve",
            "nurse-a",
            "--comment",
            "ny sjuksköterska på 1177",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("audit_leaf_index"), "{}", text(&o));
    let after = out(search());
    assert!(after.ends_with("200"), "after approval: {after}");
    let missing = out(curl(
        true,
        "/api/v1/recordings/00000000-0000-4000-8000-000000000000?purpose=vard-och-behandling",
    ));
    assert!(
        missing.ends_with("404") && missing.contains("problems/not-found"),
        "{missing}"
    );
    let o = admin("admin-a2", &["approve", "nurse-a"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("HTTP 409") && text(&o).contains("is approved, not awaiting a decision"),
        "{}",
        text(&o)
    );
    // A new colleague: registered and requested by one administrator, approved by the other.
    let o = admin(
        "admin-a",
        &[
            "register-user",
            "--hsa-id",
            "SE2321000016-N002",
            "--name",
            "Nora Nilsson",
            "--title",
            "Sjuksköterska",
            "--care-provider",
            "SE2321000016-0001",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = admin(
        "admin-a",
        &[
            "request",
            "--holder",
            "SE2321000016-N002",
            "--care-provider",
            "SE2321000016-0001",
            "--unit",
            "SE2321000016-1177",
            "--purpose",
            "vard-och-behandling",
            "--right",
            "search",
            "--right",
            "play",
            "--valid-until",
            &until,
            "--justification",
            "Ny på 1177",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let id = text(&o)
        .split('"')
        .find(|s| s.starts_with("asg-"))
        .expect("assignment id")
        .to_owned();
    let o = admin("admin-a", &["approve", &id]);
    assert!(
        !o.status.success() && text(&o).contains("HTTP 403"),
        "self-approval: {}",
        text(&o)
    );
    let o = admin("admin-a2", &["approve", &id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = admin("admin-a2", &["review", "--format", "csv"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out(o).contains(&format!("{id},SE2321000016-N002,Nora Nilsson,")),
        "review"
    );
    // The running server holds the data directory: an import says so and changes nothing.
    let o = import(&file);
    assert!(!o.status.success());
    assert!(text(&o).contains("in use"), "{}", text(&o));
    // SIGHUP reloads the TLS material (and rebuilds the policy); the server keeps serving.
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let mut reloaded = String::new();
    for _ in 0..50 {
        reloaded = out(search());
        if reloaded.ends_with("200") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(reloaded.ends_with("200"), "after reload: {reloaded}");
    stop_server(child);
    // Bootstrap, import, request, the refused and the granted approval are in the log.
    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "50"]);
    let log = text(&o);
    for (code, n) in [
        ("governance.bootstrap", 1),
        ("assignments.import", 1),
        ("assignment.request", 2),
        ("assignment.approve", 2),
        // The nurse's refusal by the policy, the second approval (409) and the requester's
        // own approval (four eyes, 403): every refusal is an audit event.
        ("privileges.manage", 3),
        ("user.register", 4),
    ] {
        assert_eq!(log.matches(code).count(), n, "{code}: {log}");
    }
}
