//! The catalog conformance suite, run against a SQLite file and (in the integration suite)
//! a PostgreSQL database: atomic changes with their audit events, group commit under
//! concurrency, placements and repair tasks, re-wrapping, migrations, governance, pruning,
//! and the schema's own refusals of edits made behind the catalog's back.

mod db;
mod tls;

use std::sync::Arc;

use db::Db;

use callvault_audit::event::{Action, Actor, AuditEvent};
use callvault_catalog::{
    Catalog, CatalogError, Change, Mutation, NewRecording, Placement, PlacementState,
    RecordingSource, Rewrap,
};
use callvault_types::{CallId, CareProvider, CareUnit, RecordingId};
use time::OffsetDateTime;

fn cp() -> CareProvider {
    CareProvider::parse("SE2321000016-0001").expect("cp")
}

fn event(action: Action) -> AuditEvent {
    AuditEvent::new(Actor::Vault, action, "test")
}

fn recording(call: &str) -> NewRecording {
    let now = OffsetDateTime::now_utc();
    NewRecording {
        id: RecordingId::new_random(),
        care_provider: cp(),
        care_unit: CareUnit::parse("SE2321000016-1177").expect("unit"),
        call_id: CallId::parse(call).expect("call"),
        started_at: now,
        ended_at: now,
        duration_ms: 1000,
        codec: "pcm_s16le".into(),
        sample_rate: 8000,
        channels: 1,
        plaintext_size: 16_044,
        plaintext_sha256: [1; 32],
        ciphertext_size: 16_130,
        ciphertext_sha256: [2; 32],
        dek_id: [3; 16],
        wrapped_dek: vec![4; 61],
        kek_version: 1,
        patient: Some((vec![5; 40], [6; 32])),
        caller: None,
        nurse: None,
        retention_until: now,
        source: RecordingSource::Import,
        incomplete: None,
    }
}

fn insert(r: NewRecording, sites: &[(&str, PlacementState)]) -> Change {
    Change::new(event(Action::Import)).with(Mutation::InsertRecording {
        recording: Box::new(r),
        placements: sites
            .iter()
            .map(|(s, st)| Placement {
                site: (*s).to_owned(),
                state: *st,
            })
            .collect(),
        repair_reason: "write failed".into(),
    })
}

fn a_change_commits_with_its_events_or_not_at_all(db: &dyn Db) {
    let cat = db.open();
    let r = recording("call-1");
    let id = r.id;
    let c = cat
        .commit(insert(
            r,
            &[("a", PlacementState::Ok), ("b", PlacementState::Ok)],
        ))
        .expect("commit");
    assert_eq!(c.leaf_indexes, vec![0]);
    assert!(cat.recording(&id).expect("get").is_some());

    // The same call id again fails: no row, no event, and the index is not consumed.
    let err = cat
        .commit(insert(recording("call-1"), &[("a", PlacementState::Ok)]))
        .expect_err("duplicate");
    assert!(matches!(err, CatalogError::DuplicateCall { .. }), "{err:?}");
    assert_eq!(cat.audit_size().expect("size"), 1);

    // A mutation on an unknown recording fails the same way.
    let err = cat
        .commit(
            Change::new(event(Action::Repaired)).with(Mutation::SetPlacement {
                recording_id: RecordingId::new_random(),
                placement: Placement {
                    site: "a".into(),
                    state: PlacementState::Ok,
                },
                reason: String::new(),
            }),
        )
        .expect_err("unknown");
    assert!(matches!(err, CatalogError::UnknownRecording(_)));
    assert_eq!(cat.audit_size().expect("size"), 1);

    // The next good change takes the next index.
    let c = cat
        .commit(Change::new(event(Action::Search)).and_event(event(Action::View)))
        .expect("commit");
    assert_eq!(c.leaf_indexes, vec![1, 2]);
}

