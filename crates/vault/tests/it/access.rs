//! The only path to plaintext: policy decision → durable audit event → data.

use callvault_audit::event::{Action as EventAction, AuditEvent, Outcome};
use callvault_auth::{
    AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Denial, Policy, PrincipalKind,
    Purpose, Resource,
};
use callvault_types::{HsaId, PatientId, RecordingId};
use callvault_vault::VaultError;
use callvault_vault::access::SearchFilter;
use callvault_vault::access::target::*;

use crate::common::*;

pub(crate) fn assignments() -> AssignmentSet {
    let text = care_assignment("nurse-a", "SE2321000016-N001", CP_A, UNIT_A)
        + &care_assignment("nurse-b", "SE2321000156-N001", CP_B, UNIT_B);
    AssignmentSet::parse(&text).expect("assignments")
}

pub(crate) fn nurse(h: &str) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(h).expect("hsa"),
        PrincipalKind::Person,
        [7; 32],
    )
}

pub(crate) fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-27 12:00 UTC)
}

struct Setup {
    t: TestVault,
    policy: Policy,
    /// Recording ids by manifest index (even: region A, odd: region B).
    ids: Vec<RecordingId>,
}

fn setup() -> Setup {
    let t = TestVault::new();
    let m = archive(&t.archive(), 4, 20_000);
    t.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let ids = (0..4)
        .map(|i| {
            let r = row("x", i);
            let cp = callvault_types::CareProvider::parse(r.cp).expect("cp");
            let call = callvault_types::CallId::parse(&r.call_id).expect("call");
            t.vault
                .catalog()
                .recording_by_call(&cp, &call)
                .expect("q")
                .expect("row")
                .rec
                .id
        })
        .collect();
    Setup {
        t,
        policy: Policy::new(assignments()),
        ids,
    }
}

pub(crate) fn request(action: Action, resource: Resource) -> AccessRequest {
    AccessRequest {
        action,
        resource,
        purpose: Purpose::CareAndTreatment,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    }
}

fn event_at(s: &Setup, idx: u64) -> AuditEvent {
    let mut found = None;
    s.t.vault
        .catalog()
        .for_each_audit_leaf(idx, idx + 1, &mut |_, e, _| {
            found = Some(AuditEvent::decode(e).expect("decode"));
            Ok(())
        })
        .expect("leaf");
    found.expect("event")
}

