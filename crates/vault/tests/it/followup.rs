//! Log follow-up and patient log extracts at the vault: real accesses through the policy
//! and the audit log, a run of the rules over them, the review workflow, the report, the
//! refusals (one's own access, a forged review behind the vault's back), and a patient's
//! log extract as PDF (read back by poppler's `pdftotext`), CSV and JSON.

use callvault_auth::{
    AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Authorized, Policy,
    PrincipalKind, Purpose, Resource,
};
use callvault_catalog::Verdict;
use callvault_reporting::followup::FollowUpSettings;
use callvault_types::{CareProvider, HsaId, PatientId, RecordingId};
use callvault_vault::VaultError;
use callvault_vault::access::target::*;
use callvault_vault::followup::FollowUpRequest;

use crate::common::*;

const NURSE_OTHER_UNIT: &str = "SE2321000016-N001";
const NURSE: &str = "SE2321000016-N002";
const REVIEWER: &str = "SE2321000016-L001";
const REVIEWER_2: &str = "SE2321000016-L002";
const RECORDS: &str = "SE2321000016-M001";

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

/// Assignments valid around the real clock (the events carry the real time).
fn policy() -> Policy {
    let now = time::OffsetDateTime::now_utc();
    let (from, until) = (
        rfc3339(now - time::Duration::days(1)),
        rfc3339(now + time::Duration::days(30)),
    );
    let spec = |id: &str, holder: &str, units: &[&str], purpose: &str, rights: &[&str]| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: CP_A,
            care_units: units,
            purpose,
            rights,
            valid_from: &from,
            valid_until: &until,
        }
        .to_toml()
    };
    let care = ["search", "view-metadata", "play"];
    let text = [
        spec(
            "care-other",
            NURSE_OTHER_UNIT,
            &["SE2321000016-0042"],
            "vård och behandling",
            &care,
        ),
        spec("care-a", NURSE, &[UNIT_A], "vård och behandling", &care),
        spec("care-l", REVIEWER, &[UNIT_A], "vård och behandling", &care),
        spec(
            "review-1",
            REVIEWER,
            &[],
            "logguppföljning",
            &["read-audit", "read-access-log"],
        ),
        spec(
            "review-2",
            REVIEWER_2,
            &[],
            "logguppföljning",
            &["read-audit", "read-access-log"],
        ),
        spec(
            "records",
            RECORDS,
            &[],
            "administration",
            &["manage-records"],
        ),
    ]
    .concat();
    Policy::new(AssignmentSet::parse(&text).expect("assignments"))
}

fn person(hsa: &str) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(hsa).expect("hsa"),
        PrincipalKind::Person,
        [4; 32],
    )
}

fn decide(
    policy: &Policy,
    hsa: &str,
    action: Action,
    purpose: Purpose,
    resource: Resource,
    emergency: Option<&str>,
) -> Result<Authorized, callvault_auth::Denial> {
    let req = AccessRequest {
        action,
        resource,
        purpose,
        assignment: None,
        emergency_reason: emergency.map(str::to_owned),
        case_number: None,
    };
    policy.decide(&person(hsa), &req, time::OffsetDateTime::now_utc())
}

fn cp_a() -> Resource {
    Resource {
        care_provider: CareProvider::parse(CP_A).expect("cp"),
        care_unit: None,
    }
}

/// `hsa` views recording `id`; with `emergency`, through emergency access. A refusal is
/// recorded as a denial.
fn view(t: &TestVault, policy: &Policy, hsa: &str, id: RecordingId, emergency: Option<&str>) {
    let resource = t.vault.recording_resource(&id).expect("q").expect("r");
    let req = AccessRequest {
        action: Action::ViewMetadata,
        resource: resource.clone(),
        purpose: Purpose::CareAndTreatment,
        assignment: None,
        emergency_reason: emergency.map(str::to_owned),
        case_number: None,
    };
    match policy.decide(&person(hsa), &req, time::OffsetDateTime::now_utc()) {
        Ok(authz) => {
            let receipt = t
                .vault
                .record_access(authz, Metadata { id })
                .expect("audited");
            t.vault.read_metadata(&receipt).expect("metadata");
        }
        Err(denial) => {
            t.vault
                .record_denial(&person(hsa), &req, &denial, Some(&id))
                .expect("denial audited");
        }
    }
}

