//! A recording ingested without a patient, found by its unit and call id, linked to its
//! patient by the nurse who took the call (or under the right `link-patient`), corrected by
//! a new link that keeps the old one — and search, the log extract, follow-up, retention
//! and deletion treating linked and unlinked recordings as what they are.

use callvault_audit::event::{Action as EventAction, AuditEvent, Outcome};
use callvault_auth::{Action, AssignmentSet, Authorized, Denial, Policy, Purpose, Resource};
use callvault_reporting::followup::FollowUpSettings;
use callvault_types::{CallId, CareProvider, CareUnit, HsaId, PatientId, RecordingId};
use callvault_vault::access::SearchFilter;
use callvault_vault::access::target::*;
use callvault_vault::followup::FollowUpRequest;
use callvault_vault::records_management::{IvoDecision, Scope};
use callvault_vault::{IngestEnd, IngestGrant, IngestStart, VaultError};

use crate::access::{now, nurse, request};
use crate::common::*;

/// The nurse who takes the calls.
const TOOK: &str = "SE2321000016-N001";
/// A colleague at the same unit.
const COLLEAGUE: &str = "SE2321000016-N002";
/// A coordinator with the documented right to link.
const COORDINATOR: &str = "SE2321000016-N003";
/// A log reviewer.
const REVIEWER: &str = "SE2321000016-L001";

fn policy() -> Policy {
    let spec = |id, holder, units: &'static [&'static str], purpose, rights| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: CP_A,
            care_units: units,
            purpose,
            rights,
            valid_from: "2026-01-01T00:00:00Z",
            valid_until: "2026-12-31T00:00:00Z",
        }
        .to_toml()
    };
    let text = care_assignment("took", TOOK, CP_A, UNIT_A)
        + &care_assignment("colleague", COLLEAGUE, CP_A, UNIT_A)
        + &spec(
            "coordinator",
            COORDINATOR,
            &[UNIT_A],
            "vård och behandling",
            &["search", "view-metadata", "link-patient"][..],
        )
        + &spec(
            "reviewer",
            REVIEWER,
            &[],
            "logguppföljning",
            &["read-access-log", "read-audit"][..],
        );
    Policy::new(AssignmentSet::parse(&text).expect("assignments"))
}

fn patient(i: u64) -> PatientId {
    PatientId::parse_any(&pnr(i)).expect("pnr")
}

fn unit_a() -> Resource {
    Resource {
        care_provider: CareProvider::parse(CP_A).expect("cp"),
        care_unit: Some(CareUnit::parse(UNIT_A).expect("unit")),
    }
}

/// Care provider A as a whole (a search, the log).
fn care_provider_a() -> Resource {
    Resource {
        care_unit: None,
        ..unit_a()
    }
}

/// The log reviewer's decision for `action` at care provider A.
fn reviewer(p: &Policy, action: Action) -> Authorized {
    let mut req = request(action, care_provider_a());
    req.purpose = Purpose::LogReview;
    p.decide(&nurse(REVIEWER), &req, now()).expect("reviewer")
}

fn decide(p: &Policy, who: &str, action: Action, resource: Resource) -> Authorized {
    p.decide(&nurse(who), &request(action, resource), now())
        .expect("allowed")
}

/// A live call at unit A taken by [`TOOK`], ingested without a patient.
fn live_call(t: &TestVault, call: &str, started: time::OffsetDateTime) -> RecordingId {
    let start = IngestStart {
        care_provider: CareProvider::parse(CP_A).expect("cp"),
        care_unit: CareUnit::parse(UNIT_A).expect("unit"),
        call_id: CallId::parse(call).expect("call"),
        started_at: started,
        patient: None,
        caller: None,
        nurse: Some(HsaId::parse(TOOK).expect("hsa")),
        codec: "pcm_s16le".into(),
        sample_rate: 8000,
        channels: 1,
    };
    let wav = wav_bytes(8000, 3);
    t.vault
        .ingest_from(
            IngestGrant::Operator(&callvault_vault::vault_operator()),
            start,
            IngestEnd {
                duration_ms: 1000,
                min_len: wav.len() as u64,
                incomplete: None,
            },
            &wav[..],
        )
        .expect("ingest")
        .id
}

fn link(
    t: &TestVault,
    p: &Policy,
    who: &str,
    id: &RecordingId,
    to: u64,
    reason: Option<&str>,
) -> Result<callvault_vault::link::PatientLinked, VaultError> {
    let authz = decide(p, who, Action::LinkPatient, unit_a());
    t.vault.link_patient(&authz, id, &patient(to), reason)
}

