//! End-to-end tests of the `callvault` binary: exit codes, reports, and that no command
//! prints patient identifiers.

use std::path::Path;
use std::process::{Command, Output};

mod breach;
mod clock;
mod crash;
mod demo;
mod keys;
mod layers;
mod logs;
mod plaintext;
mod records;
mod retention;
mod review;
mod scale_out;
mod serve;
mod witness;

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
    // No data directory yet: the error says how to make one.
    let o = callvault(&["status", "--data-dir", p(&data)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&format!("callvault init --data-dir {}", p(&data))),
        "{}",
        text(&o)
    );
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
    // The missing file is named (its name holds nothing personal), and the OS error is said
    // once.
    assert!(
        out.contains("line 3: cannot open ") && out.contains("nope.wav"),
        "{out}"
    );
    assert_eq!(out.matches("No such file or directory").count(), 1, "{out}");

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

/// `callvault GROUP --server … ARGS` as the demo PKI's person `who` (their certificate and
/// key), against `server`.
fn as_person(pki: &Path, server: &str, who: &str, group: &str, args: &[&str]) -> Output {
    person_command(pki, server, who, group, args)
        .output()
        .expect("run callvault")
}

/// The command `callvault GROUP --server … ARGS` as the demo PKI's person `who`.
fn person_command(pki: &Path, server: &str, who: &str, group: &str, args: &[&str]) -> Command {
    let (cert, key, ca) = (
        pki.join(format!("{who}.pem")),
        pki.join(format!("{who}-key.pem")),
        pki.join("root-ca.pem"),
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_callvault"));
    c.args([
        group,
        "--server",
        server,
        "--ca",
        p(&ca),
        "--cert",
        p(&cert),
    ])
    .args(["--key", p(&key)])
    .args(args);
    c
}

/// Starts `callvault serve` and returns the child and its address.
fn serve(config: &Path) -> (std::process::Child, String) {
    serve_with(config, |_| {})
}

/// Starts `callvault serve` with `setup` applied to its command (environment, where its
/// standard error goes) and returns the child and its address.
fn serve_with(config: &Path, setup: impl FnOnce(&mut Command)) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callvault"));
    cmd.args(["serve", "--config", p(config)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    setup(&mut cmd);
    let mut child = cmd.spawn().expect("spawn");
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

/// The `assignment` or `id` of a JSON answer of `callvault admin` or `callvault records`.
fn json_id(o: &Output) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    v["assignment"]
        .as_str()
        .or(v["id"].as_str())
        .expect("id")
        .to_owned()
}

/// Region Stockholm's two demo administrators become records managers, each approved by the
/// other (four eyes), through `callvault admin` against `server`.
fn make_records_managers(pki: &Path, server: &str) {
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(90))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    for (requester, holder, approver) in [
        ("admin-a", "SE2321000016-A001", "admin-a2"),
        ("admin-a2", "SE2321000016-A002", "admin-a"),
    ] {
        let o = as_person(
            pki,
            server,
            requester,
            "admin",
            &[
                "request",
                "--holder",
                holder,
                "--care-provider",
                "SE2321000016-0001",
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
        let o = as_person(pki, server, approver, "admin", &["approve", &json_id(&o)]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// Stops `callvault serve` with SIGTERM and checks that it exits cleanly.
fn stop_server(mut child: std::process::Child) {
    let st = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

/// `callvault demo --data-dir DATA --recordings N --no-serve EXTRA…`.
fn demo_no_serve(data: &Path, recordings: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "demo",
        "--data-dir",
        p(data),
        "--recordings",
        recordings,
        "--no-serve",
    ];
    args.extend_from_slice(extra);
    callvault(&args)
}

/// curl as a demo certificate holder; returns (status, body).
pub(crate) fn curl(pki: &Path, who: &str, args: &[&str]) -> (u16, Vec<u8>) {
    curl_result(
        curl_command(pki, who, args)
            .output()
            .expect("curl (Debian package curl)"),
    )
}

/// The curl command as a demo certificate holder, printing the status after the body.
pub(crate) fn curl_command(pki: &Path, who: &str, args: &[&str]) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(pki.join("root-ca.pem"))
        .arg("--cert")
        .arg(pki.join(format!("{who}.pem")))
        .arg("--key")
        .arg(pki.join(format!("{who}-key.pem")))
        .args(["-w", "\n%{http_code}"])
        .args(args);
    c
}

/// (status, body) of a finished `curl_command`; status 0 when no answer came.
pub(crate) fn curl_result(o: Output) -> (u16, Vec<u8>) {
    let out = o.stdout;
    let Some(split) = out.iter().rposition(|b| *b == b'\n') else {
        return (0, out);
    };
    let code = String::from_utf8_lossy(&out[split + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    (code, out[..split].to_vec())
}

/// A JSON body.
pub(crate) fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}
