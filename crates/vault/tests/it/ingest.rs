//! The streaming ingest session: begin → append… → finish | abort. What a session that is
//! never finished leaves (nothing acknowledged, nothing at the sites), and that streaming in
//! pieces of any size stores exactly the bytes sent.

use callvault_types::{CallId, CareProvider, CareUnit, PatientId};
use callvault_vault::{IngestEnd, IngestGrant, IngestStart, VaultError};

use crate::common::*;

fn start(call: &str) -> IngestStart {
    IngestStart {
        care_provider: CareProvider::parse(CP_A).expect("cp"),
        care_unit: CareUnit::parse(UNIT_A).expect("unit"),
        call_id: CallId::parse(call).expect("call"),
        started_at: time::macros::datetime!(2026-12-01 10:00 UTC),
        patient: Some(PatientId::parse_any(&pnr(7)).expect("pnr")),
        caller: None,
        nurse: None,
        codec: "pcm_s16le".into(),
        sample_rate: 8000,
        channels: 1,
    }
}

/// The local operator (an import's grant).
fn operator() -> callvault_vault::Operator {
    callvault_vault::vault_operator()
}

/// Objects committed at the sites, and temporaries left in their `tmp/`.
fn site_files(t: &TestVault) -> (usize, usize) {
    let sites = t.data_dir().join("sites");
    let all: Vec<_> = callvault_testkit::files_under(&sites)
        .into_iter()
        .filter_map(|p| p.strip_prefix(&sites).ok().map(std::path::Path::to_owned))
        .collect();
    let under = |dir: &str| {
        all.iter()
            .filter(|p| p.components().nth(1).is_some_and(|c| c.as_os_str() == dir))
            .count()
    };
    (under("objects"), under("tmp"))
}

#[test]
fn pieces_of_any_size_store_exactly_the_bytes_sent() {
    let t = TestVault::new();
    let wav = wav_bytes(300_000, 3); // 600 KB: several 64 KiB segments
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("s-1"))
        .expect("begin");
    let mut rest = &wav[..];
    let mut size = 1;
    while !rest.is_empty() {
        let n = size.min(rest.len());
        s.append(&rest[..n]).expect("append");
        rest = &rest[n..];
        size = size * 3 + 7; // 1, 10, 37, … bytes: never aligned to a segment
    }
    let o = t
        .vault
        .finish_ingest(
            s,
            IngestEnd {
                duration_ms: 37_500,
                min_len: wav.len() as u64,
                incomplete: None,
            },
        )
        .expect("finish");
    assert_eq!(o.plaintext_size, wav.len() as u64);
    assert_eq!(o.plaintext_sha256, callvault_crypto::sha256(&wav));
    assert_eq!(o.sites_ok.len(), 2);
    let row = t.vault.catalog().recording(&o.id).expect("q").expect("row");
    assert_eq!(row.rec.duration_ms, 37_500, "known only at finish");
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn a_session_never_finished_leaves_nothing_acknowledged_and_nothing_at_the_sites() {
    let t = TestVault::new();
    let before = t.vault.catalog().audit_size().expect("size");
    let objects_before = site_files(&t).0;
    let wav = wav_bytes(200_000, 4);

    // Dropped mid-stream (a producer that went away).
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("gone"))
        .expect("begin");
    s.append(&wav[..150_000]).expect("append");
    drop(s);
    // Aborted on purpose.
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("aborted"))
        .expect("begin");
    s.append(&wav[..150_000]).expect("append");
    t.vault
        .abort_ingest(s, "the caller hung up before the recorder was ready");
    // Finished short of what the header promised: refused, nothing kept.
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("short"))
        .expect("begin");
    s.append(&wav[..150_000]).expect("append");
    let e = t
        .vault
        .finish_ingest(
            s,
            IngestEnd {
                duration_ms: 25_000,
                min_len: wav.len() as u64,
                incomplete: None,
            },
        )
        .expect_err("truncated");
    assert!(matches!(e, VaultError::Truncated { .. }), "{e}");

    // The dropped session's thread ends on its own: wait for its temporaries to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while site_files(&t) != (objects_before, 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        site_files(&t),
        (objects_before, 0),
        "nothing at the sites: {:?}",
        callvault_testkit::files_under(&t.data_dir().join("sites"))
    );
    assert_eq!(
        t.vault.catalog().audit_size().expect("size"),
        before,
        "nothing acknowledged, nothing recorded"
    );
    let cp = CareProvider::parse(CP_A).expect("cp");
    for call in ["gone", "aborted", "short"] {
        assert!(
            t.vault
                .catalog()
                .recording_by_call(&cp, &CallId::parse(call).expect("call"))
                .expect("q")
                .is_none()
        );
    }
}

#[test]
fn an_unregistered_care_provider_is_refused_before_any_byte() {
    let t = TestVault::new();
    let mut s = start("x");
    s.care_provider = CareProvider::parse("SE2321000289-0001").expect("cp");
    s.care_unit = CareUnit::parse("SE2321000289-1177").expect("unit");
    let e = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), s)
        .expect_err("unregistered");
    assert!(matches!(e, VaultError::UnknownCareProvider(_)), "{e}");
}