fn reviewer(policy: &Policy, hsa: &str) -> Authorized {
    decide(
        policy,
        hsa,
        Action::ReadAudit,
        Purpose::LogReview,
        cp_a(),
        None,
    )
    .expect("log reviewer")
}

fn settings() -> FollowUpSettings {
    FollowUpSettings {
        max_patients_per_hour: 3,
        // Off: the events carry the real clock, whatever hour the test runs at.
        working_hours: String::new(),
        denied_burst: 3,
        denied_window_minutes: 10,
        spot_checks: 2,
        ..FollowUpSettings::default()
    }
}

#[test]
fn a_months_follow_up_finds_reviews_and_reports() {
    let t = TestVault::new();
    t.import_archive(10, 8_000);
    let operator = callvault_vault::vault_operator();
    // Rows 0, 2, 4, 6, 8 are care provider A's, at UNIT_A, patients pnr(0), pnr(2), ….
    let ids: Vec<RecordingId> = [0, 2, 4, 6, 8].map(|i| id_of(&t, i)).to_vec();
    let policy = policy();

    // The nurse's own personnummer is pnr(6): registered, sealed, in the user register.
    let users = t.archive().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[user]]\nhsa_id = \"{NURSE}\"\nname = \"Nora Nilsson\"\ntitle = \"Sjuksköterska\"\ncare_provider = \"{CP_A}\"\npersonal_id = \"{}\"\n",
            pnr(6)
        ),
    )
    .expect("users");
    t.vault
        .import_assignments(&users, &operator)
        .expect("user register");
    // Patient pnr(4) has protected identity.
    let rm = decide(
        &policy,
        RECORDS,
        Action::ManageRecords,
        Purpose::Administration,
        cp_a(),
        None,
    )
    .expect("records manager");
    let protected = PatientId::parse(&pnr(4)).expect("pnr");
    t.vault
        .mark_protected(&rm, &protected, true, "Skatteverket 2026-11")
        .expect("mark");

    // Emergency access by the nurse of another unit; then three refused attempts without
    // a reason (a burst of denials).
    view(
        &t,
        &policy,
        NURSE_OTHER_UNIT,
        ids[0],
        Some("Patienten ringde tillbaka, bröstsmärta"),
    );
    for _ in 0..3 {
        view(&t, &policy, NURSE_OTHER_UNIT, ids[1], None);
    }
    // The nurse views four patients within minutes (threshold 3), one of them protected,
    // one of them herself.
    for id in &ids[1..5] {
        view(&t, &policy, NURSE, *id, None);
    }
    // The first log reviewer also works as a nurse and opens a protected patient's call.
    view(&t, &policy, REVIEWER, ids[2], None);

    let now = time::OffsetDateTime::now_utc();
    let req = || FollowUpRequest {
        from: now - time::Duration::days(30),
        to: now + time::Duration::minutes(1),
        settings: Some(settings()),
        seed: Some([9; 32]),
    };
    let l1 = reviewer(&policy, REVIEWER);
    let l2 = reviewer(&policy, REVIEWER_2);
    let report = t.vault.run_follow_up(&l1, req()).expect("run");
    let count = |rule: &str| report.findings.iter().filter(|f| f.rule == rule).count();
    assert_eq!(count("emergency-access"), 1, "{:#?}", report.findings);
    assert_eq!(count("denied-burst"), 1);
    assert_eq!(count("many-patients"), 1);
    assert_eq!(count("protected-identity"), 2);
    assert_eq!(count("own-records"), 1);
    assert_eq!(count("spot-check"), 2);
    assert_eq!(count("outside-own-units"), 0);
    assert_eq!(count("outside-working-hours"), 0);
    let own = report
        .findings
        .iter()
        .find(|f| f.rule == "own-records")
        .expect("own");
    assert_eq!(own.actor, format!("person:{NURSE}"));
    assert_eq!(own.actor_name.as_deref(), Some("Nora Nilsson"));
    assert_eq!(report.run.findings, report.findings.len() as u64);

    // The same seed draws the same spot check; the run is reproducible.
    let again = t.vault.run_follow_up(&l2, req()).expect("run again");
    let spots = |r: &callvault_reporting::followup::FollowUpReport| -> Vec<u64> {
        r.findings
            .iter()
            .filter(|f| f.rule == "spot-check")
            .map(|f| f.leaf_index)
            .collect()
    };
    assert_eq!(spots(&report), spots(&again));

    // Review: the first reviewer cannot judge his own access; the second can.
    let run = &report.run.id;
    let mine = report
        .findings
        .iter()
        .find(|f| f.actor == format!("person:{REVIEWER}"))
        .expect("reviewer's own access");
    let err = t
        .vault
        .review_finding(&l1, run, mine.n, Verdict::Justified, "Eget arbete")
        .expect_err("own access");
    assert!(matches!(err, VaultError::FourEyes(_)), "{err}");
    let secret_comment = format!("Ringde patienten {} om uppföljning", pnr(4));
    t.vault
        .review_finding(&l2, run, mine.n, Verdict::Unjustified, &secret_comment)
        .expect("review");
    t.vault
        .review_finding(&l1, run, own.n, Verdict::Justified, "Kontrollerad med chef")
        .expect("review");
    assert!(matches!(
        t.vault
            .review_finding(&l1, run, 999, Verdict::Justified, "x")
            .expect_err("no such finding"),
        VaultError::NoSuch(_)
    ));
    assert!(matches!(
        t.vault
            .review_finding(&l1, run, own.n, Verdict::Justified, "  ")
            .expect_err("empty comment"),
        VaultError::InvalidRequest(_)
    ));

    let read = t.vault.follow_up(&l1, run, "html").expect("read");
    assert_eq!(read.run.reviewed, 2);
    assert_eq!(read.run.unjustified, 1);
    let judged = read
        .findings
        .iter()
        .find(|f| f.n == mine.n)
        .expect("judged");
    assert_eq!(judged.verdict, Some("unjustified"));
    assert_eq!(judged.comment.as_deref(), Some(secret_comment.as_str()));
    assert_eq!(
        judged.reviewed_by.as_deref(),
        Some(&*format!("person:{REVIEWER_2}"))
    );
    let html = read.to_html();
    assert!(html.contains("<html lang=\"sv\">") && html.contains("Obefogad"));
    assert!(html.contains("Nödåtkomst") && html.contains("Egen journal"));
    assert!(!html.contains("<script"));
    let csv = read.to_csv().expect("csv");
    assert_eq!(csv.lines().count(), read.findings.len() + 1);
    assert!(csv.lines().any(|l| l.contains("unjustified")));
    let runs = t.vault.follow_up_runs(&l1).expect("runs");
    assert_eq!(runs.len(), 2);

    // Every step is in the audit log.
    let mut actions = Vec::new();
    t.vault
        .catalog()
        .for_each_audit_leaf(
            0,
            t.vault.catalog().audit_size().expect("size"),
            &mut |_, d, _| {
                actions.push(
                    callvault_audit::event::AuditEvent::decode(d)
                        .expect("event")
                        .action
                        .code(),
                );
                Ok(())
            },
        )
        .expect("scan");
    for code in [
        "patient.protect",
        "followup.run",
        "followup.review",
        "followup.read",
    ] {
        assert!(actions.contains(&code), "{code} missing");
    }

    // The comment and the personal identity numbers are sealed: nothing in the catalog
    // files spells them.
    let path = t.data_dir().join("catalog/catalog.sqlite3");
    for f in crate::keys::walk(&t.data_dir()) {
        let bytes = std::fs::read(&f).expect("read");
        for needle in [
            secret_comment.as_bytes(),
            pnr(6).as_bytes(),
            pnr(4).as_bytes(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "plaintext in {}",
                f.display()
            );
        }
    }

    // Behind the vault's back: a review by the finding's own actor is refused by the
    // schema, and findings cannot be deleted or rewritten.
    let conn = callvault_catalog::raw_connection(&path).expect("raw");
    let forged = conn.execute(
        "UPDATE followup_findings SET verdict = 'justified', reviewed_by = actor,
           reviewed_at_us = 1 WHERE run_id = ?1 AND n = ?2",
        rusqlite::params![run, own.n],
    );
    assert!(forged.is_err(), "self-review forged");
    assert!(conn.execute("DELETE FROM followup_findings", []).is_err());
    assert!(
        conn.execute("UPDATE followup_findings SET summary = 'nothing'", [])
            .is_err()
    );
}

