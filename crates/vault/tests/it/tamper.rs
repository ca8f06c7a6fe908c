//! Damage at a site and edits to the audit log are found by `verify`.

use callvault_catalog::raw_connection;
use callvault_vault::blob_key;

use crate::common::*;

fn first_recording(t: &TestVault) -> callvault_catalog::RecordingRow {
    let mut first = None;
    t.vault
        .catalog()
        .for_each_recording(&mut |r| {
            first.get_or_insert(r);
            Ok(())
        })
        .expect("list");
    first.expect("a recording")
}

#[test]
fn a_flipped_byte_at_one_site_is_named_by_recording_and_site() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 3, 40_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let rec = first_recording(&t);
    let path = t
        .data_dir()
        .join("sites/b/objects")
        .join(blob_key(&rec.rec.id).expect("key").as_str());
    let mut bytes = std::fs::read(&path).expect("blob");
    bytes[70_000] ^= 0x01;
    std::fs::write(&path, bytes).expect("write");

    for deep in [false, true] {
        let r = t.vault.verify(deep, |_| {}).expect("verify");
        assert_eq!(r.problems.len(), 1, "deep={deep}: {:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(
            p.recording.as_deref(),
            Some(rec.rec.id.to_string().as_str())
        );
        assert_eq!(p.site.as_deref(), Some("b"));
        assert!(p.what.contains("damaged"), "{p}");
        assert_eq!(p.marked, Some(callvault_catalog::PlacementState::Damaged));
    }
    // The damage was recorded as a repair task, and repair heals it from site a.
    let status = t.vault.status().expect("status");
    assert_eq!(status.repair_tasks.len(), 1);
    assert_eq!(status.repair_tasks[0].site, "b");
    assert_eq!(
        t.vault
            .repair(&callvault_vault::vault_operator())
            .expect("repair"),
        (1, 0)
    );
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn deep_verify_detects_a_blob_swapped_between_recordings() {
    // Both copies replaced by another recording's (valid) ciphertext, and the catalog hash
    // updated by an attacker: only decryption can tell.
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 20_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let mut rows = Vec::new();
    t.vault
        .catalog()
        .for_each_recording(&mut |r| {
            rows.push(r);
            Ok(())
        })
        .expect("list");
    let (a, b) = (&rows[0], &rows[1]);
    for site in ["a", "b"] {
        let objects = t.data_dir().join("sites").join(site).join("objects");
        let src =
            std::fs::read(objects.join(blob_key(&b.rec.id).expect("k").as_str())).expect("read");
        std::fs::write(objects.join(blob_key(&a.rec.id).expect("k").as_str()), &src)
            .expect("write");
    }
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    conn.execute(
        "UPDATE recordings SET ciphertext_sha256 = ?1, ciphertext_size = ?2 WHERE id = ?3",
        rusqlite::params![
            &b.rec.ciphertext_sha256[..],
            b.rec.ciphertext_size as i64,
            a.rec.id.to_string()
        ],
    )
    .expect("update");
    drop(conn);
    // The copies now match the edited catalog row, but the row no longer matches the audit
    // event that acknowledged the recording.
    let shallow = t.vault.verify(false, |_| {}).expect("verify");
    assert_eq!(shallow.problems.len(), 1, "{:?}", shallow.problems);
    let p = &shallow.problems[0];
    assert_eq!(p.recording.as_deref(), Some(a.rec.id.to_string().as_str()));
    assert!(
        p.what.contains("differs from its ingest audit event")
            && p.what.contains("ciphertext_sha256"),
        "{p}"
    );
    // Decryption catches the swap at both sites in any case.
    let deep = t.vault.verify(true, |_| {}).expect("verify");
    assert_eq!(deep.problems.len(), 3, "{:?}", deep.problems);
    assert_eq!(
        deep.problems
            .iter()
            .filter(|p| p.what.contains("decryption failed"))
            .count(),
        2,
        "{:?}",
        deep.problems
    );
    for p in &deep.problems {
        assert_eq!(p.recording.as_deref(), Some(a.rec.id.to_string().as_str()));
    }
    // Both copies are wrong, so repair has no good source and copies nothing.
    assert_eq!(
        t.vault
            .repair(&callvault_vault::vault_operator())
            .expect("repair"),
        (0, 2)
    );
}