/// A call cut off (by a crash, a dropped stream) must not simply vanish: stored short,
/// flagged with its reason in the row and the ingest event, and `verify` holds the row to the
/// event (clearing the flag behind the vault's back is found).
#[test]
fn a_truncated_recording_is_stored_flagged_with_its_reason() {
    let t = TestVault::new();
    let wav = wav_bytes(200_000, 5);
    let why = "cut off by a crash of the recorder";
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("cut"))
        .expect("begin");
    s.append(&wav[..150_000]).expect("append");
    let o = t
        .vault
        .finish_ingest(
            s,
            IngestEnd {
                duration_ms: 18_750,
                min_len: wav.len() as u64,
                incomplete: Some(why.into()),
            },
        )
        .expect("stored although short");
    assert_eq!(o.plaintext_size, 150_000);
    let row = t.vault.catalog().recording(&o.id).expect("q").expect("row");
    assert_eq!(row.rec.incomplete.as_deref(), Some(why));
    // The operator's grant makes it an import.
    let events = t
        .vault
        .catalog()
        .recording_events(&o.id, &["recording.import"])
        .expect("events");
    let e = callvault_audit::event::AuditEvent::decode(&events[0].1).expect("event");
    assert!(
        e.details.contains(&("incomplete".into(), why.into())),
        "{e:?}"
    );
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);

    // A reason that is not one line is refused, and nothing is kept.
    let mut s = t
        .vault
        .begin_ingest(IngestGrant::Operator(&operator()), start("bad-reason"))
        .expect("begin");
    s.append(&wav[..1000]).expect("append");
    let e = t
        .vault
        .finish_ingest(
            s,
            IngestEnd {
                duration_ms: 0,
                min_len: wav.len() as u64,
                incomplete: Some("two\nlines".into()),
            },
        )
        .expect_err("refused");
    assert!(matches!(e, VaultError::InvalidRequest(_)), "{e}");

    // Clearing the flag in the catalog is an edit that verify names.
    let conn = callvault_catalog::raw_connection(&t.data_dir().join("catalog/catalog.sqlite3"))
        .expect("db");
    conn.execute(
        "UPDATE recordings SET incomplete = NULL WHERE id = ?1",
        [o.id.to_string()],
    )
    .expect("edit");
    let r = t.vault.verify(false, |_| {}).expect("verify");
    assert!(
        r.problems.iter().any(|p| p.what.contains("incomplete")),
        "{:?}",
        r.problems
    );
}

/// Ingest takes a capability: a recorder's decision covers its care provider (and unit) and
/// the ingest action only, and the event's actor is the decision's principal — never one the
/// caller names.
#[test]
fn an_ingest_needs_a_decision_for_exactly_this_care_provider_and_action() {
    use callvault_auth::{
        AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Policy, PrincipalKind,
        Purpose, Resource,
    };
    let t = TestVault::new();
    let spec =
        |id, holder, cp, rights| wide_assignment(id, holder, cp, "vård och behandling", rights);
    let policy = Policy::new(
        AssignmentSet::parse(
            &(spec("rec-a", "SE2321000016-R001", CP_A, &["ingest"][..])
                + &spec("rec-b", "SE2321000156-R001", CP_B, &["ingest"][..])),
        )
        .expect("assignments"),
    );
    let system = |h: &str| {
        AuthenticatedPrincipal::assert_verified_certificate(
            callvault_types::HsaId::parse(h).expect("hsa"),
            PrincipalKind::System,
            [9; 32],
        )
    };
    let decide = |who: &AuthenticatedPrincipal, cp: &str| {
        policy
            .decide(
                who,
                &AccessRequest {
                    action: Action::Ingest,
                    resource: Resource {
                        care_provider: CareProvider::parse(cp).expect("cp"),
                        care_unit: None,
                    },
                    purpose: Purpose::CareAndTreatment,
                    assignment: None,
                    emergency_reason: None,
                    case_number: None,
                },
                time::macros::datetime!(2026-06-01 12:00 UTC),
            )
            .expect("allowed")
    };
    // Region B's recorder, deciding for region B, cannot start an ingest for region A.
    let b = decide(&system("SE2321000156-R001"), CP_B);
    let e = t
        .vault
        .begin_ingest(IngestGrant::Recorder(&b), start("foreign"))
        .expect_err("another care provider");
    assert!(matches!(e, VaultError::CapabilityMismatch(_)), "{e}");
    // Region A's recorder can, and the event names it.
    let a = decide(&system("SE2321000016-R001"), CP_A);
    let wav = wav_bytes(8_000, 6);
    let o = t
        .vault
        .ingest_from(
            IngestGrant::Recorder(&a),
            start("own"),
            IngestEnd {
                duration_ms: 1000,
                min_len: wav.len() as u64,
                incomplete: None,
            },
            &wav[..],
        )
        .expect("ingest");
    let events = t
        .vault
        .catalog()
        .recording_events(&o.id, &["recording.ingest"])
        .expect("events");
    let e = callvault_audit::event::AuditEvent::decode(&events[0].1).expect("event");
    assert_eq!(
        e.actor,
        callvault_audit::event::Actor::System(
            callvault_types::HsaId::parse("SE2321000016-R001").expect("hsa")
        )
    );
    assert!(e.source.starts_with("tls:sha256:0909"), "{}", e.source);
    // The recorder's assignment is named, so the access review sees its use (it said
    // "last use: never" after deliveries).
    assert_eq!(e.assignment.as_deref(), Some("rec-a"));
}
