//! Records management at the vault: legal holds, IVO deletion by crypto-shredding with a
//! verifiable certificate, retention purges, interrupted execution resumed, and restored
//! site copies that still cannot be read.

use callvault_auth::{
    AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Authorized, Policy,
    PrincipalKind, Purpose, Resource,
};
use callvault_types::{CareProvider, HsaId, PatientId, RecordingId};
use callvault_vault::VaultError;
use callvault_vault::records_management::{IvoDecision, Scope, verify_certificate};

use crate::common::*;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

/// Two records managers at care provider A, one at B, valid around the real clock.
pub(crate) fn records_policy() -> Policy {
    let now = time::OffsetDateTime::now_utc();
    let (from, until) = (
        rfc3339(now - time::Duration::days(1)),
        rfc3339(now + time::Duration::days(300)),
    );
    let rm = |id: &str, holder: &str, cp: &str| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: cp,
            care_units: &[],
            purpose: "administration",
            rights: &["manage-records"],
            valid_from: &from,
            valid_until: &until,
        }
        .to_toml()
    };
    let text = rm("rm-1", "SE2321000016-M001", CP_A)
        + &rm("rm-2", "SE2321000016-M002", CP_A)
        + &rm("rm-b", "SE2321000156-M001", CP_B);
    Policy::new(AssignmentSet::parse(&text).expect("assignments"))
}

pub(crate) fn records_manager(policy: &Policy, hsa: &str, cp: &str) -> Authorized {
    let who = AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(hsa).expect("hsa"),
        PrincipalKind::Person,
        [3; 32],
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
    policy
        .decide(&who, &req, time::OffsetDateTime::now_utc())
        .expect("records manager")
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

/// Every occurrence of `needle` in the files under `dir`.
fn occurrences(dir: &std::path::Path, needle: &[u8]) -> usize {
    callvault_testkit::files_under(dir)
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).unwrap_or_default();
            data.windows(needle.len()).filter(|w| *w == needle).count()
        })
        .sum()
}

