//! A witness set up and served from the command line.

use std::process::Command;

use crate::*;

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
    stop_server(child);
}