#[test]
fn an_edited_catalog_row_is_found_against_its_ingest_event() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 4000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let rec = first_recording(&t);
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    // Shorten retention, move the call to another unit, swap the patient index.
    conn.execute(
        "UPDATE recordings SET retention_until_us = 0, care_unit = 'SE2321000016-9999', patient_bidx = zeroblob(32) WHERE id = ?1",
        [rec.rec.id.to_string()],
    )
    .expect("edit");
    drop(conn);
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let what = &r.problems[0].what;
    for field in ["patient", "care_unit", "retention_until_us"] {
        assert!(what.contains(field), "{what}");
    }
}

#[test]
fn an_edited_audit_event_fails_verification() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 4000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    t.vault.checkpoint().expect("checkpoint");
    assert!(t.vault.verify_audit_log().expect("verify").is_clean());

    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    // The append-only trigger refuses; an attacker with the file drops it first.
    let refused = conn.execute("UPDATE audit_log SET event = x'00' WHERE idx = 2", []);
    assert!(refused.is_err(), "append-only trigger must refuse updates");
    conn.execute_batch("DROP TRIGGER audit_log_only_pruned;")
        .expect("drop trigger");
    let event: Vec<u8> = conn
        .query_row("SELECT event FROM audit_log WHERE idx = 2", [], |r| {
            r.get(0)
        })
        .expect("event");
    let mut edited = event.clone();
    let last = edited.len() - 1;
    edited[last] ^= 1;
    conn.execute("UPDATE audit_log SET event = ?1 WHERE idx = 2", [&edited])
        .expect("edit");
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems.iter().any(|p| p
            .what
            .contains("event 2 does not match its stored leaf hash")),
        "{:?}",
        r.problems
    );

    // Recomputing the stored leaf hash too still breaks the signed root.
    let lh = callvault_audit::merkle::leaf_hash(&edited);
    conn.execute(
        "UPDATE audit_log SET leaf_hash = ?1 WHERE idx = 2",
        [&lh[..]],
    )
    .expect("edit");
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems
            .iter()
            .any(|p| p.what.contains("differs from the signed checkpoint")),
        "{:?}",
        r.problems
    );
    // The next checkpoint extends the signed tree's compact range, never the edited rows
    // below it: what it signs is the honest history, so the edit stays visible to every
    // full verification, now against both checkpoints.
    let before = t
        .vault
        .catalog()
        .latest_checkpoint()
        .expect("q")
        .expect("cp");
    let next = t.vault.checkpoint().expect("extends the signed range");
    let stored = t
        .vault
        .catalog()
        .audit_leaf_hashes(next.size)
        .expect("hashes");
    assert_ne!(
        next.root_hash,
        callvault_audit::merkle::root(&stored),
        "the edited rows are not what was signed"
    );
    // Proofs built from the edited rows do not verify against the signed heads.
    assert!(t.vault.consistency_proof(before.size).is_err());
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems.iter().any(|p| p.what.contains(&format!(
            "tree root at size {} differs from the signed checkpoint",
            next.size
        ))),
        "{:?}",
        r.problems
    );
}

#[test]
fn an_edit_after_the_last_checkpoint_is_not_laundered_into_the_next() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 4000);
    t.vault.checkpoint().expect("checkpoint");
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let size = t.vault.catalog().audit_size().expect("size");
    // Edit the newest event (not yet under any checkpoint), leaving its stored leaf hash.
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    conn.execute_batch("DROP TRIGGER audit_log_only_pruned;")
        .expect("drop");
    let idx = size as i64 - 1;
    let mut ev: Vec<u8> = conn
        .query_row("SELECT event FROM audit_log WHERE idx = ?1", [idx], |r| {
            r.get(0)
        })
        .expect("event");
    let last = ev.len() - 1;
    ev[last] ^= 1;
    conn.execute(
        "UPDATE audit_log SET event = ?1 WHERE idx = ?2",
        rusqlite::params![ev, idx],
    )
    .expect("edit");
    let err = t.vault.checkpoint().expect_err("must refuse");
    assert!(err.to_string().contains(&format!("event {idx}")), "{err}");
}