fn search_patient(t: &TestVault, p: &Policy, who: &str, i: u64) -> Vec<RecordingId> {
    let authz = decide(p, who, Action::Search, care_provider_a());
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            PatientSearch {
                patient: patient(i),
                filter: SearchFilter::default(),
            },
        )
        .expect("audited");
    t.vault
        .search_patient(&receipt)
        .expect("search")
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn view(t: &TestVault, p: &Policy, who: &str, id: &RecordingId) -> Option<PatientId> {
    let authz = decide(p, who, Action::ViewMetadata, unit_a());
    let receipt = t
        .vault
        .record_access(authz, Metadata { id: *id })
        .expect("audited");
    t.vault.read_metadata(&receipt).expect("metadata").patient
}

fn access_log(t: &TestVault, p: &Policy, i: u64) -> Vec<(u64, AuditEvent)> {
    let authz = reviewer(p, Action::ReadAccessLog);
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            PatientAccessLog {
                patient: patient(i),
            },
        )
        .expect("audited");
    t.vault.patient_access_log(&receipt).expect("access log")
}

fn event(t: &TestVault, idx: u64) -> AuditEvent {
    let data = t
        .vault
        .catalog()
        .audit_event(idx)
        .expect("q")
        .expect("event");
    AuditEvent::decode(&data).expect("decode")
}

#[test]
fn an_unlinked_call_is_found_by_its_unit_and_call_id_and_linked_by_the_nurse_who_took_it() {
    let t = TestVault::new();
    let p = policy();
    let id = live_call(&t, "live-1", time::macros::datetime!(2026-11-27 09:00 UTC));
    // Ingested without a patient: the ingest event names none, no patient search finds it.
    let ingest = t
        .vault
        .catalog()
        .recording_events(&id, &[EventAction::Import.code()])
        .expect("events");
    assert!(
        AuditEvent::decode(&ingest[0].1)
            .expect("decode")
            .patient
            .is_none()
    );
    assert!(search_patient(&t, &p, TOOK, 7).is_empty());

    // Found through its unit and call id, under the same policy (and audited).
    let authz = decide(&p, TOOK, Action::Search, care_provider_a());
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            CallSearch {
                care_unit: CareUnit::parse(UNIT_A).expect("unit"),
                call_id: CallId::parse("live-1").expect("call"),
            },
        )
        .expect("audited");
    let hits = t.vault.search_call(&receipt).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, id);
    assert!(!hits[0].linked);
    let e = event(&t, receipt.leaf_index());
    assert_eq!(e.recording.map(|r| r.id), Some(id));
    assert!(
        e.details
            .contains(&("call_id".to_owned(), "live-1".to_owned()))
    );
    // A unit of another care provider finds nothing (no other region's calls).
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            CallSearch {
                care_unit: CareUnit::parse(UNIT_B).expect("unit"),
                call_id: CallId::parse("live-1").expect("call"),
            },
        )
        .expect("audited");
    assert!(t.vault.search_call(&receipt).expect("search").is_empty());

    // A colleague who did not take the call may not link it; the refusal is an event.
    let err = link(&t, &p, COLLEAGUE, &id, 7, None).expect_err("not the call's nurse");
    let VaultError::Denied { denial, leaf_index } = err else {
        panic!("{err}")
    };
    assert_eq!(denial, Denial::NotTheCallsNurse);
    let refused = event(&t, leaf_index);
    assert_eq!(refused.action, EventAction::PatientLink);
    assert!(matches!(refused.outcome, Outcome::Denied(_)));
    assert!(t.vault.catalog().patient_links(&id).expect("q").is_empty());

    // The nurse who took it links it.
    let linked = link(&t, &p, TOOK, &id, 7, None).expect("link");
    assert_eq!((linked.n, linked.corrected), (1, false));
    let e = event(&t, linked.leaf_index);
    assert_eq!(e.action, EventAction::PatientLink);
    assert!(
        e.patient.is_some(),
        "the link event carries the patient, sealed"
    );
    assert_eq!(search_patient(&t, &p, TOOK, 7), vec![id]);
    assert_eq!(view(&t, &p, TOOK, &id), Some(patient(7)));
    // The same link again is refused; so is a correction without a reason.
    let err = link(&t, &p, TOOK, &id, 7, None).expect_err("already");
    assert!(err.to_string().contains("already linked"), "{err}");
    let err = link(&t, &p, TOOK, &id, 8, None).expect_err("no reason");
    assert!(err.to_string().contains("needs a reason"), "{err}");

    // A coordinator with the right corrects it: a new link, the old one kept.
    let fixed = link(
        &t,
        &p,
        COORDINATOR,
        &id,
        8,
        Some("fel patient vald, rättat efter samtal med sjuksköterskan"),
    )
    .expect("correct");
    assert_eq!((fixed.n, fixed.corrected), (2, true));
    assert!(search_patient(&t, &p, TOOK, 7).is_empty());
    assert_eq!(search_patient(&t, &p, TOOK, 8), vec![id]);
    let links = t.vault.catalog().patient_links(&id).expect("q");
    assert_eq!(links.len(), 2);
    assert_ne!(links[0].patient.1, links[1].patient.1);
    assert!(links[0].reason_sealed.is_none() && links[1].reason_sealed.is_some());
    // Both events of the correction are in the log: the new patient's link, the old
    // patient's unlink.
    let unlink = event(&t, fixed.leaf_index + 1);
    assert_eq!(unlink.action, EventAction::PatientUnlink);
    assert_eq!(
        unlink.patient.as_ref().map(|p| p.blind_index),
        Some(links[0].patient.1)
    );
    // What the metadata shows of the history: who and when, not the wrong patient.
    let authz = decide(&p, TOOK, Action::ViewMetadata, unit_a());
    let receipt = t
        .vault
        .record_access(authz, Metadata { id })
        .expect("audited");
    let meta = t.vault.read_metadata(&receipt).expect("meta");
    let history: Vec<(u32, bool)> = meta.links.iter().map(|l| (l.n, l.correction)).collect();
    assert_eq!(history, [(1, false), (2, true)]);
    assert_eq!(meta.links[1].linked_by, format!("person:{COORDINATOR}"));

    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);

    // The history cannot be rewritten behind the vault's back, and a recording's patient
    // set back to the wrong link is an edit that verify names.
    let raw = callvault_catalog::raw_connection(&t.data_dir().join("catalog/catalog.sqlite3"))
        .expect("db");
    let err = raw
        .execute(
            "UPDATE patient_links SET patient_bidx = X'00' WHERE recording_id = ?1",
            [id.to_string()],
        )
        .expect_err("permanent");
    assert!(err.to_string().contains("permanent"), "{err}");
    let err = raw
        .execute(
            "DELETE FROM patient_links WHERE recording_id = ?1",
            [id.to_string()],
        )
        .expect_err("permanent");
    assert!(
        err.to_string().contains("only with their recording"),
        "{err}"
    );
    raw.execute(
        "UPDATE recordings SET patient_sealed = (SELECT patient_sealed FROM patient_links
           WHERE recording_id = ?1 AND n = 1),
         patient_bidx = (SELECT patient_bidx FROM patient_links WHERE recording_id = ?1 AND n = 1)
         WHERE id = ?1",
        [id.to_string()],
    )
    .expect("edit");
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        r.problems.iter().any(|p| p.what.contains("patient")),
        "{:?}",
        r.problems
    );
}

