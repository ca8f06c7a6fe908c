//! A site that cannot be written during import: the import completes, the recording is
//! durably marked under-replicated, and `repair` heals it when the site is back.

use crate::common::*;
use crate::keys::walk;

#[test]
fn an_unwritable_site_leaves_repair_tasks_and_repair_heals_it() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 4, 30_000);
    let site_b = t.data_dir().join("sites/b");
    let actor = callvault_vault::vault_operator();
    let s = {
        let _guard = Unwritable::new(&site_b.join("tmp"));
        t.vault
            .import_manifest(&m, &actor, |_, _, _| {})
            .expect("import")
    };
    assert_eq!((s.imported, s.under_replicated), (4, 4), "{:?}", s.failures);
    assert!(s.failures.is_empty());

    let status = t.vault.status().expect("status");
    assert_eq!(status.stats.under_replicated, 4);
    assert_eq!(status.repair_tasks.len(), 4);
    assert!(status.repair_tasks.iter().all(|r| r.site == "b"));
    assert_eq!(status.sites[0].2, 4);
    assert_eq!(status.sites[1].2, 0);

    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert_eq!(r.problems.len(), 4);
    assert!(
        r.problems
            .iter()
            .all(|p| p.site.as_deref() == Some("b") && p.what.contains("repair task open"))
    );

    // The repair tasks survive a restart (they are in the catalog).
    let t = t.reopen();
    assert_eq!(t.vault.status().expect("status").repair_tasks.len(), 4);

    let (repaired, open) = t.vault.repair(&actor).expect("repair");
    assert_eq!((repaired, open), (4, 0));
    let status = t.vault.status().expect("status");
    assert_eq!(
        (status.stats.under_replicated, status.repair_tasks.len()),
        (0, 0)
    );
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn when_no_site_can_write_nothing_is_acknowledged() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 1, 4000);
    let s = {
        let _a = Unwritable::new(&t.data_dir().join("sites/a/tmp"));
        let _b = Unwritable::new(&t.data_dir().join("sites/b/tmp"));
        t.vault
            .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
            .expect("import")
    };
    assert_eq!(s.imported, 0);
    assert_eq!(s.failures.len(), 1);
    assert!(
        s.failures[0]
            .reason
            .contains("no site could store the recording"),
        "{:?}",
        s.failures
    );
    assert_eq!(t.vault.catalog().stats().expect("stats").recordings, 0);
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn a_site_failing_at_commit_time_mid_import_leaves_repair_tasks() {
    // The first recordings land everywhere; then site b's object directories become
    // unwritable, so uploads there are written in full and fail only when linked into place.
    let t = TestVault::new();
    let actor = callvault_vault::vault_operator();
    let first = archive(&t.archive().join("first"), 3, 20_000);
    let s = t
        .vault
        .import_manifest(&first, &actor, |_, _, _| {})
        .expect("import");
    assert_eq!((s.imported, s.under_replicated), (3, 0));

    let objects = t.data_dir().join("sites/b/objects");
    // Every directory from objects/ down to each blob's directory.
    let mut dirs = vec![objects.clone()];
    for f in walk(&objects) {
        let mut d = f.parent().map(std::path::Path::to_owned);
        while let Some(p) = d {
            if !p.starts_with(&objects) || p == objects {
                break;
            }
            d = p.parent().map(std::path::Path::to_owned);
            dirs.push(p);
        }
    }
    dirs.sort();
    dirs.dedup();
    let second = {
        let dir = t.archive().join("second");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let names: Vec<String> = (0..4).map(|i| format!("s{i}.wav")).collect();
        for (i, n) in names.iter().enumerate() {
            std::fs::write(dir.join(n), wav_bytes(20_000, 100 + i as u8)).expect("wav");
        }
        let rows: Vec<Row<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| row(n, 10 + i as u64))
            .collect();
        write_manifest(&dir, "manifest.csv", &rows)
    };
    let s = {
        let _guards: Vec<Unwritable> = dirs.iter().map(|d| Unwritable::new(d)).collect();
        t.vault
            .import_manifest(&second, &actor, |_, _, _| {})
            .expect("import")
    };
    assert_eq!((s.imported, s.under_replicated), (4, 4), "{:?}", s.failures);
    // The failed uploads left no temporary file behind at site b.
    assert_eq!(
        std::fs::read_dir(t.data_dir().join("sites/b/tmp"))
            .expect("tmp")
            .count(),
        0
    );
    let status = t.vault.status().expect("status");
    assert_eq!(status.repair_tasks.len(), 4);
    assert_eq!(t.vault.repair(&actor).expect("repair"), (4, 0));
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

/// Writes a copy of `from` (a blob) at site `site` under a new recording id that nothing in
/// the vault ever named: what a crash between the site writes and the catalog commit leaves.
fn plant_orphan(t: &TestVault, site: &str, from: &std::path::Path) -> std::path::PathBuf {
    let id = callvault_types::RecordingId::new_random().to_string();
    let dir = t
        .data_dir()
        .join("sites")
        .join(site)
        .join("objects/rec")
        .join(&id[..2]);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let to = dir.join(format!("{id}.cvr1"));
    std::fs::copy(from, &to).expect("copy");
    to
}

#[test]
fn objects_no_recording_ever_owned_are_reported_and_removed_by_repair_on_record() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 8_000);
    let actor = callvault_vault::vault_operator();
    t.vault
        .import_manifest(&m, &actor, |_, _, _| {})
        .expect("import");
    let blob = walk(&t.data_dir().join("sites/a/objects"))
        .pop()
        .expect("a blob");
    let planted = [plant_orphan(&t, "a", &blob), plant_orphan(&t, "b", &blob)];

    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    assert!(r.problems.iter().all(|p| {
        p.what
            .contains("no audit event names it: an upload or import cut short")
    }));
    // Found (one per site), but only deleted when asked to.
    let found: usize = t
        .vault
        .unacknowledged_objects()
        .expect("found")
        .iter()
        .map(|(_, keys)| keys.len())
        .sum();
    assert_eq!(found, 2);
    assert!(planted.iter().all(|f| f.exists()));
    assert_eq!(
        t.vault
            .remove_unacknowledged_objects(&actor)
            .expect("remove"),
        2
    );
    assert!(planted.iter().all(|f| !f.exists()));
    // Each removal is on record; the recordings of the vault are untouched.
    let events = t
        .vault
        .catalog()
        .audit_events_by_action(&["recording.orphan-removed"])
        .expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(
        t.vault
            .remove_unacknowledged_objects(&actor)
            .expect("again"),
        0
    );
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.recordings, 2);

    // More unknown objects than crashes leave (a site shared with another vault?): nothing
    // is deleted.
    let many: Vec<_> = (0..=callvault_vault::MAX_UNACKNOWLEDGED_PER_SITE)
        .map(|_| plant_orphan(&t, "b", &blob))
        .collect();
    let err = t
        .vault
        .remove_unacknowledged_objects(&actor)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("257 objects that this vault never acknowledged")
            && err.contains("Nothing was deleted"),
        "{err}"
    );
    assert!(many.iter().all(|f| f.exists()));
}