#[test]
fn a_deleted_checkpoint_is_detected() {
    // By verification, and by the next checkpoint, which extends the one before the deleted
    // one and meets the deleted one's event.
    let t = TestVault::new();
    t.vault.checkpoint().expect("checkpoint");
    let latest = t.vault.checkpoint().expect("checkpoint");
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    let del = "DELETE FROM checkpoints WHERE size = ?1";
    assert!(
        conn.execute(del, [latest.size as i64]).is_err(),
        "trigger refuses"
    );
    conn.execute_batch("DROP TRIGGER checkpoints_no_delete;")
        .expect("drop");
    conn.execute(del, [latest.size as i64]).expect("delete");
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems
            .iter()
            .any(|p| p.what.contains("checkpoint deleted")),
        "{:?}",
        r.problems
    );
    let err = t.vault.checkpoint().expect_err("must refuse");
    assert!(err.to_string().contains("checkpoint deleted"), "{err}");
}

/// A compact range edited in the catalog does not fold to its signed root: the next
/// checkpoint refuses to extend it, and verification names it.
#[test]
fn an_edited_compact_range_is_refused() {
    let t = TestVault::new();
    let cp = t.vault.checkpoint().expect("checkpoint");
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    conn.execute_batch("DROP TRIGGER checkpoints_no_update;")
        .expect("drop");
    let mut range = cp.compact_range.clone().expect("range");
    let last = range.len() - 1;
    range[last] ^= 1;
    conn.execute(
        "UPDATE checkpoints SET compact_range = ?1 WHERE size = ?2",
        rusqlite::params![range, cp.size as i64],
    )
    .expect("edit");
    let err = t.vault.checkpoint().expect_err("must refuse");
    assert!(
        err.to_string().contains("does not fold to its signed root"),
        "{err}"
    );
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems
            .iter()
            .any(|p| p.what.contains("compact range stored with the checkpoint")),
        "{:?}",
        r.problems
    );
}

/// Checkpoints extended from compact ranges agree with the whole tree: after many rounds of
/// new events and checkpoints, a full verification finds every root and range right.
#[test]
fn checkpoints_extended_from_compact_ranges_agree_with_the_whole_tree() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 3, 2000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    for round in 0..9 {
        for _ in 0..round {
            t.vault
                .record_audit_read(&callvault_vault::vault_operator(), "round")
                .expect("event");
        }
        let cp = t.vault.checkpoint().expect("checkpoint");
        assert_eq!(
            cp.root_hash,
            callvault_audit::merkle::root(
                &t.vault
                    .catalog()
                    .audit_leaf_hashes(cp.size)
                    .expect("hashes")
            )
        );
    }
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(r.checkpoints >= 10);
}

#[test]
fn leaves_can_only_be_appended_at_the_next_index() {
    let t = TestVault::new();
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    let size = t.vault.catalog().audit_size().expect("size") as i64;
    for idx in [0, size + 1] {
        let r = conn.execute(
            "INSERT OR REPLACE INTO audit_log (idx, leaf_hash, event, time_us, action) VALUES (?1, x'00', x'00', 0, 'x')",
            [idx],
        );
        assert!(r.is_err(), "index {idx} must be refused");
    }
}

#[test]
fn a_deleted_audit_event_fails_verification() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 4000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let cp = t.vault.checkpoint().expect("checkpoint");
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    assert!(
        conn.execute("DELETE FROM audit_log WHERE idx = 1", [])
            .is_err(),
        "trigger refuses"
    );
    conn.execute_batch("DROP TRIGGER audit_log_no_delete;")
        .expect("drop");
    // Delete from the middle.
    conn.execute("DELETE FROM audit_log WHERE idx = 1", [])
        .expect("delete");
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        r.problems
            .iter()
            .any(|p| p.what.contains("events 1..2 are missing")),
        "{:?}",
        r.problems
    );
    // Delete the tail past the checkpoint.
    conn.execute(
        "DELETE FROM audit_log WHERE idx >= ?1",
        [cp.size as i64 - 1],
    )
    .expect("delete");
    let r = t.vault.verify_audit_log().expect("verify");
    assert!(
        r.problems.iter().any(|p| p.what.contains("events deleted")),
        "{:?}",
        r.problems
    );
}