fn concurrent_writers_share_transactions_and_get_contiguous_indexes(db: &dyn Db) {
    let cat = db.open();
    let writers = 32;
    let per = 40;
    let mut all: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..writers)
            .map(|w| {
                let cat = Arc::clone(&cat);
                s.spawn(move || {
                    let mut idx = Vec::new();
                    for i in 0..per {
                        // Every tenth change of each writer fails and must not disturb
                        // the others in its batch.
                        let change = if i % 10 == 9 {
                            Change::new(event(Action::Repaired)).with(Mutation::Rewrap(vec![
                                Rewrap {
                                    recording_id: RecordingId::new_random(),
                                    wrapped_dek: vec![],
                                    kek_version: 2,
                                },
                            ]))
                        } else {
                            Change::new(event(Action::View).detail("w", w))
                        };
                        match cat.commit(change) {
                            Ok(c) => idx.extend(c.leaf_indexes),
                            Err(CatalogError::UnknownRecording(_)) => {}
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                    idx
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    all.sort_unstable();
    let expected = (writers * per * 9 / 10) as u64;
    assert_eq!(all, (0..expected).collect::<Vec<_>>());
    assert_eq!(cat.audit_size().expect("size"), expected);
    // Stored leaf hashes are the hashes of the stored events.
    cat.for_each_audit_leaf(0, expected, &mut |_, e, h| {
        assert_eq!(&callvault_audit::merkle::leaf_hash(e), h);
        Ok(())
    })
    .expect("leaves");
}

fn placements_repair_tasks_and_rewrap(db: &dyn Db) {
    let cat = db.open();
    let r = recording("call-2");
    let id = r.id;
    cat.commit(insert(
        r,
        &[("a", PlacementState::Ok), ("b", PlacementState::Missing)],
    ))
    .expect("commit");
    let tasks = cat.open_repair_tasks().expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].recording_id, tasks[0].site.as_str()), (id, "b"));
    let stats = cat.stats().expect("stats");
    assert_eq!(
        (
            stats.recordings,
            stats.under_replicated,
            stats.open_repair_tasks
        ),
        (1, 1, 1)
    );

    // Marking it damaged again does not add a second task; marking it ok closes it.
    let set = |state| {
        Change::new(event(Action::Repaired)).with(Mutation::SetPlacement {
            recording_id: id,
            placement: Placement {
                site: "b".into(),
                state,
            },
            reason: "x".into(),
        })
    };
    cat.commit(set(PlacementState::Damaged)).expect("damaged");
    assert_eq!(cat.open_repair_tasks().expect("tasks").len(), 1);
    cat.commit(set(PlacementState::Ok)).expect("ok");
    assert!(cat.open_repair_tasks().expect("tasks").is_empty());
    assert_eq!(cat.stats().expect("stats").under_replicated, 0);

    // Re-wrap to KEK version 2.
    assert_eq!(
        cat.recordings_below_kek(&cp(), 2, 10).expect("below").len(),
        1
    );
    cat.commit(
        Change::new(event(Action::KeyRewrap)).with(Mutation::Rewrap(vec![Rewrap {
            recording_id: id,
            wrapped_dek: vec![9; 61],
            kek_version: 2,
        }])),
    )
    .expect("rewrap");
    assert!(
        cat.recordings_below_kek(&cp(), 2, 10)
            .expect("below")
            .is_empty()
    );
    let row = cat.recording(&id).expect("get").expect("row");
    assert_eq!((row.rec.kek_version, row.rec.wrapped_dek[0]), (2, 9));
    // Lookup by blind index.
    assert_eq!(
        cat.recordings_by_patient(&cp(), &[6; 32])
            .expect("by patient")
            .len(),
        1
    );
    assert!(
        cat.recordings_by_patient(&cp(), &[7; 32])
            .expect("by patient")
            .is_empty()
    );
}

fn data_survives_reopen_and_a_newer_schema_is_refused(db: &dyn Db) {
    let r = recording("call-3");
    let id = r.id;
    {
        let cat = db.open();
        cat.commit(insert(r, &[("a", PlacementState::Ok)]))
            .expect("commit");
    }
    {
        let cat = db.open();
        assert!(cat.recording(&id).expect("get").is_some());
        // The writer resumes at the next index.
        let c = cat
            .commit(Change::new(event(Action::View)))
            .expect("commit");
        assert_eq!(c.leaf_indexes, vec![1]);
    }
    db.set_schema_version(99);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.open()));
    assert!(err.is_err(), "a newer schema is refused");
}