#[test]
fn ivo_deletion_shreds_and_certifies_and_restored_copies_stay_unreadable() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 6, 12_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let p = records_policy();
    let rm1 = records_manager(&p, "SE2321000016-M001", CP_A);
    let rm2 = records_manager(&p, "SE2321000016-M002", CP_A);
    let rmb = records_manager(&p, "SE2321000156-M001", CP_B);
    // Rows 0, 2, 4 are care provider A's; row 0's patient is the decision's.
    let (target, other) = (id_of(&t, 0), id_of(&t, 2));
    let patient = PatientId::parse_any(&row("x", 0).patient).expect("pnr");
    let before = t
        .vault
        .catalog()
        .recording(&target)
        .expect("q")
        .expect("row");

    let decision = |scope| IvoDecision {
        case_number: "IVO 3.5.1-12345/2026".into(),
        decision_date: time::macros::date!(2026 - 11 - 20),
        scope,
        document: b"%PDF-1.7 beslut: radera inspelningarna".to_vec(),
    };
    // A scope that matches nothing is refused.
    let nobody = PatientId::parse_any(&pnr(999)).expect("pnr");
    let err = t
        .vault
        .register_ivo_decision(
            &rm1,
            &decision(Scope::Patient {
                patient: nobody,
                from: None,
                to: None,
            }),
        )
        .expect_err("no match");
    assert!(err.to_string().contains("matches no recording"), "{err}");
    // Another care provider's recording is not in scope of A's decision.
    let foreign = id_of(&t, 1);
    assert!(
        t.vault
            .register_ivo_decision(&rm1, &decision(Scope::Recordings(vec![foreign])))
            .is_err()
    );
    let order = t
        .vault
        .register_ivo_decision(
            &rm1,
            &decision(Scope::Patient {
                patient,
                from: None,
                to: None,
            }),
        )
        .expect("register");
    assert_eq!(order.recordings, 1);
    // Four eyes: not the registrant; not another care provider's records manager.
    assert!(matches!(
        t.vault.decide_deletion(&rm1, &order.id, true, None),
        Err(VaultError::FourEyes(_))
    ));
    assert!(matches!(
        t.vault.decide_deletion(&rmb, &order.id, true, None),
        Err(VaultError::NoSuchOrder(_))
    ));
    // Not executed before approval.
    assert!(matches!(
        t.vault.execute_deletion(&rm2, &order.id),
        Err(VaultError::Refused(_))
    ));
    t.vault
        .decide_deletion(&rm2, &order.id, true, Some("beslut från IVO"))
        .expect("approve");

    // A legal hold blocks execution until it is released; nothing is destroyed meanwhile.
    let hold = t
        .vault
        .set_legal_hold(
            &rm2,
            &Scope::Recordings(vec![target, other]),
            "Patientklagomål under utredning",
            "Dnr 2026/77",
        )
        .expect("hold");
    assert_eq!(hold.recordings, 2);
    let err = t.vault.execute_deletion(&rm1, &order.id).expect_err("held");
    assert!(err.to_string().contains("under legal hold"), "{err}");
    assert!(t.vault.catalog().recording(&target).expect("q").is_some());
    t.vault
        .release_legal_hold(&rm1, &hold.id, "Utredningen avslutad")
        .expect("release");
    let holds = t.vault.legal_holds(&rm1).expect("holds");
    assert_eq!(holds[0].reason, "Patientklagomål under utredning");
    assert_eq!(
        holds[0].release_reason.as_deref(),
        Some("Utredningen avslutad")
    );

    // A backup of both sites and of the catalog, taken before the deletion.
    let backup = t.dir.path().join("backup");
    std::fs::create_dir_all(&backup).expect("mkdir");
    copy_dir(&t.data_dir().join("sites"), &backup);
    copy_dir(&t.data_dir().join("catalog"), &backup);

    let cert = t.vault.execute_deletion(&rm1, &order.id).expect("execute");
    let json = serde_json::to_string(&cert).expect("json");
    let verified = verify_certificate(t.vault.verifier(), &json).expect("certificate verifies");
    assert_eq!(verified.recordings, vec![target]);
    assert!(
        verified
            .statement
            .contains("reference IVO 3.5.1-12345/2026")
    );
    assert!(verified.statement.contains(&format!("destroyed {target} ")));
    // A tampered certificate does not verify.
    let tampered = json.replace(&target.to_string(), &other.to_string());
    assert!(verify_certificate(t.vault.verifier(), &tampered).is_err());
    // Executing again answers the same (stored) certificate.
    let again = t.vault.execute_deletion(&rm1, &order.id).expect("again");
    assert_eq!(again.statement, cert.statement);

    // The recording is gone from the catalog, a tombstone remains, the other is untouched.
    assert!(t.vault.catalog().recording(&target).expect("q").is_none());
    let tomb = t
        .vault
        .catalog()
        .tombstones(None, Some(&target), false)
        .expect("q");
    assert_eq!(tomb.len(), 1);
    assert!(tomb[0].blobs_deleted);
    assert_eq!(tomb[0].plaintext_sha256, before.rec.plaintext_sha256);
    assert!(t.vault.catalog().recording(&other).expect("q").is_some());

    // Put the backup of the sites back: the blob is there again, but the recording can
    // be neither served nor decrypted — its wrapped data key exists nowhere on disk.
    std::fs::remove_dir_all(t.data_dir().join("sites")).expect("rm");
    copy_dir(&backup.join("sites"), &t.data_dir());
    let key = callvault_vault::blob_key(&target).expect("key");
    assert!(
        t.data_dir()
            .join("sites/a/objects")
            .join(key.as_str())
            .exists()
    );
    assert!(t.vault.recording_resource(&target).expect("q").is_none());
    assert_eq!(
        occurrences(&t.data_dir().join("catalog"), &before.rec.wrapped_dek),
        0,
        "the wrapped data key survives in the catalog files"
    );
    let (sealed_patient, _) = before.rec.patient.clone().expect("patient");
    assert_eq!(
        occurrences(&t.data_dir().join("catalog"), &sealed_patient),
        0,
        "the sealed patient id survives in the catalog files"
    );
    // The catalog backup still holds the wrapped data key. The destruction reaches it once
    // the care provider's KEK is rotated and the retired version destroyed.
    let old: (Vec<u8>, u32) = rusqlite::Connection::open(backup.join("catalog/catalog.sqlite3"))
        .expect("backup")
        .query_row(
            "SELECT wrapped_dek, kek_version FROM recordings WHERE id = ?1",
            [target.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row in the backup");
    let cp_a = CareProvider::parse(CP_A).expect("cp");
    let unwrap_from_backup = || {
        use callvault_crypto::KeyProvider as _;
        let keys =
            callvault_crypto::KeyFileProvider::open(&t.data_dir().join("keys")).expect("keys");
        keys.unwrap_dek(
            &cp_a,
            &callvault_crypto::WrappedDek {
                kek_version: callvault_crypto::KekVersion(old.1),
                bytes: old.0.clone(),
            },
            &callvault_crypto::WrapBinding {
                recording_id: target,
                dek_id: callvault_crypto::DekId(before.rec.dek_id),
            },
        )
    };
    assert!(
        unwrap_from_backup().is_ok(),
        "before the rotation, the backup is a risk"
    );
    let op = callvault_vault::vault_operator();
    t.vault.rotate_keys(&cp_a, &op, |_, _| {}).expect("rotate");
    assert_eq!(
        t.vault.destroy_retired_keys(&cp_a, &op).expect("destroy"),
        vec![1]
    );
    assert!(
        unwrap_from_backup().is_err(),
        "after it, the backup's wrapped key is useless"
    );

    // Verify names the restored blob as one of a destroyed recording; repair removes it.
    let report = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains(&format!(
                "belongs to recording {target}, destroyed by deletion order {}",
                order.id
            ))),
        "{:?}",
        report.problems
    );
    let n = t
        .vault
        .delete_destroyed_blobs(&callvault_vault::vault_operator())
        .expect("delete");
    assert_eq!(n, 2, "one at each site");
    assert!(
        !t.data_dir()
            .join("sites/a/objects")
            .join(key.as_str())
            .exists()
    );
}