#[test]
fn proofs_verify_against_the_signed_checkpoint() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 3, 4000);
    let first = t.vault.checkpoint().expect("checkpoint");
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let latest = t.vault.checkpoint().expect("checkpoint");
    assert!(latest.size > first.size);
    for i in 0..latest.size {
        let p = t.vault.inclusion_proof(i).expect("inclusion");
        assert_eq!(p.checkpoint.size, latest.size);
    }
    assert!(t.vault.inclusion_proof(latest.size).is_err());
    let c = t.vault.consistency_proof(first.size).expect("consistency");
    assert_eq!((c.old.size, c.new.size), (first.size, latest.size));
    // The checkpoint verifies with only the public key.
    let verifier = callvault_audit::note::NoteVerifier::from_verifier_key(&t.vault.verifier_key())
        .expect("vkey");
    let parsed =
        callvault_audit::note::verify_checkpoint(&verifier, &latest.note).expect("signature");
    assert_eq!(parsed.root_hash, latest.root_hash);
}

/// An attacker with the catalog file who fakes a pruning (a minimum index without an
/// approved, recorded order) to destroy old events: the tree still matches the checkpoints,
/// so only the missing `audit.prune` event gives it away, and verify says so.
#[test]
fn a_forged_pruning_of_old_events_is_detected() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 2, 4000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    t.vault.checkpoint().expect("checkpoint");
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    // The schema refuses; the attacker drops the triggers first.
    assert!(
        conn.execute("UPDATE audit_log SET event = X'' WHERE idx < 3", [])
            .is_err()
    );
    conn.execute_batch(
        "DROP TRIGGER audit_log_only_pruned;
         DROP TRIGGER audit_pruned_approved_insert;
         DROP TRIGGER audit_pruned_five_years_insert;
         INSERT INTO audit_prune_orders (id, before_us, min_index, state, registered_by,
           registered_at_us, executed_by, executed_at_us, pruned)
           VALUES ('forged', 0, 3, 'executed', 'x', 0, 'x', 0, 3);
         INSERT INTO audit_pruned (id, min_index, before_us, order_id) VALUES (1, 3, 0, 'forged');
         UPDATE audit_log SET event = X'', recording_id = NULL, patient_bidx = NULL WHERE idx < 3;",
    )
    .expect("forge");
    drop(conn);
    let report = t.vault.verify_audit_log().expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("no audit.prune event")),
        "{:?}",
        report.problems
    );
}

/// An assignment approved behind the vault's back (a row written into the catalog file,
/// passing the four-eyes `CHECK` with two made-up names) has no approval in the audit log,
/// and verify says so; the bootstrap's approvals are recorded and pass.
#[test]
fn a_forged_approved_assignment_is_reported() {
    let t = TestVault::new();
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let admin = |h: &str| {
        callvault_auth::UserEntry::new(h, "Admin", "Behörighetsadministratör", CP_A).expect("admin")
    };
    let (a1, a2) = (admin("SE2321000016-A001"), admin("SE2321000016-A002"));
    t.vault
        .bootstrap_administrators(&cp, [&a1, &a2], &callvault_vault::vault_operator())
        .expect("bootstrap");
    let clean = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        !clean.problems.iter().any(|p| p.what.contains("forged")),
        "{:?}",
        clean.problems
    );
    let conn = raw_connection(&t.data_dir().join("catalog/catalog.sqlite3")).expect("db");
    conn.execute_batch(&format!(
        "INSERT INTO users (hsa_id, name, title, care_provider, registered_at_us, registered_by)
           VALUES ('SE2321000016-X001', 'Mallory', 'Sjuksköterska', '{CP_A}', 0, 'person:SE2321000016-A001');
         INSERT INTO assignments (id, holder, care_provider, care_units, purpose, rights,
           valid_from_us, valid_until_us, justification, origin, state, requested_by,
           requested_at_us, decided_by, decided_at_us)
           VALUES ('forged-1', 'SE2321000016-X001', '{CP_A}', '', 'vård och behandling',
             'search,view-metadata,play', 0, 4102444800000000, 'x', 'request', 'approved',
             'person:SE2321000016-A001', 0, 'person:SE2321000016-A002', 0);"
    ))
    .expect("forge");
    drop(conn);
    let report = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("assignment forged-1") && p.what.contains("forged")),
        "{:?}",
        report.problems
    );
}
