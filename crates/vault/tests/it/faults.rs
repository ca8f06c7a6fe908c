//! Fault injection on real filesystems: a site that is full, read-only or gone (a tmpfs
//! that fills up, is remounted read-only, or is unmounted under the vault), and a catalog
//! that another process has locked or whose disk is full. Each test pins the documented
//! behaviour (docs/reliability.md, "Faults"): nothing acknowledged is lost, a failed write
//! leaves nothing behind, and the vault heals once the fault is gone.
//!
//! Mounting needs root; `scripts/faults` runs these (CI runs as root).

use std::path::{Path, PathBuf};

use callvault_testkit::Tmpfs;
use callvault_vault::Vault;
use callvault_vault::import::ImportSummary;

use crate::common::*;
use crate::keys::walk;

/// Closes the vault, mounts a tmpfs of `bytes` over `rel` in its data directory (keeping
/// what it held) and opens the vault again.
fn on_tmpfs(t: TestVault, rel: &str, bytes: u64) -> (TestVault, Tmpfs) {
    let dir = t.close();
    let fs = Tmpfs::mount_over(&dir.path().join("data").join(rel), bytes);
    let vault = Vault::open(&dir.path().join("data")).expect("open");
    (TestVault { dir, vault }, fs)
}

/// Writes recordings `ids` (manifest rows of [`row`]) of `frames` samples under
/// `archive/<name>` and imports them.
fn import_rows(
    t: &TestVault,
    name: &str,
    ids: std::ops::Range<u64>,
    frames: usize,
) -> ImportSummary {
    let dir = t.archive().join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let names: Vec<String> = ids.clone().map(|i| format!("r{i}.wav")).collect();
    for (i, n) in ids.clone().zip(&names) {
        std::fs::write(dir.join(n), wav_bytes(frames, i as u8)).expect("wav");
    }
    let rows: Vec<Row<'_>> = ids.zip(&names).map(|(i, n)| row(n, i)).collect();
    let m = write_manifest(&dir, "manifest.csv", &rows);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import")
}

fn objects(t: &TestVault, site: &str) -> Vec<PathBuf> {
    walk(&t.data_dir().join("sites").join(site).join("objects"))
}

fn temporaries(t: &TestVault, site: &str) -> Vec<PathBuf> {
    walk(&t.data_dir().join("sites").join(site).join("tmp"))
}

/// Every problem `verify` finds is a missing copy at `site` with its repair task open;
/// returns how many.
fn only_open_repairs_at(t: &TestVault, site: &str, deep: bool) -> usize {
    let r = t.vault.verify(deep, |_| {}).expect("verify");
    assert!(
        r.problems
            .iter()
            .all(|p| p.site.as_deref() == Some(site) && p.what.contains("repair task open")),
        "{:?}",
        r.problems
    );
    r.problems.len()
}