#[test]
fn a_purge_reaches_only_recordings_past_retention_and_never_held_ones() {
    let t = TestVault::new();
    // Calls from 2012: with ten years' retention they are past it; 2026 calls are not.
    let dir = t.archive();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut text = callvault_vault::manifest::FIELDS.join(",");
    text.push('\n');
    for i in 0..4u64 {
        let name = format!("r{i}.wav");
        std::fs::write(dir.join(&name), wav_bytes(8000, i as u8)).expect("wav");
        let year = if i < 3 { 2012 } else { 2026 };
        text.push_str(&format!(
            "{name},old-{i},{CP_A},{UNIT_A},{year}-05-04T10:00:00Z,{},,\n",
            pnr(i)
        ));
    }
    std::fs::write(dir.join("m.csv"), text).expect("manifest");
    let s = t
        .vault
        .import_manifest(
            &dir.join("m.csv"),
            &callvault_vault::vault_operator(),
            |_, _, _| {},
        )
        .expect("import");
    assert_eq!(s.imported, 4);
    let p = records_policy();
    let rm1 = records_manager(&p, "SE2321000016-M001", CP_A);
    let rm2 = records_manager(&p, "SE2321000016-M002", CP_A);
    let id = |i: u64| {
        t.vault
            .catalog()
            .recording_by_call(
                &CareProvider::parse(CP_A).expect("cp"),
                &callvault_types::CallId::parse(&format!("old-{i}")).expect("call"),
            )
            .expect("q")
            .expect("row")
            .rec
            .id
    };
    let ids: Vec<RecordingId> = (0..4).map(id).collect();
    let id = |i: u64| ids[i as usize];
    let report = t.vault.retention_report(&rm1, 10).expect("report");
    assert_eq!(report.past_retention, 3);
    // One old call is held: the purge leaves it.
    t.vault
        .set_legal_hold(&rm1, &Scope::Recordings(vec![id(0)]), "Tvist", "T 123-26")
        .expect("hold");
    let purge = t
        .vault
        .register_retention_purge(&rm1, "Gallring 2026")
        .expect("purge");
    assert_eq!(purge.recordings, 2);
    t.vault
        .decide_deletion(&rm2, &purge.id, true, None)
        .expect("approve");
    let cert = t.vault.execute_deletion(&rm2, &purge.id).expect("execute");
    assert_eq!(cert.proofs.len(), 2);
    assert!(t.vault.catalog().recording(&id(0)).expect("q").is_some());
    assert!(t.vault.catalog().recording(&id(1)).expect("q").is_none());
    assert!(t.vault.catalog().recording(&id(3)).expect("q").is_some());
    let report = t.vault.retention_report(&rm1, 10).expect("report");
    assert_eq!((report.past_retention, report.held), (1, 1));

    // The schema itself refuses to delete a recording within retention, or a held one,
    // even written behind the vault's back.
    let db = t.data_dir().join("catalog/catalog.sqlite3");
    let raw = callvault_catalog::raw_connection(&db).expect("raw");
    let delete = |rid: RecordingId| {
        raw.execute("DELETE FROM recordings WHERE id = ?1", [rid.to_string()])
            .expect_err("refused")
            .to_string()
    };
    let err = delete(id(3));
    assert!(
        err.contains("deleted only by an executed deletion order"),
        "{err}"
    );
    // Even with a forged tombstone under the purge order: not within retention, not held.
    for rid in [id(3), id(0)] {
        raw.execute(
            "INSERT INTO tombstones (recording_id, care_provider, plaintext_sha256, ciphertext_sha256,
               ciphertext_size, dek_id, order_id, deleted_at_us)
             SELECT id, care_provider, plaintext_sha256, ciphertext_sha256, ciphertext_size, dek_id, ?2,
               CAST(strftime('%s','now') AS INTEGER) * 1000000 FROM recordings WHERE id = ?1",
            [rid.to_string(), purge.id.clone()],
        )
        .expect("forged tombstone");
    }
    let err = delete(id(3));
    assert!(err.contains("within its retention period"), "{err}");
    let err = delete(id(0));
    assert!(err.contains("under legal hold"), "{err}");
}

