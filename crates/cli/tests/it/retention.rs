//! The audit log's own retention: old events pruned by an approved order.

use std::process::Command;

use crate::*;

/// The audit log's own retention: events written six years ago (the vault run under
/// libfaketime's `faketime`) are pruned by an order registered by one records manager and
/// approved for both care providers; proofs from before stay valid and deep verify is
/// clean; an order reaching younger events is refused.
#[test]
fn audit_events_older_than_the_retention_are_pruned_by_an_approved_order() {
    use callvault_auth::{
        AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Policy, PrincipalKind,
        Purpose, Resource,
    };
    use callvault_types::{CareProvider, HsaId};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let archive = dir.path().join("archive");
    let manifest = callvault_vault::demo::write_archive(&archive, 4, 1).expect("archive");
    let then = "2020-06-01 12:00:00";
    let faked = |args: &[&str]| {
        let o = Command::new("faketime")
            .arg(then)
            .arg(env!("CARGO_BIN_EXE_callvault"))
            .args(args)
            .output()
            .expect("faketime (Debian faketime; scripts/test installs it)");
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    };
    let (a, b) = ("SE2321000016-0001", "SE2321000156-0001");
    faked(&[
        "init",
        "--data-dir",
        p(&data),
        "--care-provider",
        a,
        "--care-provider",
        b,
    ]);
    faked(&["import", "--data-dir", p(&data), "--manifest", p(&manifest)]);
    faked(&["audit", "checkpoint", "--data-dir", p(&data)]);
    // Today: more events, and a checkpoint over everything.
    let o = callvault(&["verify", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "checkpoint", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));

    let vault = callvault_vault::Vault::open(&data).expect("open");
    let size = vault.catalog().audit_size().expect("size");
    let old_proof = vault.inclusion_proof(1).expect("proof");
    // The newest leaf under the latest checkpoint (the checkpoint's own event follows it).
    let young = vault
        .catalog()
        .latest_checkpoint()
        .expect("q")
        .expect("checkpoint")
        .size
        - 1;
    let young_proof = vault.inclusion_proof(young).expect("proof");

    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let rm = |id: &str, holder: &str, cp: &str| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: cp,
            care_units: &[],
            purpose: "administration",
            rights: &["manage-records"],
            valid_from: &fmt(now - time::Duration::days(1)),
            valid_until: &fmt(now + time::Duration::days(30)),
        }
        .to_toml()
    };
    let policy = Policy::new(
        AssignmentSet::parse(
            &(rm("rm-a1", "SE2321000016-M001", a)
                + &rm("rm-a2", "SE2321000016-M002", a)
                + &rm("rm-b", "SE2321000156-M001", b)),
        )
        .expect("assignments"),
    );
    let decide = |hsa: &str, cp: &str| {
        let who = AuthenticatedPrincipal::assert_verified_certificate(
            HsaId::parse(hsa).expect("hsa"),
            PrincipalKind::Person,
            [5; 32],
        );
        let req = AccessRequest {
            action: Action::ManageRecords,
            resource: Resource {
                care_provider: CareProvider::parse(cp).expect("cp"),
                care_unit: None,
            },
            purpose: Purpose::Administration,
            assignment: None,
            emergency_reason: None,
            case_number: None,
        };
        policy.decide(&who, &req, now).expect("records manager")
    };
    let (m1, m2, mb) = (
        decide("SE2321000016-M001", a),
        decide("SE2321000016-M002", a),
        decide("SE2321000156-M001", b),
    );
    // Within the retention: refused.
    let recent = now - time::Duration::days(365 * 4);
    let e = vault
        .register_audit_prune(&m1, recent)
        .expect_err("younger than five years");
    assert!(e.to_string().contains("retention_years"), "{e}");
    let before = now - time::Duration::days(365 * 5 + 2);
    let order = vault.register_audit_prune(&m1, before).expect("register");
    assert!(order.min_index > 0 && order.min_index < size, "{order:?}");
    assert_eq!(order.awaiting.len(), 2);
    assert!(matches!(
        vault.approve_audit_prune(&m1, &order.id),
        Err(callvault_vault::VaultError::FourEyes(_))
    ));
    vault
        .approve_audit_prune(&m2, &order.id)
        .expect("approve A");
    assert!(matches!(
        vault.execute_audit_prune(&m2, &order.id),
        Err(callvault_vault::VaultError::Refused(_))
    ));
    vault
        .approve_audit_prune(&mb, &order.id)
        .expect("approve B");
    let done = vault.execute_audit_prune(&m2, &order.id).expect("execute");
    assert_eq!(done.state, "executed");
    assert_eq!(done.pruned, Some(order.min_index));
    assert!(
        vault
            .catalog()
            .audit_event(0)
            .expect("q")
            .expect("row")
            .is_empty()
    );

    // Proofs from before the pruning still verify against the checkpoint they named, and
    // fresh ones agree.
    for (idx, old) in [(1, &old_proof), (young, &young_proof)] {
        let now_proof = vault.inclusion_proof(idx).expect("proof");
        assert_eq!(now_proof.leaf_hash, old.leaf_hash);
        callvault_audit::merkle::verify_inclusion(
            idx,
            old.checkpoint.size,
            &old.leaf_hash,
            &old.proof,
            &old.checkpoint.root_hash,
        )
        .expect("an old proof stays valid");
        callvault_audit::merkle::verify_inclusion(
            idx,
            now_proof.checkpoint.size,
            &now_proof.leaf_hash,
            &now_proof.proof,
            &now_proof.checkpoint.root_hash,
        )
        .expect("a new proof is valid");
    }
    drop(vault);
    let o = callvault(&["verify", "--data-dir", p(&data), "--deep"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "verify", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "1000"]);
    assert!(text(&o).contains("<pruned"), "{}", text(&o));
}
