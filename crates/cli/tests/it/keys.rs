//! Key rotation killed at any point resumes and leaves every key usable.

use std::process::Command;

use crate::*;

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