#[test]
fn an_interrupted_execution_is_finished_on_resume() {
    let t = TestVault::new();
    let m = archive(&t.archive(), 4, 8_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let p = records_policy();
    let rm1 = records_manager(&p, "SE2321000016-M001", CP_A);
    let rm2 = records_manager(&p, "SE2321000016-M002", CP_A);
    let (a, b) = (id_of(&t, 0), id_of(&t, 2));
    let order = t
        .vault
        .register_ivo_decision(
            &rm1,
            &IvoDecision {
                case_number: "IVO 8.1-99/2026".into(),
                decision_date: time::macros::date!(2026 - 10 - 01),
                scope: Scope::Recordings(vec![a, b]),
                document: b"beslut".to_vec(),
            },
        )
        .expect("register");
    t.vault
        .decide_deletion(&rm2, &order.id, true, None)
        .expect("approve");
    // Site b cannot delete one recording's blob: the keys are destroyed, the order stays
    // executing, and nothing claims completion.
    let key = callvault_vault::blob_key(&a).expect("key");
    let obj = t.data_dir().join("sites/b/objects").join(key.as_str());
    let guard = Unwritable::new(obj.parent().expect("dir"));
    let err = t
        .vault
        .execute_deletion(&rm1, &order.id)
        .expect_err("site b");
    assert!(err.to_string().contains("execute the order again"), "{err}");
    assert!(t.vault.catalog().recording(&a).expect("q").is_none());
    let o = &t
        .vault
        .catalog()
        .deletion_orders(None, Some(&order.id), None)
        .expect("q")[0];
    assert_eq!(o.state.as_str(), "executing");
    assert!(
        t.vault
            .deletion_certificate(&o.order.care_provider, &order.id)
            .is_err()
    );
    drop(guard);
    // After a restart the vault finishes it by itself.
    let t = t.reopen();
    let done = t
        .vault
        .resume_deletions(&callvault_vault::vault_operator())
        .expect("resume");
    assert_eq!(done, vec![order.id.clone()]);
    assert!(!obj.exists());
    let cert = t
        .vault
        .deletion_certificate(&CareProvider::parse(CP_A).expect("cp"), &order.id)
        .expect("certificate");
    let json = serde_json::to_string(&cert).expect("json");
    let v = verify_certificate(t.vault.verifier(), &json).expect("verifies");
    assert_eq!(v.recordings.len(), 2);
}