/// Group commit: concurrent changes share transactions (one durable flush each).
#[test]
fn concurrent_changes_share_sqlite_transactions() {
    let db = db::Sqlite::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = Arc::new(
        callvault_catalog::SqliteCatalog::open(&dir.path().join("c.sqlite3")).expect("open"),
    );
    std::thread::scope(|s| {
        for w in 0..32 {
            let cat = Arc::clone(&cat);
            s.spawn(move || {
                for _ in 0..40 {
                    cat.commit(Change::new(event(Action::View).detail("w", w)))
                        .expect("commit");
                }
            });
        }
    });
    let txs = cat.transactions_committed();
    println!("1280 changes in {txs} transactions");
    assert!(txs < 1280, "{txs} transactions for 1280 changes");
    drop(db);
}

mod governance {
    use super::*;
    use callvault_catalog::{
        AssignmentDecision, AssignmentOrigin, AssignmentState, NewAssignment, UserRow,
    };
    use callvault_types::HsaId;

    fn user(hsa: &str) -> UserRow {
        UserRow {
            hsa_id: HsaId::parse(hsa).expect("hsa"),
            name: "Anna Andersson".into(),
            title: "Sjuksköterska".into(),
            care_provider: cp(),
            registered_at: OffsetDateTime::now_utc(),
            registered_by: "person:SE2321000016-A001".into(),
        }
    }

    fn request(id: &str, holder: &str, by: &str) -> NewAssignment {
        let now = OffsetDateTime::now_utc();
        NewAssignment {
            id: id.into(),
            holder: HsaId::parse(holder).expect("hsa"),
            care_provider: cp(),
            care_units: vec![CareUnit::parse("SE2321000016-1177").expect("unit")],
            purpose: "vård och behandling".into(),
            rights: vec!["search".into(), "play".into()],
            valid_from: now,
            valid_until: now + time::Duration::days(30),
            justification: "new nurse".into(),
            origin: AssignmentOrigin::Request,
            requested_by: by.into(),
            requested_at: now,
        }
    }

    fn decision(by: &str) -> AssignmentDecision {
        AssignmentDecision {
            by: by.into(),
            at: OffsetDateTime::now_utc(),
            comment: None,
        }
    }

