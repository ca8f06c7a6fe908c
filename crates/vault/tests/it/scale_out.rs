//! The scale-out engines together (integration suite, `scripts/integration.sh`): the
//! catalog in PostgreSQL, two S3 sites on two independent Garage servers, keys in a SoftHSM2
//! token. One Garage is stopped in the middle of an import: ingest goes on under-replicated,
//! playback is served from the other site, and repair heals the site when it is back.

use callvault_auth::Action;
use callvault_vault::access::target::*;

use crate::access::{assignments, now, nurse, request};
use crate::common::*;

fn play_all(t: &TestVault, policy: &callvault_auth::Policy, i: u64) -> Vec<u8> {
    let id = id_of(t, i);
    let holder = if i.is_multiple_of(2) {
        "SE2321000016-N001"
    } else {
        "SE2321000156-N001"
    };
    let resource = t.vault.recording_resource(&id).expect("q").expect("exists");
    let authz = policy
        .decide(&nurse(holder), &request(Action::Play, resource), now())
        .expect("allowed");
    let wav = std::fs::read(t.archive().join(format!("r{i}.wav"))).expect("wav");
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            Audio {
                id,
                range: 0..wav.len() as u64,
                asked: None,
            },
        )
        .expect("audited");
    let mut got = Vec::new();
    t.vault
        .play(&receipt, |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .expect("play");
    assert_eq!(got, wav, "recording {i} plays back whole");
    got
}

#[test]
#[ignore = "integration: needs the Garage servers scripts/integration.sh starts"]
fn a_garage_site_stopped_mid_import_leaves_ingest_running_and_is_repaired() {
    let g = callvault_testkit::garage_env();
    let (t, _db) = TestVault::with_scale_out();
    let policy = callvault_auth::Policy::new(assignments());
    let m = archive(&t.archive(), 12, 30_000);
    let op = callvault_vault::vault_operator();
    let mut stopped_after = None;
    let summary = t
        .vault
        .import_manifest(&m, &op, |done, _, _| {
            // Site a's Garage goes down in the middle of the workload.
            if done == 4 && stopped_after.is_none() {
                g.control("stop", "a");
                stopped_after = Some(done);
            }
        })
        .expect("import");
    // Restart it whatever happens below, so that later tests find it running.
    struct Restart<'a>(&'a callvault_testkit::GarageEnv);
    impl Drop for Restart<'_> {
        fn drop(&mut self) {
            self.0.control("start", "a");
        }
    }
    let restart = Restart(&g);
    assert_eq!(summary.imported, 12, "{:?}", summary.failures);
    assert!(summary.failures.is_empty());
    assert_eq!(
        summary.under_replicated, 8,
        "every recording after the outage"
    );
    let status = t.vault.status().expect("status");
    assert_eq!(status.stats.under_replicated, 8);
    assert!(status.repair_tasks.iter().all(|r| r.site == "a"));
    assert_eq!(status.repair_tasks.len(), 8);

    // With site a down, every recording plays from site b: those stored before the outage
    // (a copy at both) and those stored during it (b only).
    for i in [0, 1, 3, 5, 8, 11] {
        play_all(&t, &policy, i);
    }
    // Repair cannot reach a yet: the tasks stay open.
    let (repaired, open) = t.vault.repair(&op).expect("repair while down");
    assert_eq!((repaired, open), (0, 8));

    drop(restart);
    let (repaired, open) = t.vault.repair(&op).expect("repair");
    assert_eq!((repaired, open), (8, 0));
    let status = t.vault.status().expect("status");
    assert_eq!(
        (status.stats.under_replicated, status.repair_tasks.len()),
        (0, 0)
    );
    assert_eq!(status.sites.len(), 2);
    assert!(
        status
            .sites
            .iter()
            .all(|(_, loc, n)| loc.starts_with("http://127.0.0.1:39") && *n == 12)
    );
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    // The catalog is PostgreSQL: nothing of it is a file in the data directory.
    assert!(!t.data_dir().join("catalog").exists());
    // Checkpoints and proofs work on it as on SQLite.
    let c = t.vault.checkpoint().expect("checkpoint");
    assert!(c.note.contains("audit.callvault.test.example"));

    // And with site b down, a serves everything.
    g.control("stop", "b");
    struct RestartB<'a>(&'a callvault_testkit::GarageEnv);
    impl Drop for RestartB<'_> {
        fn drop(&mut self) {
            self.0.control("start", "b");
        }
    }
    let _restart_b = RestartB(&g);
    for i in [2, 9] {
        play_all(&t, &policy, i);
    }
}