fn repair_all(t: &TestVault, expected: u64) {
    let (repaired, open) = t
        .vault
        .repair(&callvault_vault::vault_operator())
        .expect("repair");
    assert_eq!((repaired, open), (expected, 0));
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_full_site_leaves_recordings_at_the_other_site_and_repair_completes_them_when_space_returns() {
    let (t, fs) = on_tmpfs(TestVault::new(), "sites/b", 3 << 20);
    // Six recordings of 1 MiB: site b has room for two.
    let s = import_rows(&t, "full", 0..6, 512 << 10);
    assert_eq!(s.imported, 6, "{:?}", s.failures);
    assert!(s.failures.is_empty());
    assert!(s.under_replicated >= 3, "{}", s.under_replicated);
    let tasks = t.vault.status().expect("status").repair_tasks;
    assert_eq!(tasks.len() as u64, s.under_replicated);
    assert!(
        tasks
            .iter()
            .all(|r| r.site == "b" && r.reason.contains("No space left on device")),
        "{tasks:?}"
    );
    // No partial copy stays on the full site.
    assert_eq!(temporaries(&t, "b"), Vec::<PathBuf>::new());
    assert_eq!(objects(&t, "b").len() as u64, 6 - s.under_replicated);
    // Every copy that exists decrypts; the missing ones have their tasks.
    assert_eq!(
        only_open_repairs_at(&t, "b", true) as u64,
        s.under_replicated
    );

    // Space returns: repair completes every recording.
    fs.resize(64 << 20);
    repair_all(&t, s.under_replicated);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn when_every_site_is_full_nothing_is_acknowledged_or_left_behind() {
    let (t, fs_b) = on_tmpfs(TestVault::new(), "sites/b", 1 << 20);
    let (t, fs_a) = on_tmpfs(t, "sites/a", 1 << 20);
    let s = import_rows(&t, "full", 0..2, 1 << 20);
    assert_eq!((s.imported, s.failures.len()), (0, 2));
    eprintln!("every site full: {}", s.failures[0].reason);
    for f in &s.failures {
        assert!(
            f.reason.contains("no site could store")
                || f.reason.contains("No space left on device"),
            "{}",
            f.reason
        );
    }
    assert_eq!(t.vault.catalog().stats().expect("stats").recordings, 0);
    for site in ["a", "b"] {
        assert_eq!(objects(&t, site), Vec::<PathBuf>::new(), "site {site}");
        assert_eq!(temporaries(&t, site), Vec::<PathBuf>::new(), "site {site}");
    }
    fs_a.resize(64 << 20);
    fs_b.resize(64 << 20);
    let s = import_rows(&t, "full", 0..2, 1 << 20);
    assert_eq!((s.imported, s.under_replicated), (2, 0), "{:?}", s.failures);
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_read_only_site_still_serves_its_copies_and_is_repaired_when_writable_again() {
    let (t, fs) = on_tmpfs(TestVault::new(), "sites/b", 64 << 20);
    let s = import_rows(&t, "before", 0..2, 20_000);
    assert_eq!((s.imported, s.under_replicated), (2, 0));
    fs.read_only(true);
    let s = import_rows(&t, "during", 10..12, 20_000);
    assert_eq!((s.imported, s.under_replicated), (2, 2), "{:?}", s.failures);
    let tasks = t.vault.status().expect("status").repair_tasks;
    assert!(
        tasks
            .iter()
            .all(|r| r.site == "b" && r.reason.contains("Read-only file system")),
        "{tasks:?}"
    );
    // The copies written before still decrypt at b (deep verify reads every copy).
    assert_eq!(only_open_repairs_at(&t, "b", true), 2);
    fs.read_only(false);
    repair_all(&t, 2);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_site_that_vanishes_is_recreated_and_refilled_from_the_other() {
    let (t, mut fs) = on_tmpfs(TestVault::new(), "sites/b", 64 << 20);
    let s = import_rows(&t, "before", 0..3, 20_000);
    assert_eq!((s.imported, s.under_replicated), (3, 0));
    // The disk goes away under the running vault.
    fs.vanish();
    let s = import_rows(&t, "during", 10..12, 20_000);
    assert_eq!((s.imported, s.under_replicated), (2, 2), "{:?}", s.failures);
    // Verify finds b's copies of the earlier three missing too, marks them, and reports
    // that the site cannot be listed; it goes on with the other site.
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert_eq!(r.problems.len(), 6, "{:?}", r.problems);
    assert!(r.problems.iter().all(|p| p.site.as_deref() == Some("b")));
    assert!(
        r.problems
            .iter()
            .any(|p| p.what.starts_with("the site cannot be listed")),
        "{:?}",
        r.problems
    );
    // A site without its marker is not opened (no degraded mode): the vault refuses to
    // start until the operator recreates the site.
    let dir = t.close();
    let data = dir.path().join("data");
    let Err(err) = Vault::open(&data) else {
        panic!("a vault whose site lost its marker was opened");
    };
    let err = err.to_string();
    assert!(err.contains("callvault-site"), "{err}");
    let (vault, done) =
        Vault::recreate_site(&data, "b", &callvault_vault::vault_operator()).expect("recreate");
    assert_eq!((done.repaired, done.open), (5, 0), "{done:?}");
    let r = vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

/// Holds an exclusive write lock on the catalog database, as another program (`sqlite3`, a
/// backup tool) might, until dropped.
struct CatalogLock(rusqlite::Connection);

impl CatalogLock {
    fn take(data: &Path) -> Self {
        let c = rusqlite::Connection::open(data.join("catalog/catalog.sqlite3")).expect("open");
        c.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        Self(c)
    }
}

impl Drop for CatalogLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_locked_catalog_delays_writes_briefly_and_refuses_them_without_leftovers_when_it_stays_locked()
{
    let t = TestVault::new();
    import_rows(&t, "first", 0..1, 8_000);
    // Locked for a second and a half: the write waits and succeeds.
    let lock = CatalogLock::take(&t.data_dir());
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(lock);
    });
    let started = std::time::Instant::now();
    let s = import_rows(&t, "short", 10..11, 8_000);
    assert_eq!(s.imported, 1, "{:?}", s.failures);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    release.join().expect("join");

    // Locked for longer than the catalog's 10 s busy timeout: refused, nothing left.
    let lock = CatalogLock::take(&t.data_dir());
    let s = import_rows(&t, "long", 20..21, 8_000);
    assert_eq!((s.imported, s.failures.len()), (0, 1));
    eprintln!("catalog locked: {}", s.failures[0].reason);
    assert!(
        s.failures[0].reason.contains("locked") || s.failures[0].reason.contains("busy"),
        "{}",
        s.failures[0].reason
    );
    drop(lock);
    for site in ["a", "b"] {
        assert_eq!(objects(&t, site).len(), 2, "site {site}");
        assert_eq!(temporaries(&t, site), Vec::<PathBuf>::new());
    }
    // The lock gone, the same rows import, and the log still verifies.
    let s = import_rows(&t, "long", 20..21, 8_000);
    assert_eq!(s.imported, 1, "{:?}", s.failures);
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.recordings, 3);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_full_catalog_disk_refuses_writes_without_leftovers_and_recovers_when_space_returns() {
    let (t, fs) = on_tmpfs(TestVault::new(), "catalog", 16 << 20);
    // Fill the catalog's filesystem to 64 KiB of free space.
    let filler = t.data_dir().join("catalog/filler");
    let free = fs.free();
    std::fs::write(&filler, vec![0u8; (free - (64 << 10)) as usize]).expect("fill");
    let s = import_rows(&t, "full", 0..60, 4_000);
    assert!(
        !s.failures.is_empty(),
        "the catalog never ran out of space ({} imported)",
        s.imported
    );
    eprintln!(
        "catalog full: {} imported, first refusal: {}",
        s.imported, s.failures[0].reason
    );
    for f in &s.failures {
        assert!(
            f.reason.contains("full") || f.reason.contains("No space"),
            "{}",
            f.reason
        );
    }
    // A row that failed left no blob: every object at every site is a catalogued one.
    let catalogued = t.vault.catalog().stats().expect("stats").recordings;
    assert_eq!(catalogued, s.imported);
    for site in ["a", "b"] {
        assert_eq!(objects(&t, site).len() as u64, catalogued, "site {site}");
        assert_eq!(temporaries(&t, site), Vec::<PathBuf>::new());
    }
    // Space returns: the import resumes, and the vault verifies, audit log included.
    std::fs::remove_file(&filler).expect("rm");
    let again = import_rows(&t, "full", 0..60, 4_000);
    assert!(again.failures.is_empty(), "{:?}", again.failures);
    assert_eq!(again.imported + again.skipped, 60);
    let t = t.reopen();
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.recordings, 60);
}

#[test]
#[ignore = "fault injection mounts filesystems (root): scripts/faults runs it"]
fn a_slow_site_delays_a_recording_and_a_hung_one_is_given_up_after_its_timeout() {
    // Site b on its own disk, with a write timeout of 2 s.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = callvault_vault::config::Config::default_toml("audit.callvault.test.example")
        .replace(
            "path = \"sites/b\"\n",
            "path = \"sites/b\"\ntimeout_secs = 2\n",
        );
    assert!(text.contains("timeout_secs = 2"));
    let t = TestVault::init_with(dir, &text);
    let dir = t.close();
    let disk =
        callvault_testkit::FreezableDisk::mount_over(&dir.path().join("data/sites/b"), 32 << 20);
    let t = TestVault {
        vault: Vault::open(&dir.path().join("data")).expect("open"),
        dir,
    };
    let s = import_rows(&t, "before", 0..2, 20_000);
    assert_eq!((s.imported, s.under_replicated), (2, 0));

    // A slow disk: it blocks for a second, less than the timeout. The recording waits for
    // it and is stored at both sites.
    disk.freeze();
    let thaw = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(1000));
            disk.thaw();
        });
        let started = std::time::Instant::now();
        let s = import_rows(&t, "slow", 5..6, 20_000);
        (s, started.elapsed())
    });
    let (s, waited) = thaw;
    assert_eq!((s.imported, s.under_replicated), (1, 0), "{:?}", s.failures);
    eprintln!("slow site: 1 recording stored at both sites in {waited:.1?}");
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );

    // The disk hangs: every write to it blocks in the kernel. Each recording waits for the
    // site for its timeout, then is acknowledged from site a alone; once four writers are
    // stuck, the site is not tried at all until one of them ends.
    disk.freeze();
    let started = std::time::Instant::now();
    let s = import_rows(&t, "hung", 10..16, 20_000);
    let waited = started.elapsed();
    disk.thaw();
    assert_eq!((s.imported, s.under_replicated), (6, 6), "{:?}", s.failures);
    assert!(
        waited >= std::time::Duration::from_secs(8) && waited < std::time::Duration::from_secs(60),
        "{waited:?}"
    );
    eprintln!("hung site: 6 recordings acknowledged from site a in {waited:.1?}");
    let tasks = t.vault.status().expect("status").repair_tasks;
    let reasons: Vec<&str> = tasks.iter().map(|r| r.reason.as_str()).collect();
    assert!(tasks.iter().all(|r| r.site == "b"), "{tasks:?}");
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("no progress for 2 s"))
            .count(),
        4,
        "{reasons:?}"
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("4 earlier writes are still stuck; not tried"))
            .count(),
        2,
        "{reasons:?}"
    );
    // Thawed, the writers that were stuck discard what they had: nothing half-written
    // stays, and the site is tried again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !temporaries(&t, "b").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(temporaries(&t, "b"), Vec::<PathBuf>::new());
    assert_eq!(objects(&t, "b").len(), 3);
    let mut whole = false;
    for i in 20..40 {
        if import_rows(&t, &format!("after-{i}"), i..i + 1, 20_000).under_replicated == 0 {
            whole = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(whole, "site b is not tried again after the disk came back");
    let open = t.vault.status().expect("status").repair_tasks.len() as u64;
    repair_all(&t, open);
}
