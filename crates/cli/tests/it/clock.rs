//! Clock jumps (libfaketime): the vault run with its clock years ahead and then over a year
//! behind. The audit log is ordered by its index, not by time, so it still verifies against
//! its signed checkpoints; retention dates come from the call's start, not from the clock;
//! and a server whose clock is wrong by years refuses every client certificate as outside
//! its validity (fail closed) instead of letting anyone in.

use std::process::{Command, Stdio};

use crate::*;

const STHLM: &str = "SE2321000016-0001";
/// 1826 days ahead (five years), and 400 days behind.
const AHEAD: &str = "+1826d";
const BEHIND: &str = "-400d";

/// `callvault ARGS` under libfaketime with the clock moved by `offset`.
fn at(offset: &str, args: &[&str]) -> Output {
    Command::new("faketime")
        .args(["-f", offset])
        .arg(env!("CARGO_BIN_EXE_callvault"))
        .args(args)
        .output()
        .expect("faketime (Debian faketime; scripts/test installs it)")
}

/// A manifest of three calls that started on 2026-05-04, with call ids `{prefix}-{i}`.
fn manifest(dir: &Path, prefix: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut m = callvault_vault::manifest::FIELDS.join(",");
    m.push('\n');
    for i in 0..3u64 {
        let mut wav = callvault_vault::wav::header(1, 1, 8000, 16, 4000);
        wav.extend((0..4000u32).map(|b| (b as u64 * 7 + i) as u8));
        let name = format!("{prefix}-{i}.wav");
        std::fs::write(dir.join(&name), wav).expect("wav");
        m.push_str(&format!(
            "{name},{prefix}-{i},{STHLM},SE2321000016-1177,2026-05-04T10:00:00Z,{},,\n",
            callvault_vault::demo::personnummer(600 + i)
        ));
    }
    let path = dir.join(format!("{prefix}.csv"));
    std::fs::write(&path, m).expect("manifest");
    path
}

#[test]
fn clock_jumps_neither_break_the_log_nor_move_retention_nor_let_anyone_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = demo_no_serve(&data, "2", &["--listen", "127.0.0.1:0"]);
    assert!(o.status.success(), "{}", text(&o));
    let d = p(&data);

    // Imports and checkpoints with the clock five years ahead, then over a year behind,
    // then right again.
    for (offset, prefix) in [(AHEAD, "ahead"), (BEHIND, "behind"), ("+0d", "right")] {
        let m = manifest(&dir.path().join("archive"), prefix);
        let o = at(offset, &["import", "--data-dir", d, "--manifest", p(&m)]);
        assert!(o.status.success(), "{offset}: {}", text(&o));
        let o = at(offset, &["audit", "checkpoint", "--data-dir", d]);
        assert!(o.status.success(), "{offset}: {}", text(&o));
    }
    let o = callvault(&["verify", "--deep", "--data-dir", d]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "verify", "--data-dir", d]);
    assert!(o.status.success(), "{}", text(&o));

    // The events carry the clock as it was (later leaves, earlier times); the retention
    // dates do not depend on it.
    let vault = callvault_vault::Vault::open(&data).expect("open");
    let cp = callvault_types::CareProvider::parse(STHLM).expect("cp");
    let mut retention = std::collections::BTreeSet::new();
    let mut times = Vec::new();
    for prefix in ["ahead", "behind", "right"] {
        let row = vault
            .catalog()
            .recording_by_call(
                &cp,
                &callvault_types::CallId::parse(&format!("{prefix}-0")).expect("call"),
            )
            .expect("catalog")
            .expect("imported");
        retention.insert(row.rec.retention_until);
        let events = vault
            .catalog()
            .recording_events(
                &row.rec.id,
                &[callvault_audit::event::Action::Import.code()],
            )
            .expect("events");
        let e = callvault_audit::event::AuditEvent::decode(&events[0].1).expect("event");
        times.push((events[0].0, e.time.year()));
    }
    assert_eq!(retention.len(), 1, "{retention:?}");
    let now = time::OffsetDateTime::now_utc().year();
    assert!(
        times[0].0 < times[1].0 && times[1].0 < times[2].0,
        "{times:?}"
    );
    assert_eq!(
        [times[0].1, times[1].1, times[2].1],
        [now + 5, now - 1, now],
        "{times:?}"
    );
    drop(vault);

    // A server whose clock is twenty years ahead (or two years behind) finds every client
    // certificate outside its validity: nobody gets in.
    let pki = data.join("pki");
    for offset in ["+7300d", "-730d"] {
        let log = dir.path().join(format!("serve{offset}.log"));
        let (child, addr) = serve_with(&data.join("server.toml"), |c| {
            c.env(
                "LD_PRELOAD",
                "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            )
            .env("FAKETIME", offset)
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")));
        });
        let (code, _) = curl(
            &pki,
            "nurse-a",
            &[&format!(
                "https://{addr}/api/v1/recordings?care_provider={STHLM}&purpose=vard-och-behandling"
            )],
        );
        assert_eq!(code, 0, "{offset}: a nurse was let in");
        stop_server(child);
        let said = std::fs::read_to_string(&log).expect("log");
        assert!(
            said.contains("expired")
                || said.contains("not valid yet")
                || said.contains("NotValidYet"),
            "{offset}: {said}"
        );
    }
}