#[test]
fn bad_follow_up_requests_are_refused_and_record_nothing() {
    let t = TestVault::new();
    let policy = policy();
    let l1 = reviewer(&policy, REVIEWER);
    let now = time::OffsetDateTime::now_utc();
    let size = t.vault.catalog().audit_size().expect("size");
    let bad = |from, to, settings| {
        t.vault
            .run_follow_up(
                &l1,
                FollowUpRequest {
                    from,
                    to,
                    settings,
                    seed: None,
                },
            )
            .expect_err("refused")
    };
    assert!(matches!(bad(now, now, None), VaultError::InvalidRequest(_)));
    assert!(matches!(
        bad(now - time::Duration::days(400), now, None),
        VaultError::InvalidRequest(_)
    ));
    let e = bad(
        now - time::Duration::days(1),
        now,
        Some(FollowUpSettings {
            working_hours: "late".into(),
            ..FollowUpSettings::default()
        }),
    );
    assert!(e.to_string().contains("working_hours"), "{e}");
    assert_eq!(t.vault.catalog().audit_size().expect("size"), size);
    // A nurse's decision is not a log reviewer's.
    let nurse = decide(
        &policy,
        NURSE,
        Action::Search,
        Purpose::CareAndTreatment,
        cp_a(),
        None,
    )
    .expect("nurse");
    assert!(matches!(
        t.vault.run_follow_up(
            &nurse,
            FollowUpRequest {
                from: now - time::Duration::days(1),
                to: now,
                settings: None,
                seed: None
            }
        ),
        Err(VaultError::CapabilityMismatch(_))
    ));
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("extract.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian poppler-utils; scripts/test installs it)");
    assert!(
        out.status.success(),
        "pdftotext refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn a_patients_log_extract_is_a_swedish_pdf_csv_and_json() {
    use callvault_reporting::extract::ExtractFormat;
    let t = TestVault::new();
    // Care provider A shows names and titles in log extracts.
    let config = t.data_dir().join("callvault.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "\n[[care_providers]]\nhsa_id = \"{CP_A}\"\nretention_years = 10\nlog_extract_staff = \"name-and-title\"\n"
    ));
    std::fs::write(&config, text).expect("config");
    let t = t.reopen();
    t.import_archive(4, 8_000);
    let operator = callvault_vault::vault_operator();
    let users = t.archive().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[user]]\nhsa_id = \"{NURSE}\"\nname = \"Åsa Öberg\"\ntitle = \"Sjuksköterska\"\ncare_provider = \"{CP_A}\"\n"
        ),
    )
    .expect("users");
    t.vault
        .import_assignments(&users, &operator)
        .expect("user register");
    let policy = policy();
    let (mine, other) = (id_of(&t, 0), id_of(&t, 2));
    // Forty reads of the patient's call (several pages), one emergency access, one refused
    // attempt (not an access), and a read of another patient's call.
    for _ in 0..40 {
        view(&t, &policy, NURSE, mine, None);
    }
    view(
        &t,
        &policy,
        NURSE_OTHER_UNIT,
        mine,
        Some("Återuppringning, patienten sökte igen"),
    );
    view(&t, &policy, NURSE_OTHER_UNIT, mine, None);
    view(&t, &policy, NURSE, other, None);

    let l1 = decide(
        &policy,
        REVIEWER,
        Action::ReadAccessLog,
        Purpose::LogReview,
        cp_a(),
        None,
    )
    .expect("reviewer");
    let patient = PatientId::parse(&pnr(0)).expect("pnr");
    let x = t
        .vault
        .log_extract(&l1, &patient, None, None, ExtractFormat::Pdf)
        .expect("extract");
    assert_eq!(x.entries.len(), 41);
    assert_eq!(x.entries.iter().filter(|e| e.emergency_access).count(), 1);
    assert!(
        x.entries
            .iter()
            .all(|e| e.recording == Some(mine.to_string()))
    );
    let first = &x.entries[0];
    assert_eq!(first.user_name.as_deref(), Some("Åsa Öberg"));
    assert_eq!(first.user_title.as_deref(), Some("Sjuksköterska"));
    assert_eq!(first.care_unit.as_deref(), Some(UNIT_A));
    assert_eq!(first.purpose.as_deref(), Some("vård och behandling"));
    assert_eq!(first.action, "Läsning av uppgifter om samtalet");

    let pdf = x.to_pdf();
    if let Ok(p) = std::env::var("CALLVAULT_DUMP_EXTRACT") {
        std::fs::write(p, &pdf).expect("dump");
    }
    assert!(pdf.starts_with(b"%PDF-"));
    let page_text = pdftotext(&pdf);
    for want in [
        "Loggutdrag",
        "Åtgärd",
        "Vårdenhet",
        "Ändamål",
        "Åsa Öberg",
        "Sjuksköterska",
        "vård och behandling",
        "(nödåtkomst)",
        "sida 1 av",
        "sida 2 av",
        &pnr(0),
    ] {
        assert!(
            page_text.contains(want),
            "{want:?} not in the PDF:\n{page_text}"
        );
    }
    let csv = x.to_csv().expect("csv");
    assert_eq!(csv.lines().count(), 42);
    assert!(csv.starts_with("time_utc,local_time,care_provider,care_unit,user_name"));
    let json: serde_json::Value = serde_json::from_str(&x.to_json()).expect("json");
    assert_eq!(json["entries"].as_array().expect("entries").len(), 41);

    // Producing it was audited, with the patient sealed; the extract event is not an
    // access to the records, so the next extract lists the same accesses.
    let again = t
        .vault
        .log_extract(&l1, &patient, None, None, ExtractFormat::Csv)
        .expect("extract");
    assert_eq!(again.entries.len(), 41);
    let event = t
        .vault
        .catalog()
        .audit_event(x.extract_leaf_index)
        .expect("q")
        .expect("event");
    let event = callvault_audit::event::AuditEvent::decode(&event).expect("decode");
    assert_eq!(event.action.code(), "audit.extract");
    assert!(event.patient.is_some());
    assert!(
        event
            .details
            .iter()
            .any(|(k, v)| k == "format" && v == "pdf")
    );

    // A period before the accesses: an empty extract that says so.
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    let empty = t
        .vault
        .log_extract(
            &l1,
            &patient,
            Some(past - time::Duration::days(1)),
            Some(past),
            ExtractFormat::Pdf,
        )
        .expect("extract");
    assert!(empty.entries.is_empty());
    assert!(pdftotext(&empty.to_pdf()).contains("Inga åtkomster under perioden."));
    assert!(matches!(
        t.vault
            .log_extract(&l1, &patient, Some(past), Some(past), ExtractFormat::Pdf)
            .expect_err("empty period"),
        VaultError::InvalidRequest(_)
    ));
    // A follow-up reviewer's decision (read-audit) is not an extract decision.
    let l_audit = reviewer(&policy, REVIEWER);
    assert!(matches!(
        t.vault
            .log_extract(&l_audit, &patient, None, None, ExtractFormat::Pdf),
        Err(VaultError::CapabilityMismatch(_))
    ));
}

