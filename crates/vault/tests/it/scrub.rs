//! Scrub: one pass finds a copy deleted at site A and a byte flipped at site B, heals both
//! from the other site, and reports a recording damaged everywhere as lost; the I/O budget
//! paces the pass; an interrupted pass resumes.

use callvault_types::RecordingId;
use callvault_vault::scrub::ScrubOptions;

use crate::common::*;

fn object(t: &TestVault, site: &str, id: &RecordingId) -> std::path::PathBuf {
    t.data_dir()
        .join("sites")
        .join(site)
        .join("objects")
        .join(callvault_vault::blob_key(id).expect("key").as_str())
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).expect("read");
    b[at] ^= 0x40;
    std::fs::write(path, b).expect("write");
}

#[test]
fn one_scrub_heals_both_sites_and_reports_a_recording_lost_everywhere() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 5, 40_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let (gone_a, flipped_b, lost) = (id_of(&t, 0), id_of(&t, 1), id_of(&t, 2));
    let original = std::fs::read(object(&t, "a", &gone_a)).expect("blob");
    std::fs::remove_file(object(&t, "a", &gone_a)).expect("delete at a");
    // A flipped byte deep inside the ciphertext: same size, the hash and the AEAD tag fail.
    flip(&object(&t, "b", &flipped_b), 30_000);
    flip(&object(&t, "a", &lost), 100);
    flip(&object(&t, "b", &lost), 200);

    let op = callvault_vault::vault_operator();
    let mut seen = 0;
    let r = t
        .vault
        .scrub(
            ScrubOptions {
                bytes_per_sec: None,
                repair: true,
            },
            &op,
            |_| seen += 1,
        )
        .expect("scrub");
    let s = &r.state;
    assert_eq!(s.recordings, 5);
    assert_eq!(s.copies, 10);
    assert_eq!(s.bad_copies, 4, "{:?}", r.problems);
    assert_eq!(s.repaired, 2);
    assert_eq!(s.lost, vec![lost.to_string()]);
    assert_eq!(
        s.open_repair_tasks, 2,
        "the lost recording's two tasks stay open"
    );
    assert!(s.finished_at.is_some());
    assert!(seen >= 5);
    // Both healed copies are back, byte for byte.
    assert_eq!(
        std::fs::read(object(&t, "a", &gone_a)).expect("blob"),
        original
    );
    let deep = t.vault.verify(true, |_| {}).expect("verify");
    let bad: Vec<String> = deep.problems.iter().map(ToString::to_string).collect();
    assert!(
        bad.iter().all(|p| p.contains(&lost.to_string())),
        "only the lost recording is still bad: {bad:?}"
    );
    // Status shows the pass; the audit log has it.
    let status = t.vault.status().expect("status");
    assert_eq!(status.scrub.as_ref().map(|s| s.lost.len()), Some(1));
    let mut codes = Vec::new();
    let size = t.vault.catalog().audit_size().expect("size");
    t.vault
        .catalog()
        .for_each_audit_leaf(0, size, &mut |_, d, _| {
            codes.push(
                callvault_audit::event::AuditEvent::decode(d)
                    .expect("event")
                    .action
                    .code(),
            );
            Ok(())
        })
        .expect("scan");
    for code in [
        "scrub.start",
        "repair.task",
        "repair.done",
        "recording.lost",
        "scrub.done",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
}

#[test]
fn the_io_budget_paces_a_pass_and_an_interrupted_pass_resumes() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 4, 40_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let op = callvault_vault::vault_operator();
    // 4 recordings × 2 copies × ~80 KB ≈ 640 KB at 1 MB/s: at least about 0.6 s.
    let started = std::time::Instant::now();
    let r = t
        .vault
        .scrub(
            ScrubOptions {
                bytes_per_sec: Some(1_000_000),
                repair: true,
            },
            &op,
            |_| {},
        )
        .expect("scrub");
    let secs = started.elapsed().as_secs_f64();
    let floor = r.state.bytes_read as f64 / 1_000_000.0;
    assert!(
        secs >= floor * 0.9,
        "{} bytes in {secs:.2} s exceeds the budget",
        r.state.bytes_read
    );
    // An interrupted pass (its state file says where it stopped) resumes there.
    let mut state = r.state.clone();
    state.finished_at = None;
    state.recordings = 2;
    let mut ids: Vec<RecordingId> = (0..4).map(|i| id_of(&t, i)).collect();
    ids.sort();
    state.position = Some(ids[1].to_string());
    std::fs::write(
        t.data_dir().join(callvault_vault::scrub::SCRUB_STATE_FILE),
        serde_json::to_vec(&state).expect("json"),
    )
    .expect("state");
    let r = t
        .vault
        .scrub(
            ScrubOptions {
                bytes_per_sec: None,
                repair: true,
            },
            &op,
            |_| {},
        )
        .expect("resume");
    assert_eq!(r.state.recordings, 4, "2 before the interruption, 2 after");
}

#[test]
fn a_lost_site_is_set_up_again_and_refilled_from_the_other() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 3, 20_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let data = t.data_dir();
    let dir = t.close();
    let op = callvault_vault::vault_operator();
    // Refused while the site is there.
    assert!(callvault_vault::Vault::recreate_site(&data, "b", &op).is_err());
    std::fs::remove_dir_all(data.join("sites/b")).expect("lose site b");
    // The vault does not open without it.
    assert!(callvault_vault::Vault::open(&data).is_err());
    // A non-empty directory without a marker is not taken for the site.
    std::fs::create_dir_all(data.join("sites/b")).expect("mkdir");
    std::fs::write(data.join("sites/b/stray"), b"x").expect("stray");
    let err = callvault_vault::Vault::recreate_site(&data, "b", &op).expect_err("not empty");
    assert!(err.to_string().contains("not empty"), "{err}");
    std::fs::remove_file(data.join("sites/b/stray")).expect("rm");
    let err = callvault_vault::Vault::recreate_site(&data, "c", &op).expect_err("no such site");
    assert!(err.to_string().contains("no site \"c\""), "{err}");
    let (v, r) = callvault_vault::Vault::recreate_site(&data, "b", &op).expect("recreate");
    assert_eq!((r.marked_missing, r.repaired, r.open), (3, 3, 0));
    let report = v.verify(true, |_| {}).expect("verify");
    assert!(report.is_clean(), "{:?}", report.problems);
    drop(v);
    drop(dir);
}