#[test]
fn a_nurse_plays_a_range_of_her_own_units_recording_after_the_audit_event() {
    let s = setup();
    let id = s.ids[0];
    let who = nurse("SE2321000016-N001");
    let resource =
        s.t.vault
            .recording_resource(&id)
            .expect("q")
            .expect("exists");
    let authz = s
        .policy
        .decide(&who, &request(Action::Play, resource), now())
        .expect("allowed");
    let before = s.t.vault.catalog().audit_size().expect("size");
    let receipt =
        s.t.vault
            .record_access(
                authz.clone(),
                Audio {
                    id,
                    range: 100..5_000,
                    asked: None,
                },
            )
            .expect("audited");
    assert_eq!(receipt.leaf_index(), before, "the event is the next leaf");
    let mut got = Vec::new();
    s.t.vault
        .play(&receipt, |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .expect("play");
    let wav = std::fs::read(s.t.archive().join("r0.wav")).expect("wav");
    assert_eq!(got, wav[100..5_000]);

    // The event: who, what, which bytes, why, and the patient (sealed, indexed).
    let e = event_at(&s, receipt.leaf_index());
    assert_eq!(e.action, EventAction::Play);
    assert_eq!(e.outcome, Outcome::Granted);
    assert_eq!(e.purpose.as_deref(), Some("vård och behandling"));
    assert_eq!(e.assignment.as_deref(), Some("nurse-a"));
    // What is sent, in Content-Range notation (first and last byte, inclusive).
    assert!(e.details.contains(&("sent".into(), "100-4999".into())));
    assert!(e.source.starts_with("tls:sha256:0707"));
    assert_eq!(e.recording.expect("rec").id, id);
    let patient = e.patient.expect("patient");
    let ingest =
        s.t.vault
            .catalog()
            .recording(&id)
            .expect("q")
            .expect("row")
            .rec
            .patient
            .expect("sealed");
    assert_eq!(
        patient.blind_index, ingest.1,
        "the same blind index finds the patient's accesses"
    );

    // Metadata is decrypted for an audited viewer.
    let authz = s
        .policy
        .decide(
            &who,
            &request(
                Action::ViewMetadata,
                s.t.vault.recording_resource(&id).expect("q").expect("r"),
            ),
            now(),
        )
        .expect("allowed");
    let receipt =
        s.t.vault
            .record_access(authz, Metadata { id })
            .expect("audited");
    let meta = s.t.vault.read_metadata(&receipt).expect("metadata");
    assert_eq!(meta.patient, Some(PatientId::parse(&pnr(0)).expect("pnr")));
    assert_eq!(meta.caller.expect("caller").expose_value(), "+46705550000");
    assert_eq!(meta.size, wav.len() as u64);
}

#[test]
fn the_nurse_of_another_region_is_refused_and_the_refusal_is_audited() {
    let s = setup();
    let id = s.ids[0]; // region A
    let who = nurse("SE2321000156-N001"); // region B
    let req = request(
        Action::Play,
        s.t.vault.recording_resource(&id).expect("q").expect("r"),
    );
    let denial = s.policy.decide(&who, &req, now()).expect_err("denied");
    assert_eq!(denial, Denial::OtherCareProvider);
    let idx =
        s.t.vault
            .record_denial(&who, &req, &denial, Some(&id))
            .expect("audited");
    let e = event_at(&s, idx);
    assert_eq!(e.action, EventAction::Play);
    assert!(
        matches!(&e.outcome, Outcome::Denied(r) if r.contains("nobody crosses care providers"))
    );
    assert_eq!(e.actor.to_string(), "person:SE2321000156-N001");
    assert!(
        e.patient.is_some(),
        "attempts show in the patient's log extract"
    );
}

/// The receipt owns its decision and its target: the data functions take nothing else, so a
/// receipt cannot be paired with another decision or pointed at another recording (there is
/// no argument to do it with), nor handed to another data function (its type differs: the
/// `compile_fail` example on `Audited`); and a decision for one action gets no receipt for
/// another action's target — refused before any event is written.
#[test]
fn a_receipt_reads_only_its_own_recording_under_its_own_decision() {
    let s = setup();
    let who = nurse("SE2321000016-N001");
    let a = s.ids[0];
    let authz = s
        .policy
        .decide(
            &who,
            &request(
                Action::Play,
                s.t.vault.recording_resource(&a).expect("q").expect("r"),
            ),
            now(),
        )
        .expect("allowed");
    let receipt =
        s.t.vault
            .record_access(
                authz.clone(),
                Audio {
                    id: a,
                    range: 0..10,
                    asked: None,
                },
            )
            .expect("audited");
    assert_eq!(receipt.recording(), &a);
    assert_eq!(receipt.decision().action(), Action::Play);
    let mut got = Vec::new();
    s.t.vault
        .play(&receipt, |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .expect("the audited range");
    assert!(got.starts_with(b"RIFF"), "the WAV file's first bytes");
    assert_eq!(got.len(), 10);
    // A play decision is not a metadata decision, nor a search's: no event, no receipt.
    let before = s.t.vault.catalog().audit_size().expect("size");
    let err =
        s.t.vault
            .record_access(authz.clone(), Metadata { id: a })
            .expect_err("refused");
    assert!(matches!(err, VaultError::CapabilityMismatch(_)), "{err}");
    let err =
        s.t.vault
            .record_access(
                authz,
                PatientSearch {
                    patient: PatientId::parse(&pnr(0)).expect("pnr"),
                    filter: SearchFilter::default(),
                },
            )
            .expect_err("refused");
    assert!(matches!(err, VaultError::CapabilityMismatch(_)), "{err}");
    assert_eq!(s.t.vault.catalog().audit_size().expect("size"), before);
}

#[test]
fn a_search_finds_the_patients_recordings_in_scope_only() {
    let s = setup();
    let who = nurse("SE2321000016-N001");
    let resource = Resource {
        care_provider: callvault_types::CareProvider::parse(CP_A).expect("cp"),
        care_unit: None,
    };
    let authz = s
        .policy
        .decide(&who, &request(Action::Search, resource), now())
        .expect("allowed");
    for (i, want) in [(0usize, vec![s.ids[0]]), (2, vec![s.ids[2]]), (1, vec![])] {
        let receipt =
            s.t.vault
                .record_access(
                    authz.clone(),
                    PatientSearch {
                        patient: PatientId::parse(&pnr(i as u64)).expect("pnr"),
                        filter: SearchFilter::default(),
                    },
                )
                .expect("audited");
        let hits: Vec<RecordingId> =
            s.t.vault
                .search_patient(&receipt)
                .expect("search")
                .into_iter()
                .map(|h| h.id)
                .collect();
        assert_eq!(hits, want, "patient {i}");
        let e = event_at(&s, receipt.leaf_index());
        assert_eq!(e.action, EventAction::Search);
        assert!(e.patient.is_some(), "the search names its patient, sealed");
    }
}

#[test]
fn if_the_audit_event_cannot_be_written_there_is_no_receipt_and_no_data() {
    let s = setup();
    let id = s.ids[0];
    let who = nurse("SE2321000016-N001");
    let authz = s
        .policy
        .decide(
            &who,
            &request(
                Action::Play,
                s.t.vault.recording_resource(&id).expect("q").expect("r"),
            ),
            now(),
        )
        .expect("allowed");
    // The audit store refuses every write (as a full or failing disk would): through the
    // real SQLite file, a trigger aborts inserts into the audit log.
    let conn = callvault_catalog::raw_connection(&s.t.data_dir().join("catalog/catalog.sqlite3"))
        .expect("db");
    conn.execute_batch(
        "CREATE TRIGGER audit_store_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;",
    )
    .expect("trigger");
    let size = s.t.vault.catalog().audit_size().expect("size");
    let target = || Audio {
        id,
        range: 0..100,
        asked: None,
    };
    let err =
        s.t.vault
            .record_access(authz.clone(), target())
            .expect_err("no receipt when the audit log cannot be written");
    assert!(err.to_string().contains("audit store unavailable"), "{err}");
    assert_eq!(s.t.vault.catalog().audit_size().expect("size"), size);
    // Without a receipt `play` cannot even be called (it takes `&Audited`); once the store
    // works again, access resumes.
    conn.execute_batch("DROP TRIGGER audit_store_fails;")
        .expect("drop");
    assert!(s.t.vault.record_access(authz, target()).is_ok());
}

/// An investigator's case number is sealed in the access event (a Lex Maria case can point
/// at a patient), and the log reviewer who reads the log sees it in clear.
#[test]
fn an_investigators_case_number_is_sealed_in_the_log_and_shown_to_the_log_reviewer() {
    let s = setup();
    let spec = |id, holder, purpose, rights| wide_assignment(id, holder, CP_A, purpose, rights);
    let policy = Policy::new(
        AssignmentSet::parse(
            &(spec(
                "investigator",
                "SE2321000016-Q001",
                "kvalitetssäkring",
                &["view-metadata"][..],
            ) + &spec(
                "reviewer",
                "SE2321000016-L001",
                "logguppföljning",
                &["read-audit"][..],
            )),
        )
        .expect("assignments"),
    );
    let id = s.ids[0];
    let case = "Lex Maria 2026/14";
    let resource =
        s.t.vault
            .recording_resource(&id)
            .expect("q")
            .expect("exists");
    let mut req = request(Action::ViewMetadata, resource);
    req.purpose = Purpose::QualityAssurance;
    req.case_number = Some(case.into());
    let authz = policy
        .decide(&nurse("SE2321000016-Q001"), &req, now())
        .expect("allowed");
    let receipt =
        s.t.vault
            .record_access(authz, Metadata { id })
            .expect("audited");
    let e = event_at(&s, receipt.leaf_index());
    let detail = |k: &str| {
        e.details
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(detail("investigation").as_deref(), Some("true"));
    assert_eq!(detail("case_number"), None, "{e:?}");
    let sealed = detail(callvault_vault::access::CASE_NUMBER_SEALED).expect("sealed");
    assert!(!sealed.contains(&hex::encode(case)));
    // No trace in the leaf's bytes either.
    let mut raw = Vec::new();
    s.t.vault
        .catalog()
        .for_each_audit_leaf(
            receipt.leaf_index(),
            receipt.leaf_index() + 1,
            &mut |_, d, _| {
                raw = d.to_vec();
                Ok(())
            },
        )
        .expect("leaf");
    assert!(!raw.windows(case.len()).any(|w| w == case.as_bytes()));
    // The log reviewer reads it.
    let review = AccessRequest {
        action: Action::ReadAudit,
        resource: Resource {
            care_provider: callvault_types::CareProvider::parse(CP_A).expect("cp"),
            care_unit: None,
        },
        purpose: Purpose::LogReview,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    };
    let authz = policy
        .decide(&nurse("SE2321000016-L001"), &review, now())
        .expect("reviewer");
    let receipt =
        s.t.vault
            .record_access(authz, AuditLog { limit: 10 })
            .expect("audited");
    let events = s.t.vault.read_audit_events(&receipt).expect("read");
    assert!(
        events.iter().any(|(_, e)| e
            .details
            .iter()
            .any(|(k, v)| k == "case_number" && v == case)),
        "{events:?}"
    );
}

/// Another care provider's reviewer, exporting their log with clear identifiers, sees their
/// own person's refused attempt on this care provider's recording — but never this care
/// provider's patient: a patient is opened only under the opening's own care provider.
#[test]
fn an_export_never_opens_another_care_providers_patient() {
    use callvault_reporting::fhir::PatientIdentifiers;
    let s = setup();
    let a = s.ids[0];
    let nurse_b = nurse("SE2321000156-N001");
    let idx = s
        .t
        .vault
        .record_refusal(
            &nurse_b,
            &callvault_vault::access::Refusal {
                action: Action::ViewMetadata,
                recording: Some(a),
                actor_care_provider: Some(callvault_types::CareProvider::parse(CP_B).expect("cp")),
                purpose: Some("vård och behandling".into()),
                reason: "no recording is available to you".into(),
                details: vec![],
            },
        )
        .expect("recorded");
    let e = event_at(&s, idx);
    assert!(e.patient.is_some(), "the attempt is in A's patient's log");
    let reviewer = |holder: &str, cp: &str| {
        let policy = Policy::new(
            AssignmentSet::parse(&wide_assignment(
                "rev",
                holder,
                cp,
                "logguppföljning",
                &["read-audit"],
            ))
            .expect("assignment"),
        );
        let mut req = request(
            Action::ReadAudit,
            Resource {
                care_provider: callvault_types::CareProvider::parse(cp).expect("cp"),
                care_unit: None,
            },
        );
        req.purpose = Purpose::LogReview;
        policy
            .decide(&nurse(holder), &req, now())
            .expect("reviewer")
    };
    let patient = row("x", 0).patient;
    let digits: String = patient.chars().filter(char::is_ascii_digit).collect();
    // B's reviewer: the event is B's person's; A's patient is not in it.
    let b = reviewer("SE2321000156-L001", CP_B);
    let json =
        s.t.vault
            .fhir_event(&b, idx, PatientIdentifiers::Clear)
            .expect("exported")
            .to_string();
    assert!(!json.contains(&digits[2..]), "{json}");
    // A's reviewer, asking for clear identifiers, gets A's patient.
    let a_rev = reviewer("SE2321000016-L001", CP_A);
    let json =
        s.t.vault
            .fhir_event(&a_rev, idx, PatientIdentifiers::Clear)
            .expect("exported")
            .to_string();
    assert!(json.contains(&digits[2..]), "{json}");
}