#[test]
fn the_fhir_audit_event_export_passes_an_independent_r4_validator() {
    use callvault_reporting::fhir::PatientIdentifiers;
    let t = TestVault::new();
    t.import_archive(4, 8_000);
    let policy = policy();
    let id = id_of(&t, 0);
    view(&t, &policy, NURSE, id, None);
    view(
        &t,
        &policy,
        NURSE_OTHER_UNIT,
        id,
        Some("Återuppringning, patienten sökte igen"),
    );
    view(&t, &policy, NURSE_OTHER_UNIT, id, None);
    // A patient search (BALP PatientQuery).
    let search = decide(
        &policy,
        NURSE,
        Action::Search,
        Purpose::CareAndTreatment,
        cp_a(),
        None,
    )
    .expect("search");
    let receipt = t
        .vault
        .record_access(
            search.clone(),
            PatientSearch {
                patient: PatientId::parse(&pnr(0)).expect("pnr"),
                filter: callvault_vault::access::SearchFilter {
                    limit: Some(10),
                    ..Default::default()
                },
            },
        )
        .expect("audited");
    t.vault.search_patient(&receipt).expect("search");

    let l1 = reviewer(&policy, REVIEWER);
    let now = time::OffsetDateTime::now_utc();
    let (from, to) = (
        now - time::Duration::days(1),
        now + time::Duration::minutes(1),
    );
    let (pseudo, n) = t
        .vault
        .fhir_export(&l1, from, to, PatientIdentifiers::Pseudonym)
        .expect("export");
    assert!(n >= 6, "{n} events");
    assert_eq!(pseudo.lines().count() as u64, n);
    assert!(
        !pseudo.contains(&pnr(0).replace('-', "")),
        "pseudonyms only"
    );
    let (clear, _) = t
        .vault
        .fhir_export(&l1, from, to, PatientIdentifiers::Clear)
        .expect("export");
    assert!(clear.contains(&pnr(0).replace('-', "")));

    let profiles = |text: &str, p: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("IHE.BasicAudit.{p}\"")))
            .count()
    };
    assert_eq!(profiles(&pseudo, "PatientQuery"), 1);
    assert!(profiles(&pseudo, "PatientRead") >= 2);
    assert!(profiles(&pseudo, "PatientCreate") >= 2, "imports");
    let read: serde_json::Value = serde_json::from_str(
        pseudo
            .lines()
            .find(|l| l.contains("ETREAT"))
            .expect("emergency access event"),
    )
    .expect("json");
    assert_eq!(read["action"], "R");
    assert_eq!(read["agent"][0]["requestor"], true);
    assert_eq!(
        read["agent"][0]["who"]["identifier"]["value"],
        NURSE_OTHER_UNIT
    );
    let denied = pseudo
        .lines()
        .find(|l| l.contains("\"outcome\":\"4\""))
        .expect("the refused attempt");
    assert!(denied.contains("outcomeDesc"));

    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (
        dir.path().join("pseudo.ndjson"),
        dir.path().join("clear.ndjson"),
    );
    std::fs::write(&a, &pseudo).expect("write");
    std::fs::write(&b, &clear).expect("write");
    let single = t
        .vault
        .fhir_event(
            &l1,
            read["entity"]
                .as_array()
                .expect("entity")
                .last()
                .expect("log")["what"]["identifier"]["value"]
                .as_str()
                .expect("idx")
                .parse()
                .expect("idx"),
            PatientIdentifiers::Pseudonym,
        )
        .expect("one event");
    assert_eq!(single, read);
    let c = dir.path().join("one.json");
    std::fs::write(&c, single.to_string()).expect("write");
    let (ok, out) = callvault_testkit::validate_fhir(&[&a, &b, &c]);
    assert!(ok, "{out}");
    assert!(out.contains("(FHIR 4.0.1); 0 invalid"), "{out}");

    // The validator is not vacuous: an unknown element, a missing required one, and a
    // PatientRead without its patient are each refused.
    let mut broken = read.clone();
    broken["colour"] = serde_json::json!("blue");
    let mut missing = read.clone();
    missing.as_object_mut().expect("obj").remove("recorded");
    missing["id"] = serde_json::json!("cv-missing");
    let mut no_patient = read.clone();
    no_patient["entity"]
        .as_array_mut()
        .expect("entity")
        .remove(0);
    no_patient["id"] = serde_json::json!("cv-no-patient");
    for (name, bad) in [
        ("unknown", broken),
        ("missing", missing),
        ("balp", no_patient),
    ] {
        let p = dir.path().join(format!("{name}.ndjson"));
        std::fs::write(&p, format!("{bad}\n")).expect("write");
        let (ok, out) = callvault_testkit::validate_fhir(&[&p]);
        assert!(!ok, "{name} accepted: {out}");
    }
}