/// The patient's access log holds what was done with their call before it was linked to
/// them, and a correction appears in both patients' logs — each with their own events.
#[test]
fn the_access_log_follows_the_link_and_both_patients_see_a_correction() {
    let t = TestVault::new();
    let p = policy();
    let id = live_call(&t, "live-2", time::macros::datetime!(2026-11-27 09:00 UTC));
    let leaf = || t.vault.catalog().audit_size().expect("size");
    let ingested = leaf() - 1;
    let before_link = leaf();
    assert_eq!(view(&t, &p, TOOK, &id), None);
    let first = link(&t, &p, TOOK, &id, 7, None).expect("link").leaf_index;
    let while_wrong = leaf();
    assert_eq!(view(&t, &p, TOOK, &id), Some(patient(7)));
    let fixed = link(&t, &p, TOOK, &id, 8, Some("fel personnummer angivet"))
        .expect("correct")
        .leaf_index;
    let after = leaf();
    assert_eq!(view(&t, &p, TOOK, &id), Some(patient(8)));

    let of = |i| -> Vec<u64> {
        access_log(&t, &p, i)
            .into_iter()
            .filter(|(_, e)| e.recording.as_ref().is_some_and(|r| r.id == id))
            .map(|(idx, _)| idx)
            .collect()
    };
    // Patient 8's call all along: its recording, the view before any link, the view while
    // it was wrongly linked, the link to them, and the view after — not patient 7's link
    // or unlink.
    assert_eq!(of(8), [ingested, before_link, while_wrong, fixed, after]);
    // Patient 7: their link, the view while linked to them, and the unlink.
    assert_eq!(of(7), [first, while_wrong, fixed + 1]);

    // The patient's own log extract reads the same events (accesses and links only).
    let authz = reviewer(&p, Action::ReadAccessLog);
    let extract = |i| {
        t.vault
            .log_extract(
                &authz,
                &patient(i),
                None,
                None,
                callvault_reporting::extract::ExtractFormat::Json,
            )
            .expect("extract")
            .entries
            .into_iter()
            .filter(|e| e.recording.as_deref() == Some(id.to_string().as_str()))
            .map(|e| (e.leaf_index, e.action_code))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        extract(8),
        [
            (before_link, "recording.view"),
            (while_wrong, "recording.view"),
            (fixed, "patient.link"),
            (after, "recording.view"),
        ]
    );
    assert_eq!(
        extract(7),
        [
            (first, "patient.link"),
            (while_wrong, "recording.view"),
            (fixed + 1, "patient.unlink"),
        ]
    );
}