    fn conflict(r: Result<callvault_catalog::Committed, CatalogError>) -> String {
        match r {
            Err(CatalogError::Conflict(m)) => m,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    const A1: &str = "person:SE2321000016-A001";
    const A2: &str = "person:SE2321000016-A002";

    pub fn the_catalog_itself_refuses_self_approval_and_steps_out_of_order(db: &dyn Db) {
        let cat = db.open();
        let audit = || event(Action::AssignmentRequest);
        cat.commit(Change::new(audit()).with(Mutation::RegisterUser(user("SE2321000016-N001"))))
            .expect("register");
        let size = cat.audit_size().expect("size");
        // A registered user twice; a request for an unregistered holder: refused, and the
        // change's event is not written either.
        assert!(
            conflict(cat.commit(
                Change::new(audit()).with(Mutation::RegisterUser(user("SE2321000016-N001")))
            ))
            .contains("already registered")
        );
        let unregistered = request("x-1", "SE2321000016-N404", A1);
        assert!(
            conflict(
                cat.commit(Change::new(audit()).with(Mutation::InsertAssignment {
                    assignment: Box::new(unregistered),
                    approved: None,
                }))
            )
            .contains("not a registered user")
        );
        // Only the bootstrap may be inserted approved.
        assert!(
            conflict(
                cat.commit(Change::new(audit()).with(Mutation::InsertAssignment {
                    assignment: Box::new(request("x-2", "SE2321000016-N001", A1)),
                    approved: Some(decision(A2)),
                }))
            )
            .contains("only the bootstrap")
        );
        assert_eq!(cat.audit_size().expect("size"), size);

        cat.commit(Change::new(audit()).with(Mutation::InsertAssignment {
            assignment: Box::new(request("nurse-1", "SE2321000016-N001", A1)),
            approved: None,
        }))
        .expect("request");
        let decide = |by: &str, approve: bool| {
            cat.commit(Change::new(event(Action::AssignmentApprove)).with(
                Mutation::DecideAssignment {
                    id: "nurse-1".into(),
                    approve,
                    decision: decision(by),
                },
            ))
        };
        assert!(conflict(decide(A1, true)).contains("requested by you"));
        assert!(conflict(decide("person:SE2321000016-N001", true)).contains("is for you"));
        decide(A2, true).expect("approve");
        assert!(conflict(decide(A2, false)).contains("is approved, not awaiting"));
        let row = cat.assignment("nurse-1").expect("q").expect("row");
        assert_eq!(row.state, AssignmentState::Approved);
        assert_eq!(row.decision.as_ref().map(|d| d.by.as_str()), Some(A2));

        let revoke = || {
            cat.commit(Change::new(event(Action::AssignmentRevoke)).with(
                Mutation::RevokeAssignment {
                    id: "nurse-1".into(),
                    revocation: AssignmentDecision {
                        comment: Some("left".into()),
                        ..decision(A1)
                    },
                },
            ))
        };
        revoke().expect("revoke");
        assert!(conflict(revoke()).contains("only approved assignments"));
        assert_eq!(
            cat.assignments(Some(&cp()), Some(AssignmentState::Revoked))
                .expect("list")
                .len(),
            1
        );
    }

    pub fn the_schema_refuses_a_self_approval_written_behind_the_catalogs_back(db: &dyn Db) {
        {
            let cat = db.open();
            cat.commit(
                Change::new(event(Action::UserRegister))
                    .with(Mutation::RegisterUser(user("SE2321000016-N001"))),
            )
            .expect("register");
            cat.commit(Change::new(event(Action::AssignmentRequest)).with(
                Mutation::InsertAssignment {
                    assignment: Box::new(request("nurse-1", "SE2321000016-N001", A1)),
                    approved: None,
                },
            ))
            .expect("request");
        }
        for by in [A1, "person:SE2321000016-N001"] {
            let err = db
                .raw(&format!(
                    "UPDATE assignments SET state = 'approved', decided_by = '{by}', decided_at_us = 1 WHERE id = 'nurse-1'"
                ))
                .expect_err("four eyes");
            assert!(err.to_lowercase().contains("check constraint"), "{err}");
        }
        // A state without its decision, or a revocation without who revoked, is refused too.
        assert!(
            db.raw("UPDATE assignments SET state = 'approved' WHERE id = 'nurse-1'")
                .is_err()
        );
    }

    pub fn last_use_comes_from_the_audit_log(db: &dyn Db) {
        let cat = db.open();
        assert_eq!(cat.assignment_last_use("nurse-1").expect("q"), None);
        let mut e = event(Action::View);
        e.assignment = Some("nurse-1".into());
        let t = e.time;
        cat.commit(Change::new(e)).expect("commit");
        let mut other = event(Action::View);
        other.assignment = Some("nurse-2".into());
        cat.commit(Change::new(other)).expect("commit");
        assert_eq!(cat.assignment_last_use("nurse-1").expect("q"), Some(t));
    }
}

/// Pruning of the audit log: old events lose their bytes below the minimum index, every
/// proof stays valid, and the schema refuses any other change (too young, not approved
/// for every care provider, above the minimum index, a shrinking minimum index).
fn pruning_keeps_every_proof_and_nothing_younger_than_five_years(db: &dyn Db) {
    use callvault_audit::merkle::{
        consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
    };
    use callvault_catalog::NewAuditPrune;
    let cp_b = CareProvider::parse("SE2321000156-0001").expect("cp");
    // Pruning goes by prefix: the log starts with seven years old events, then young ones.
    let cat = db.open();
    let old = OffsetDateTime::now_utc() - time::Duration::days(7 * 366);
    for i in 0..20u8 {
        let mut e = event(Action::View);
        e.time = old + time::Duration::hours(i64::from(i));
        e.patient = Some(callvault_audit::event::SealedPatient {
            sealed: vec![i; 8],
            blind_index: [i; 32],
        });
        cat.commit(Change::new(e)).expect("old event");
    }
    for c in [cp(), cp_b.clone()] {
        cat.commit(
            Change::new(event(Action::CareProviderAdded)).with(Mutation::AddCareProvider {
                care_provider: c,
                retention_years: 10,
            }),
        )
        .expect("cp");
    }
    for _ in 0..10 {
        cat.commit(Change::new(event(Action::Verify)))
            .expect("young event");
    }
    let size = cat.audit_size().expect("size");
    let hashes_before = cat.audit_leaf_hashes(size).expect("hashes");
    let old_root = root(&hashes_before[..15]);
    let new_root = root(&hashes_before);
    let incl_before = inclusion_proof(&hashes_before, 25).expect("proof");
    let cons_before = consistency_proof(&hashes_before, 15).expect("proof");

    let before = old + time::Duration::hours(20);
    let min_index = cat.first_audit_leaf_since(before).expect("first");
    assert_eq!(min_index, 20);
    let order = |id: &str, min_index| NewAuditPrune {
        id: id.into(),
        before,
        min_index,
        registered_by: "person:SE2321000016-M001".into(),
        registered_at: OffsetDateTime::now_utc(),
    };
    let approve = |id: &str, c: &CareProvider, by: &str| {
        cat.commit(
            Change::new(event(Action::Verify)).with(Mutation::ApproveAuditPrune {
                id: id.into(),
                care_provider: c.clone(),
                by: by.into(),
                at: OffsetDateTime::now_utc(),
            }),
        )
    };
    let execute = |id: &str| {
        cat.commit(
            Change::new(event(Action::Verify)).with(Mutation::ExecuteAuditPrune {
                id: id.into(),
                by: "person:SE2321000016-M002".into(),
                at: OffsetDateTime::now_utc(),
            }),
        )
    };
    cat.commit(
        Change::new(event(Action::Verify))
            .with(Mutation::RegisterAuditPrune(order("p1", min_index))),
    )
    .expect("register");
    // Four eyes, and every care provider.
    assert!(approve("p1", &cp(), "person:SE2321000016-M001").is_err());
    approve("p1", &cp(), "person:SE2321000016-M002").expect("approve A");
    assert!(
        approve("p1", &cp(), "person:SE2321000016-M003").is_err(),
        "twice for A"
    );
    assert!(execute("p1").is_err(), "B has not approved");
    approve("p1", &cp_b, "person:SE2321000156-M001").expect("approve B");
    // An order reaching a young event: refused by the schema at execution.
    cat.commit(
        Change::new(event(Action::Verify))
            .with(Mutation::RegisterAuditPrune(order("p2", min_index + 3))),
    )
    .expect("register");
    approve("p2", &cp(), "person:SE2321000016-M002").expect("approve");
    approve("p2", &cp_b, "person:SE2321000156-M001").expect("approve");
    let e = execute("p2").expect_err("young events");
    assert!(e.to_string().contains("five years"), "{e}");

    execute("p1").expect("execute");
    assert_eq!(cat.audit_min_index().expect("min").map(|m| m.0), Some(20));
    assert!(execute("p1").is_err(), "once");
    let row = &cat.audit_prunes(Some("p1")).expect("orders")[0];
    assert_eq!(row.executed.as_ref().map(|e| e.2), Some(20));
    assert_eq!(row.approvals.len(), 2);

    // Bytes and patient index gone below the minimum index; hashes and proofs unchanged.
    assert_eq!(cat.audit_event(3).expect("q"), Some(Vec::new()));
    assert!(!cat.audit_event(20).expect("q").expect("kept").is_empty());
    assert!(cat.audit_events_by_patient(&[3; 32]).expect("q").is_empty());
    let hashes_after = cat.audit_leaf_hashes(size).expect("hashes");
    assert_eq!(hashes_after, hashes_before);
    assert_eq!(
        inclusion_proof(&hashes_after, 25).expect("proof"),
        incl_before
    );
    assert_eq!(
        consistency_proof(&hashes_after, 15).expect("proof"),
        cons_before
    );
    verify_inclusion(25, size, &hashes_after[25], &incl_before, &new_root).expect("inclusion");
    verify_inclusion(
        3,
        size,
        &hashes_after[3],
        &inclusion_proof(&hashes_after, 3).expect("p"),
        &new_root,
    )
    .expect("a pruned leaf is still provably in the tree");
    verify_consistency(15, size, &old_root, &new_root, &cons_before).expect("consistency");

    // Behind the catalog's back: leaves at or above the minimum index, and every other
    // column, stay untouchable; the minimum index never shrinks.
    drop(cat);
    for sql in [
        "UPDATE audit_log SET event = substr(event, 1, 0) WHERE idx = 20",
        "UPDATE audit_log SET leaf_hash = substr(leaf_hash, 1, 1) WHERE idx = 3",
        "UPDATE audit_log SET time_us = 0 WHERE idx = 3",
        "DELETE FROM audit_log WHERE idx = 3",
        "UPDATE audit_pruned SET min_index = 5",
        "DELETE FROM audit_pruned",
        "UPDATE audit_pruned SET min_index = 25, order_id = 'p2'",
    ] {
        assert!(db.raw(sql).is_err(), "{sql} was allowed");
    }
}

/// Tables that only grow refuse changes and deletions made behind the catalog's back.
fn append_only_tables_refuse_edits(db: &dyn Db) {
    let cat = db.open();
    // An incomplete recording's reason round-trips (migration 9 on both engines).
    let mut r = recording("call-9");
    r.incomplete = Some("cut off by a crash".into());
    let id = r.id;
    cat.commit(insert(r, &[("a", PlacementState::Ok)]))
        .expect("commit");
    assert_eq!(
        cat.recording(&id)
            .expect("read")
            .expect("row")
            .rec
            .incomplete
            .as_deref(),
        Some("cut off by a crash")
    );
    cat.commit(
        Change::new(event(Action::Verify)).with(Mutation::StoreCheckpoint(
            callvault_catalog::StoredCheckpoint {
                size: 1,
                root_hash: [7; 32],
                note: "note".into(),
                created_at: OffsetDateTime::now_utc(),
                compact_range: Some(vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 7]),
            },
        )),
    )
    .expect("checkpoint");
    // The compact range comes back as stored (migration 8 on both engines).
    let stored = cat.latest_checkpoint().expect("read").expect("checkpoint");
    assert_eq!(
        stored.compact_range,
        Some(vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 7])
    );
    // Links to patients (migration 10 on both engines): numbered from 1, the row's patient
    // follows the latest, a correction needs its reason, and a number out of turn is refused.
    let link = |n: u32, bidx: u8, reason: Option<Vec<u8>>| {
        Change::new(event(Action::PatientLink)).with(Mutation::LinkPatient(
            callvault_catalog::PatientLinkRow {
                recording_id: id,
                n,
                patient: (vec![bidx; 40], [bidx; 32]),
                linked_by: "person:SE2321000016-N001".into(),
                linked_at: OffsetDateTime::now_utc(),
                reason_sealed: reason,
            },
        ))
    };
    cat.commit(link(1, 1, None)).expect("first link");
    assert!(
        cat.commit(link(3, 2, Some(vec![9]))).is_err(),
        "out of turn"
    );
    assert!(
        cat.commit(link(2, 2, None)).is_err(),
        "a correction without a reason"
    );
    cat.commit(link(2, 2, Some(vec![9]))).expect("correction");
    let links = cat.patient_links(&id).expect("links");
    assert_eq!(links.iter().map(|l| l.n).collect::<Vec<_>>(), [1, 2]);
    let row = cat.recording(&id).expect("read").expect("row");
    assert_eq!(row.rec.patient.map(|p| p.1), Some([2; 32]));
    drop(cat);
    for sql in [
        "UPDATE patient_links SET linked_by = 'person:x'",
        "DELETE FROM patient_links",
        "UPDATE audit_log SET action = 'view' WHERE idx = 0",
        "DELETE FROM audit_log",
        "INSERT INTO audit_log (idx, leaf_hash, event, time_us, action) SELECT 7, leaf_hash, event, time_us, action FROM audit_log WHERE idx = 0",
        "UPDATE checkpoints SET note = 'forged'",
        "DELETE FROM checkpoints",
        "DELETE FROM recordings",
    ] {
        assert!(db.raw(sql).is_err(), "{sql} was allowed");
    }
}

