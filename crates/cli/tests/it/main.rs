//! End-to-end tests of the `callvault` binary: exit codes, reports, and that no command
//! prints patient identifiers.

use std::path::Path;
use std::process::{Command, Output};

mod scale_out;

fn callvault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callvault"))
        .args(args)
        .output()
        .expect("run callvault")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["import", "--help"],
        vec!["verify", "--help"],
        vec!["repair", "--help"],
        vec!["status", "--help"],
        vec!["audit", "--help"],
        vec!["audit", "checkpoint", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "proof", "--help"],
        vec!["audit", "events", "--help"],
        vec!["serve", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["assignments", "import", "--help"],
        vec!["assignments", "list", "--help"],
        vec!["governance", "bootstrap", "--help"],
        vec!["governance", "review", "--help"],
        vec!["admin", "--help"],
        vec![
            "admin", "--server", "x", "--ca", "x", "--cert", "x", "--key", "x", "request", "--help",
        ],
        vec!["care-provider", "add", "--help"],
        vec!["pki", "dev", "--help"],
        vec!["demo", "--help"],
    ] {
        let o = callvault(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Usage"), "{args:?}");
    }
    let o = callvault(&["import"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn demo_imports_verifies_and_prints_no_patient_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = callvault(&[
        "demo",
        "--data-dir",
        p(&data),
        "--recordings",
        "6",
        "--no-serve",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("6 imported"), "{out}");
    assert!(out.contains("OK: no problems found"), "{out}");
    assert!(
        out.contains("— audit.callvault.demo.example "),
        "signed checkpoint: {out}"
    );
    for i in 0..6u64 {
        let pnr = callvault_vault::demo::personnummer(i + 1);
        assert!(
            !out.contains(&pnr) && !out.contains(&pnr.replace('-', "")),
            "patient id printed"
        );
    }
    assert!(!out.contains("+4670"), "caller number printed");
    // The generated plaintext archive is gone: only ciphertext remains.
    assert!(!data.join("legacy-archive").exists());

    // Running it again reuses the directory and skips what is imported.
    let o = callvault(&[
        "demo",
        "--data-dir",
        p(&data),
        "--recordings",
        "6",
        "--no-serve",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("0 imported") && out.contains("6 already imported"),
        "{out}"
    );

    let o = callvault(&["status", "--data-dir", p(&data)]);
    assert!(o.status.success());
    let out = text(&o);
    assert!(
        out.contains("recordings:        6") && out.contains("under-replicated:  0"),
        "{out}"
    );

    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "60"]);
    assert!(o.status.success(), "{}", text(&o));
    let events = text(&o);
    assert!(
        events.contains("recording.import  granted") && events.contains("patient #"),
        "{events}"
    );
    for i in 0..6u64 {
        let pnr = callvault_vault::demo::personnummer(i + 1);
        assert!(
            !events.contains(&pnr) && !events.contains(&pnr.replace('-', "")),
            "patient id printed"
        );
    }
    // The demo also prepared the access server: PKI and configuration; its assignments went
    // through the governance workflow (bootstrap, import as requests, four-eyes approval).
    for f in ["pki/nurse-a.p12", "pki/admin-a2.pem", "server.toml"] {
        assert!(data.join(f).exists(), "{f}");
    }
    for code in [
        "governance.bootstrap",
        "assignments.import",
        "user.register",
        "assignment.request",
        "assignment.approve",
    ] {
        assert!(events.contains(code), "{code}: {events}");
    }
    let o = callvault(&["assignments", "list", "--data-dir", p(&data)]);
    let list = text(&o);
    assert!(o.status.success(), "{list}");
    assert!(
        list.contains("nurse-a  SE2321000016-N001")
            && list.contains("approved (in force)")
            && list.contains("decided by person:SE2321000016-A002"),
        "{list}"
    );
    let o = callvault(&[
        "governance",
        "review",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
        "--format",
        "csv",
    ]);
    let csv = text(&o);
    assert!(o.status.success(), "{csv}");
    assert!(
        csv.starts_with("id,holder,holder_name,")
            && csv.contains("nurse-a,SE2321000016-N001,Anna Andersson,Sjuksköterska,"),
        "{csv}"
    );
    // A second bootstrap is refused: the care provider has administrators in force.
    let o = callvault(&[
        "governance",
        "bootstrap",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
        "--admin",
        "SE2321000016-X001",
        "Mallory",
        "Admin",
        "--admin",
        "SE2321000016-X002",
        "Mallory Two",
        "Admin",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("already has privilege administrators in force"),
        "{}",
        text(&o)
    );
    // Example inputs with (synthetic) patient ids live beside the data directory, not in it.
    for f in ["upload-metadata.json", "patient.txt", "assignments.toml"] {
        assert!(data.with_extension("examples").join(f).exists(), "{f}");
    }
    let o = callvault(&["audit", "proof", "--data-dir", p(&data), "--index", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("leaf_hash: "));
    let o = callvault(&[
        "keys",
        "rotate",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("KEK v2 is current; re-wrapped 3 data keys"),
        "{}",
        text(&o)
    );
    let o = callvault(&["verify", "--deep", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn pki_dev_writes_a_development_pki() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pki");
    let o = callvault(&["pki", "dev", "--out", p(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("NOT SITHS"));
    for f in [
        "root-ca.pem",
        "person-ca.crl.pem",
        "server-chain.pem",
        "nurse-a.p12",
        "revoked.pem",
        "expired-key.pem",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let again = callvault(&["pki", "dev", "--out", p(&out)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("already holds a development PKI"),
        "{}",
        text(&again)
    );
}

#[test]
fn failures_exit_non_zero_with_a_clear_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("v");
    let o = callvault(&[
        "init",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The demo archive also has a second care provider: register it separately.
    let o = callvault(&[
        "care-provider",
        "add",
        "--data-dir",
        p(&data),
        "--hsa-id",
        "SE2321000156-0001",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("registered"), "{}", text(&o));
    let o = callvault(&[
        "care-provider",
        "add",
        "--data-dir",
        p(&data),
        "--hsa-id",
        "not-an-hsa-id",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("HSA-ID must start with"), "{}", text(&o));
    let again = callvault(&["init", "--data-dir", p(&data)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("refusing to overwrite"),
        "{}",
        text(&again)
    );

    // A manifest with one good and one bad row: the good row lands, exit code 1.
    let archive = dir.path().join("archive");
    callvault_vault::demo::write_archive(&archive, 2, 1).expect("archive");
    let manifest = archive.join("manifest.csv");
    let text_m = std::fs::read_to_string(&manifest).expect("read");
    let broken = text_m.replacen("call-0001.wav", "nope.wav", 1);
    std::fs::write(&manifest, broken).expect("write");
    let o = callvault(&["import", "--data-dir", p(&data), "--manifest", p(&manifest)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("1 imported") && out.contains("1 failed"),
        "{out}"
    );
    assert!(out.contains("line 3: cannot open the file"), "{out}");

    // Damage a blob at site b: verify names it and exits 1.
    let objects = data.join("sites/b/objects");
    let blob = walk(&objects).pop().expect("a blob");
    let mut bytes = std::fs::read(&blob).expect("read");
    bytes[100] ^= 0xff;
    std::fs::write(&blob, bytes).expect("write");
    let id = blob
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".cvr1"))
        .expect("id")
        .to_owned();
    let o = callvault(&["verify", "--data-dir", p(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("recording {id}: site b: copy is damaged")),
        "{out}"
    );
    // repair heals it from site a.
    let o = callvault(&["repair", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["verify", "--deep", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));

    // A key file readable by others: refusal, exit 1, message names the file.
    let kek = walk(&data.join("keys"))
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with("kek-v000001.key"))
        .expect("kek");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let o = callvault(&["status", "--data-dir", p(&data)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("chmod 600"), "{}", text(&o));
}

use callvault_testkit::files_under as walk;

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
    let (mut child, addr) = serve(&root.join("server.toml"));
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
    let body = String::from_utf8_lossy(&missing.stdout).to_string();
    assert!(
        body.ends_with("404") && body.contains("problems/not-found"),
        "{body}"
    );
    // Search is refused until an administrator approves the request.
    let search = "/api/v1/recordings?care_provider=SE2321000016-0001&patient=191212121212&purpose=vard-och-behandling";
    let before = String::from_utf8_lossy(&curl(true, search).stdout).to_string();
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
    let after = out(curl(true, search));
    assert!(after.ends_with("200"), "after approval: {after}");
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
        reloaded = out(curl(true, search));
        if reloaded.ends_with("200") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(reloaded.ends_with("200"), "after reload: {reloaded}");
    let st = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "serve exits cleanly on SIGTERM");
    // Bootstrap, import, request, the refused and the granted approval are in the log.
    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "50"]);
    let log = text(&o);
    for (code, n) in [
        ("governance.bootstrap", 1),
        ("assignments.import", 1),
        ("assignment.request", 2),
        ("assignment.approve", 2),
        ("privileges.manage", 1),
        ("user.register", 4),
    ] {
        assert_eq!(log.matches(code).count(), n, "{code}: {log}");
    }
}

/// `callvault GROUP --server … ARGS` as the demo PKI's person `who` (their certificate and
/// key), against `server`.
fn as_person(pki: &Path, server: &str, who: &str, group: &str, args: &[&str]) -> Output {
    let (cert, key, ca) = (
        pki.join(format!("{who}.pem")),
        pki.join(format!("{who}-key.pem")),
        pki.join("root-ca.pem"),
    );
    let mut all = vec![
        group,
        "--server",
        server,
        "--ca",
        p(&ca),
        "--cert",
        p(&cert),
        "--key",
        p(&key),
    ];
    all.extend_from_slice(args);
    callvault(&all)
}

/// Starts `callvault serve` and returns the child and its address.
fn serve(config: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_callvault"))
        .args(["serve", "--config", p(config)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let addr = line
        .split("https://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (child, addr)
}

#[test]
fn records_managers_destroy_a_recording_by_ivo_decision_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = callvault(&[
        "demo",
        "--data-dir",
        p(&data),
        "--recordings",
        "4",
        "--no-serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // The demo prints a Region Stockholm recording's URL.
    let rec = out
        .split("/api/v1/recordings/")
        .nth(1)
        .and_then(|r| r.split(['?', '/', '\'']).next())
        .expect("recording id")
        .to_owned();
    let (mut child, addr) = serve(&data.join("server.toml"));
    let server = format!("https://{addr}");
    let pki = data.join("pki");
    let ca = pki.join("root-ca.pem");
    let as_person =
        |who: &str, group: &str, args: &[&str]| as_person(&pki, &server, who, group, args);
    let json_id = |o: &Output| {
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
        v["assignment"]
            .as_str()
            .or(v["id"].as_str())
            .expect("id")
            .to_owned()
    };
    // The two administrators become records managers, each approved by the other.
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(90))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let sthlm = "SE2321000016-0001";
    for (requester, holder, approver) in [
        ("admin-a", "SE2321000016-A001", "admin-a2"),
        ("admin-a2", "SE2321000016-A002", "admin-a"),
    ] {
        let o = as_person(
            requester,
            "admin",
            &[
                "request",
                "--holder",
                holder,
                "--care-provider",
                sthlm,
                "--purpose",
                "administration",
                "--right",
                "manage-records",
                "--valid-until",
                &until,
                "--justification",
                "Arkivansvarig",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let id = json_id(&o);
        let o = as_person(approver, "admin", &["approve", &id]);
        assert!(o.status.success(), "{}", text(&o));
    }
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
    assert!(
        Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .expect("kill")
            .success()
    );
    assert!(child.wait().expect("wait").success());
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

#[test]
fn key_rotation_killed_at_any_point_resumes_and_leaves_every_key_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cp = "SE2321000016-0001";
    let o = callvault(&["init", "--data-dir", p(&data), "--care-provider", cp]);
    assert!(o.status.success(), "{}", text(&o));
    // 1200 short recordings: the re-wrap runs in three batches.
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).expect("mkdir");
    let mut manifest = callvault_vault::manifest::FIELDS.join(",");
    manifest.push('\n');
    for i in 0..1200u64 {
        let mut wav = callvault_vault::wav::header(1, 1, 8000, 16, 200);
        wav.extend((0..200u32).map(|b| (b as u64 ^ i) as u8));
        let name = format!("r{i}.wav");
        std::fs::write(archive.join(&name), wav).expect("wav");
        manifest.push_str(&format!(
            "{name},call-{i},{cp},SE2321000016-1177,2026-05-04T10:00:00Z,{},,\n",
            callvault_vault::demo::personnummer(i + 1)
        ));
    }
    std::fs::write(archive.join("m.csv"), manifest).expect("manifest");
    let o = callvault(&[
        "import",
        "--data-dir",
        p(&data),
        "--manifest",
        p(&archive.join("m.csv")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for delay_ms in [0u64, 60, 90, 105, 120, 135, 150, 180, 220, 300] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_callvault"))
            .args([
                "keys",
                "rotate",
                "--data-dir",
                p(&data),
                "--care-provider",
                cp,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL, wherever it is
        let _ = child.wait();
        // Running it again finishes an interrupted rotation (or makes a new one if the
        // killed run had finished); either way every data key ends under the current KEK.
        let o = callvault(&[
            "keys",
            "rotate",
            "--data-dir",
            p(&data),
            "--care-provider",
            cp,
        ]);
        assert!(
            o.status.success(),
            "after a kill at {delay_ms} ms: {}",
            text(&o)
        );
        eprintln!("killed at {delay_ms} ms, then: {}", text(&o).trim());
        let o = callvault(&["status", "--data-dir", p(&data)]);
        let status = text(&o);
        assert!(o.status.success(), "{status}");
        let current = status
            .lines()
            .find(|l| l.contains("(current)"))
            .unwrap_or_else(|| panic!("{status}"));
        assert!(current.ends_with("wraps 1200 data keys"), "{status}");
    }
    let o = callvault(&[
        "keys",
        "destroy-retired",
        "--data-dir",
        p(&data),
        "--care-provider",
        cp,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["keys", "list", "--data-dir", p(&data)]);
    assert!(
        text(&o).starts_with("key backend: key-files\n"),
        "{}",
        text(&o)
    );
    assert_eq!(
        text(&o).lines().skip(1).count(),
        1,
        "only the current version is left: {}",
        text(&o)
    );
    let o = callvault(&["verify", "--data-dir", p(&data), "--deep"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_witness_is_set_up_and_served_from_the_command_line() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
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
    let o = callvault(&[
        "witness",
        "keygen",
        "--name",
        "witness.example/w1",
        "--out",
        p(&root.join("w.key")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let witness_vkey = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(
        witness_vkey.starts_with("witness.example/w1+"),
        "{witness_vkey}"
    );
    let mode = std::fs::metadata(root.join("w.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second keygen never overwrites a key.
    let o = callvault(&[
        "witness",
        "keygen",
        "--name",
        "witness.example/w1",
        "--out",
        p(&root.join("w.key")),
    ]);
    assert!(!o.status.success());
    let o = callvault(&["audit", "verifier-key", "--data-dir", p(&root.join("data"))]);
    let log_vkey = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let config = root.join("witness.toml");
    let write = |logs: &str| {
        std::fs::write(
            &config,
            format!(
                "key = \"w.key\"\nstate_dir = \"witness-state\"\nlisten = [\"127.0.0.1:0\"]\n\n[tls]\nserver_chain = \"pki/server-chain.pem\"\nserver_key = \"pki/server-key.pem\"\n{logs}"
            ),
        )
        .expect("config");
    };
    write("");
    let o = callvault(&["witness", "serve", "--config", p(&config)]);
    assert!(
        !o.status.success() && text(&o).contains("no [[log]]"),
        "{}",
        text(&o)
    );
    write(&format!("\n[[log]]\nverifier_key = \"{log_vkey}\"\n"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_callvault"))
        .args(["witness", "serve", "--config", p(&config)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    // The log's checkpoint (printed by `audit checkpoint`) goes in with old size 0.
    let o = callvault(&["audit", "checkpoint", "--data-dir", p(&root.join("data"))]);
    assert!(o.status.success(), "{}", text(&o));
    let note = String::from_utf8_lossy(&o.stdout)
        .split_once("audit.callvault.example\n")
        .map(|(_, rest)| format!("audit.callvault.example\n{rest}"))
        .expect("note");
    let body = root.join("body");
    std::fs::write(&body, format!("old 0\n\n{note}")).expect("body");
    let o = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            p(&root.join("pki/root-ca.pem")),
        ])
        .args([
            "--data-binary",
            &format!("@{}", p(&body)),
            "-w",
            "\n%{http_code}",
            &url,
        ])
        .output()
        .expect("curl");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.ends_with("200") && out.starts_with("\u{2014} witness.example/w1 "),
        "{out}"
    );
    let st = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    assert!(child.wait().expect("wait").success());
}

/// The audit log's own retention: events written six years ago (the vault run under
/// libfaketime's `faketime`) are pruned by an order registered by one records manager and
/// approved for both care providers; proofs from before stay valid and deep verify is
/// clean; an order reaching younger events is refused.
#[test]
fn audit_events_older_than_the_retention_are_pruned_by_an_approved_order() {
    use callvault_auth::{
        AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Policy, PrincipalKind,
        Purpose, Resource,
    };
    use callvault_types::{CareProvider, HsaId};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let archive = dir.path().join("archive");
    let manifest = callvault_vault::demo::write_archive(&archive, 4, 1).expect("archive");
    let then = "2020-06-01 12:00:00";
    let faked = |args: &[&str]| {
        let o = Command::new("faketime")
            .arg(then)
            .arg(env!("CARGO_BIN_EXE_callvault"))
            .args(args)
            .output()
            .expect("faketime (Debian faketime; scripts/test installs it)");
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    };
    let (a, b) = ("SE2321000016-0001", "SE2321000156-0001");
    faked(&[
        "init",
        "--data-dir",
        p(&data),
        "--care-provider",
        a,
        "--care-provider",
        b,
    ]);
    faked(&["import", "--data-dir", p(&data), "--manifest", p(&manifest)]);
    faked(&["audit", "checkpoint", "--data-dir", p(&data)]);
    // Today: more events, and a checkpoint over everything.
    let o = callvault(&["verify", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "checkpoint", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));

    let vault = callvault_vault::Vault::open(&data).expect("open");
    let size = vault.catalog().audit_size().expect("size");
    let old_proof = vault.inclusion_proof(1).expect("proof");
    // The newest leaf under the latest checkpoint (the checkpoint's own event follows it).
    let young = vault
        .catalog()
        .latest_checkpoint()
        .expect("q")
        .expect("checkpoint")
        .size
        - 1;
    let young_proof = vault.inclusion_proof(young).expect("proof");

    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let rm = |id: &str, holder: &str, cp: &str| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: cp,
            care_units: &[],
            purpose: "administration",
            rights: &["manage-records"],
            valid_from: &fmt(now - time::Duration::days(1)),
            valid_until: &fmt(now + time::Duration::days(30)),
        }
        .to_toml()
    };
    let policy = Policy::new(
        AssignmentSet::parse(
            &(rm("rm-a1", "SE2321000016-M001", a)
                + &rm("rm-a2", "SE2321000016-M002", a)
                + &rm("rm-b", "SE2321000156-M001", b)),
        )
        .expect("assignments"),
    );
    let decide = |hsa: &str, cp: &str| {
        let who = AuthenticatedPrincipal::assert_verified_certificate(
            HsaId::parse(hsa).expect("hsa"),
            PrincipalKind::Person,
            [5; 32],
        );
        let req = AccessRequest {
            action: Action::ManageRecords,
            resource: Resource {
                care_provider: CareProvider::parse(cp).expect("cp"),
                care_unit: None,
            },
            purpose: Purpose::Administration,
            assignment: None,
            emergency_reason: None,
            case_number: None,
        };
        policy.decide(&who, &req, now).expect("records manager")
    };
    let (m1, m2, mb) = (
        decide("SE2321000016-M001", a),
        decide("SE2321000016-M002", a),
        decide("SE2321000156-M001", b),
    );
    // Within the retention: refused.
    let recent = now - time::Duration::days(365 * 4);
    let e = vault
        .register_audit_prune(&m1, recent)
        .expect_err("younger than five years");
    assert!(e.to_string().contains("retention_years"), "{e}");
    let before = now - time::Duration::days(365 * 5 + 2);
    let order = vault.register_audit_prune(&m1, before).expect("register");
    assert!(order.min_index > 0 && order.min_index < size, "{order:?}");
    assert_eq!(order.awaiting.len(), 2);
    assert!(matches!(
        vault.approve_audit_prune(&m1, &order.id),
        Err(callvault_vault::VaultError::FourEyes(_))
    ));
    vault
        .approve_audit_prune(&m2, &order.id)
        .expect("approve A");
    assert!(matches!(
        vault.execute_audit_prune(&m2, &order.id),
        Err(callvault_vault::VaultError::Refused(_))
    ));
    vault
        .approve_audit_prune(&mb, &order.id)
        .expect("approve B");
    let done = vault.execute_audit_prune(&m2, &order.id).expect("execute");
    assert_eq!(done.state, "executed");
    assert_eq!(done.pruned, Some(order.min_index));
    assert!(
        vault
            .catalog()
            .audit_event(0)
            .expect("q")
            .expect("row")
            .is_empty()
    );

    // Proofs from before the pruning still verify against the checkpoint they named, and
    // fresh ones agree.
    for (idx, old) in [(1, &old_proof), (young, &young_proof)] {
        let now_proof = vault.inclusion_proof(idx).expect("proof");
        assert_eq!(now_proof.leaf_hash, old.leaf_hash);
        callvault_audit::merkle::verify_inclusion(
            idx,
            old.checkpoint.size,
            &old.leaf_hash,
            &old.proof,
            &old.checkpoint.root_hash,
        )
        .expect("an old proof stays valid");
        callvault_audit::merkle::verify_inclusion(
            idx,
            now_proof.checkpoint.size,
            &now_proof.leaf_hash,
            &now_proof.proof,
            &now_proof.checkpoint.root_hash,
        )
        .expect("a new proof is valid");
    }
    drop(vault);
    let o = callvault(&["verify", "--data-dir", p(&data), "--deep"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "verify", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "1000"]);
    assert!(text(&o).contains("<pruned"), "{}", text(&o));
}

/// The scenario from the command line against `callvault demo`: a nurse's emergency
/// access, then the log reviewer runs the month's follow-up, judges the finding, prints the
/// report, and produces the patient's log extract as a Swedish PDF; meanwhile the server
/// signs checkpoints by itself.
#[test]
fn a_log_reviewer_follows_up_a_month_and_extracts_a_patients_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = callvault(&[
        "demo",
        "--data-dir",
        p(&data),
        "--recordings",
        "6",
        "--no-serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = data.join("server.toml");
    let mut toml = std::fs::read_to_string(&config).expect("config");
    toml.push_str("\n[checkpoint]\ninterval_secs = 1\n");
    std::fs::write(&config, toml).expect("config");
    let (mut child, addr) = serve(&config);
    let server = format!("https://{addr}");
    let pki = data.join("pki");
    let sthlm = "SE2321000016-0001";
    let api = |who: &str| {
        callvault_server::client::ApiClient::new(
            &server,
            &pki.join("root-ca.pem"),
            &pki.join(format!("{who}.pem")),
            &pki.join(format!("{who}-key.pem")),
        )
        .expect("client")
    };
    let checkpoint_size = || {
        let r = api("nurse-a")
            .call("GET", "/api/v1/audit/checkpoint", None)
            .expect("checkpoint");
        String::from_utf8_lossy(&r.body)
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let first = checkpoint_size();

    // Demo call 2 is at Region Stockholm's other unit (1178): the nurse of 1177 reaches it
    // only through emergency access.
    let patient = callvault_vault::demo::personnummer(3);
    let reason = "Patienten%20ringde%20tillbaka%2C%20br%C3%B6stsm%C3%A4rta";
    let nurse = api("nurse-a");
    let r = nurse
        .call(
            "GET",
            &format!(
                "/api/v1/recordings?care_provider={sthlm}&care_unit=SE2321000016-1178&patient={patient}&purpose=vard-och-behandling&emergency_reason={reason}"
            ),
            None,
        )
        .expect("search");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let id = hits["recordings"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no hit: {hits}"))
        .to_owned();
    let r = nurse
        .call(
            "GET",
            &format!(
                "/api/v1/recordings/{id}?purpose=vard-och-behandling&emergency_reason={reason}"
            ),
            None,
        )
        .expect("metadata");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let review = |args: &[&str]| as_person(&pki, &server, "reviewer-a", "review", args);
    let o = review(&[
        "follow-up",
        "--care-provider",
        sthlm,
        "--from",
        &fmt(now - time::Duration::days(30)),
        "--to",
        &fmt(now + time::Duration::minutes(5)),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let run = out
        .split("follow-up run ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("run id")
        .to_owned();
    let n = out
        .lines()
        .find(|l| l.contains("emergency-access"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no emergency access finding: {out}"))
        .to_owned();
    assert!(
        !out.contains(&patient[..8]),
        "no patient data in the findings: {out}"
    );
    let o = review(&[
        "judge",
        &run,
        &n,
        "--care-provider",
        sthlm,
        "--verdict",
        "justified",
        "--comment",
        "Återuppringning, journalfört",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = dir.path().join("uppfoljning.html");
    let o = review(&[
        "report",
        &run,
        "--care-provider",
        sthlm,
        "--format",
        "html",
        "--out",
        p(&html),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(
        page.contains("Logguppföljning") && page.contains("Befogad"),
        "{page}"
    );

    let patient_file = dir.path().join("patient.txt");
    std::fs::write(&patient_file, &patient).expect("patient");
    let pdf = dir.path().join("loggutdrag.pdf");
    let o = review(&[
        "extract",
        "--care-provider",
        sthlm,
        "--patient-file",
        p(&patient_file),
        "--format",
        "pdf",
        "--out",
        p(&pdf),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let extract = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for want in ["Loggutdrag", "Åtgärd", "(nödåtkomst)", &patient, sthlm] {
        assert!(extract.contains(want), "{want:?} not in:\n{extract}");
    }
    // A nurse cannot produce it.
    let o = as_person(
        &pki,
        &server,
        "nurse-a",
        "review",
        &[
            "extract",
            "--care-provider",
            sthlm,
            "--patient-file",
            p(&patient_file),
            "--out",
            p(&pdf),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("HTTP 403"),
        "{}",
        text(&o)
    );

    // The server signed checkpoints over the new events by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while checkpoint_size() <= first {
        assert!(std::time::Instant::now() < deadline, "no new checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
}