/// Follow-up: an access made before the link counts for the patient the recording is
/// linked to now (here: a patient with protected identity).
#[test]
fn follow_up_sees_accesses_before_the_link_as_accesses_to_the_linked_patient() {
    let t = TestVault::new();
    let p = policy();
    let id = live_call(&t, "live-3", time::macros::datetime!(2026-11-27 09:00 UTC));
    let before_link = t.vault.catalog().audit_size().expect("size");
    assert_eq!(view(&t, &p, TOOK, &id), None);
    link(&t, &p, TOOK, &id, 7, None).expect("link");
    let rm = crate::records::records_policy();
    let rm1 = crate::records::records_manager(&rm, "SE2321000016-M001", CP_A);
    t.vault
        .mark_protected(&rm1, &patient(7), true, "Skatteverket 2026-12")
        .expect("mark");
    let reviewer = reviewer(&p, Action::ReadAudit);
    let real_now = time::OffsetDateTime::now_utc();
    let report = t
        .vault
        .run_follow_up(
            &reviewer,
            FollowUpRequest {
                from: real_now - time::Duration::days(1),
                to: real_now + time::Duration::minutes(1),
                settings: Some(FollowUpSettings {
                    protected_identity: true,
                    working_hours: String::new(),
                    max_patients_per_hour: 0,
                    denied_burst: 0,
                    spot_checks: 0,
                    ..FollowUpSettings::default()
                }),
                seed: Some([1; 32]),
            },
        )
        .expect("run");
    let protected: Vec<u64> = report
        .findings
        .iter()
        .filter(|f| f.rule == "protected-identity")
        .map(|f| f.leaf_index)
        .collect();
    assert!(
        protected.contains(&before_link),
        "the view before the link is an access to the protected patient: {protected:?}"
    );
}

/// Retention and deletion: an unlinked recording ages like any other; a deletion order for
/// a patient reaches the recordings linked to them now (and not one whose wrong link was
/// corrected away), and destroying a recording removes its links with it.
#[test]
fn deletion_by_patient_follows_the_current_link_and_takes_the_links_with_the_recording() {
    let t = TestVault::new();
    let p = policy();
    let a = live_call(&t, "live-4", time::macros::datetime!(2026-11-27 09:00 UTC));
    let b = live_call(&t, "live-5", time::macros::datetime!(2026-11-27 10:00 UTC));
    let unlinked_old = live_call(&t, "live-6", time::macros::datetime!(2012-05-04 10:00 UTC));
    link(&t, &p, TOOK, &a, 7, None).expect("link");
    link(&t, &p, TOOK, &b, 7, None).expect("link");
    link(&t, &p, TOOK, &b, 8, Some("fel patient vald i listan")).expect("correct");

    let rm = crate::records::records_policy();
    let rm1 = crate::records::records_manager(&rm, "SE2321000016-M001", CP_A);
    let rm2 = crate::records::records_manager(&rm, "SE2321000016-M002", CP_A);
    // The unlinked call from 2012 is past its retention like any other.
    let report = t.vault.retention_report(&rm1, 10).expect("report");
    assert_eq!(report.past_retention, 1);
    let _ = unlinked_old;

    let order = t
        .vault
        .register_ivo_decision(
            &rm1,
            &IvoDecision {
                case_number: "IVO 3.5.1-777/2026".into(),
                decision_date: time::macros::date!(2026 - 12 - 01),
                scope: Scope::Patient {
                    patient: patient(7),
                    from: None,
                    to: None,
                },
                document: b"%PDF-1.7 beslut".to_vec(),
            },
        )
        .expect("register");
    // Only `a`: `b` was corrected away from patient 7.
    assert_eq!(order.recordings, 1);
    t.vault
        .decide_deletion(&rm2, &order.id, true, None)
        .expect("approve");
    t.vault.execute_deletion(&rm1, &order.id).expect("execute");
    assert!(t.vault.catalog().recording(&a).expect("q").is_none());
    assert!(t.vault.catalog().patient_links(&a).expect("q").is_empty());
    assert_eq!(t.vault.catalog().patient_links(&b).expect("q").len(), 2);
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}
