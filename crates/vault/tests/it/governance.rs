//! The governance workflow at the vault: bootstrap, file import as requests (all or
//! nothing), four eyes, the policy built from approved assignments, the configured lifetime.

use callvault_auth::{
    AccessRequest, Action, AuthenticatedPrincipal, PrincipalKind, Purpose, Resource, UserEntry,
};
use callvault_types::{CareProvider, HsaId};
use callvault_vault::VaultError;
use callvault_vault::governance::AssignmentState;

use crate::common::*;

fn person(h: &str) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(h).expect("hsa"),
        PrincipalKind::Person,
        [9; 32],
    )
}

fn admin(h: &str, cp: &str) -> UserEntry {
    UserEntry::new(h, "Admin", "Behörighetsadministratör", cp).expect("admin")
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

/// A user table and a care assignment for `holder` valid from yesterday for `days`.
fn file(id: &str, holder: &str, cp: &str, unit: &str, days: i64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let (from, until) = (
        rfc3339(now - time::Duration::days(1)),
        rfc3339(now + time::Duration::days(days - 1)),
    );
    let user = UserEntry::new(holder, "Anna Andersson", "Sjuksköterska", cp)
        .expect("user")
        .to_toml();
    let a = callvault_auth::AssignmentSpec {
        id,
        holder,
        care_provider: cp,
        care_units: &[unit],
        purpose: "vård och behandling",
        rights: &["search", "view-metadata", "play"],
        valid_from: &from,
        valid_until: &until,
    }
    .to_toml();
    format!("{user}{a}")
}

fn manage(cp: &str) -> AccessRequest {
    AccessRequest {
        action: Action::ManagePrivileges,
        resource: Resource {
            care_provider: CareProvider::parse(cp).expect("cp"),
            care_unit: None,
        },
        purpose: Purpose::Administration,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    }
}

#[test]
fn bootstrap_import_and_four_eyes() {
    let t = TestVault::new();
    let v = &t.vault;
    let op = callvault_vault::vault_operator();
    let cp_a = CareProvider::parse(CP_A).expect("cp");
    // Bootstrap: two different persons, employed by the care provider, registered care
    // provider only.
    let (a1, a2) = (
        admin("SE2321000016-A001", CP_A),
        admin("SE2321000016-A002", CP_A),
    );
    assert!(matches!(
        v.bootstrap_administrators(&cp_a, [&a1, &a1], &op),
        Err(VaultError::FourEyes(_))
    ));
    let foreign = admin("SE2321000156-A001", CP_B);
    assert!(matches!(
        v.bootstrap_administrators(&cp_a, [&a1, &foreign], &op),
        Err(VaultError::Refused(m)) if m.contains("employed by")
    ));
    let unregistered = CareProvider::parse("SE2321000999-0001").expect("cp");
    assert!(matches!(
        v.bootstrap_administrators(&unregistered, [&a1, &a2], &op),
        Err(VaultError::UnknownCareProvider(_))
    ));
    v.bootstrap_administrators(&cp_a, [&a1, &a2], &op)
        .expect("bootstrap");
    assert!(matches!(
        v.bootstrap_administrators(&cp_a, [&a1, &a2], &op),
        Err(VaultError::Refused(m)) if m.contains("already has privilege administrators")
    ));
    let policy = v.policy().expect("policy");
    assert_eq!(policy.assignments().all().len(), 2);

    // Import is all or nothing: one bad assignment (too long for the configured lifetime)
    // and nothing of the file is registered or requested.
    let good = file("nurse-a", "SE2321000016-N001", CP_A, UNIT_A, 200);
    let too_long = file("nurse-z", "SE2321000016-N009", CP_A, UNIT_A, 400);
    let path = t.dir.path().join("assignments.toml");
    std::fs::write(&path, format!("{good}{too_long}")).expect("file");
    let before = v.catalog().audit_size().expect("size");
    let err = v.import_assignments(&path, &op).expect_err("too long");
    assert!(err.to_string().contains("at most 366 days"), "{err}");
    assert_eq!(v.catalog().audit_size().expect("size"), before);
    assert!(v.catalog().users(None).expect("users").len() == 2);

    std::fs::write(&path, &good).expect("file");
    let done = v.import_assignments(&path, &op).expect("import");
    assert_eq!(done.requested, vec!["nurse-a".to_owned()]);
    assert_eq!(done.users_registered, 1);
    // Ids are never reused: the same file again is refused.
    let err = v.import_assignments(&path, &op).expect_err("again");
    assert!(err.to_string().contains("already used"), "{err}");
    // Requested is not in force.
    let nurse = person("SE2321000016-N001");
    assert!(
        v.policy()
            .expect("policy")
            .assignments()
            .held_by(nurse.hsa_id())
            .next()
            .is_none()
    );
    // The operator who imported it is not an administrator; A001 approves.
    let a1p = person("SE2321000016-A001");
    v.approve_as(&a1p, &done.requested, "ok").expect("approve");
    let row = v.assignment("nurse-a").expect("q").expect("row");
    assert_eq!(row.state, AssignmentState::Approved);
    assert!(
        v.policy()
            .expect("policy")
            .assignments()
            .held_by(nurse.hsa_id())
            .any(|a| a.id.as_str() == "nurse-a")
    );

    // Revocation removes it from the policy; the policy's in_force answers at once.
    let authz = v
        .policy()
        .expect("policy")
        .decide(
            &person("SE2321000016-A002"),
            &manage(CP_A),
            time::OffsetDateTime::now_utc(),
        )
        .expect("admin");
    v.revoke_assignment(&authz, "nurse-a", "slutat")
        .expect("revoke");
    let p = v.policy().expect("policy");
    assert!(!p.in_force(
        &callvault_auth::AssignmentId::parse("nurse-a").expect("id"),
        nurse.hsa_id(),
        time::OffsetDateTime::now_utc()
    ));
    // A decision for one care provider does not manage another's.
    let err = v
        .register_user(&authz, &admin("SE2321000156-N001", CP_B))
        .expect_err("other care provider");
    assert!(matches!(err, VaultError::CapabilityMismatch(_)), "{err}");
}

#[test]
fn the_configured_lifetime_applies_to_requests() {
    let t = TestVault::new();
    let dir = t.data_dir();
    let t = {
        let d = t.close();
        let cfg = dir.join("callvault.toml");
        let text = std::fs::read_to_string(&cfg)
            .expect("config")
            .replace("max_assignment_days = 366", "max_assignment_days = 30");
        std::fs::write(&cfg, text).expect("config");
        TestVault {
            vault: callvault_vault::Vault::open(&dir).expect("open"),
            dir: d,
        }
    };
    let op = callvault_vault::vault_operator();
    let cp_a = CareProvider::parse(CP_A).expect("cp");
    t.vault
        .bootstrap_administrators(
            &cp_a,
            [
                &admin("SE2321000016-A001", CP_A),
                &admin("SE2321000016-A002", CP_A),
            ],
            &op,
        )
        .expect("bootstrap");
    // The bootstrap administrators themselves get the configured lifetime.
    let admins = t.vault.policy().expect("policy");
    for a in admins.assignments().all() {
        assert!(a.valid_until - a.valid_from <= time::Duration::days(30));
    }
    let path = t.dir.path().join("a.toml");
    std::fs::write(
        &path,
        file("nurse-a", "SE2321000016-N001", CP_A, UNIT_A, 60),
    )
    .expect("file");
    let err = t.vault.import_assignments(&path, &op).expect_err("60 > 30");
    assert!(err.to_string().contains("at most 30 days"), "{err}");
    std::fs::write(
        &path,
        file("nurse-a", "SE2321000016-N001", CP_A, UNIT_A, 20),
    )
    .expect("file");
    t.vault.import_assignments(&path, &op).expect("20 days");
}