/// A catalog opened beside its owner (a reading command recording its read while the
/// server runs): both write, each reading the next leaf index inside its own transaction,
/// so interleaved commits all succeed and the leaves stay contiguous.
fn two_writers_on_one_database_interleave(db: &dyn Db) {
    let a = db.open();
    let b = db.open_beside();
    let base = a.audit_size().expect("size");
    for i in 0..20u64 {
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let c1 = first
            .commit(Change::new(event(Action::Verify)))
            .expect("first");
        let c2 = second
            .commit(Change::new(event(Action::AuditRead)))
            .expect("second");
        assert_eq!(c1.leaf_indexes, [base + 2 * i]);
        assert_eq!(c2.leaf_indexes, [base + 2 * i + 1]);
    }
    assert_eq!(a.audit_size().expect("size"), base + 40);
}

/// The conformance suite once per engine: SQLite always, PostgreSQL in the integration suite.
macro_rules! conformance {
    ($module:ident, $db:expr $(, #[$attr:meta])?) => {
        mod $module {
            $(#[$attr])?
            #[test]
            fn a_change_commits_with_its_events_or_not_at_all() {
                super::a_change_commits_with_its_events_or_not_at_all(&$db);
            }
            $(#[$attr])?
            #[test]
            fn concurrent_writers_share_transactions_and_get_contiguous_indexes() {
                super::concurrent_writers_share_transactions_and_get_contiguous_indexes(&$db);
            }
            $(#[$attr])?
            #[test]
            fn placements_repair_tasks_and_rewrap() {
                super::placements_repair_tasks_and_rewrap(&$db);
            }
            $(#[$attr])?
            #[test]
            fn data_survives_reopen_and_a_newer_schema_is_refused() {
                super::data_survives_reopen_and_a_newer_schema_is_refused(&$db);
            }
            $(#[$attr])?
            #[test]
            fn the_catalog_itself_refuses_self_approval_and_steps_out_of_order() {
                super::governance::the_catalog_itself_refuses_self_approval_and_steps_out_of_order(&$db);
            }
            $(#[$attr])?
            #[test]
            fn the_schema_refuses_a_self_approval_written_behind_the_catalogs_back() {
                super::governance::the_schema_refuses_a_self_approval_written_behind_the_catalogs_back(&$db);
            }
            $(#[$attr])?
            #[test]
            fn last_use_comes_from_the_audit_log() {
                super::governance::last_use_comes_from_the_audit_log(&$db);
            }
            $(#[$attr])?
            #[test]
            fn pruning_keeps_every_proof_and_nothing_younger_than_five_years() {
                super::pruning_keeps_every_proof_and_nothing_younger_than_five_years(&$db);
            }
            $(#[$attr])?
            #[test]
            fn append_only_tables_refuse_edits() {
                super::append_only_tables_refuse_edits(&$db);
            }
            $(#[$attr])?
            #[test]
            fn two_writers_on_one_database_interleave() {
                super::two_writers_on_one_database_interleave(&$db);
            }
        }
    };
}

conformance!(sqlite, super::db::Sqlite::new());
conformance!(
    postgres,
    super::db::Postgres::new(),
    #[ignore = "integration: needs the PostgreSQL server scripts/integration.sh starts"]
);
