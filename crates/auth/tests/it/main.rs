//! The policy as a table: principal × action × resource × purpose → decision, for every
//! rule of default deny. And the assignment file's validation.

use callvault_auth::{
    AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Denial, Policy, PrincipalKind,
    Purpose, Resource, UnitScope,
};
use callvault_types::{CareProvider, CareUnit, HsaId};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

const CP_A: &str = "SE2321000016-0001";
const A_U1: &str = "SE2321000016-1177";
const A_U2: &str = "SE2321000016-2277";
const CP_B: &str = "SE2321000156-0001";
const B_U1: &str = "SE2321000156-1177";

const ASSIGNMENTS: &str = r#"
[[assignment]]
id = "recorder-a"
holder = "SE2321000016-R001"
care_provider = "SE2321000016-0001"
purpose = "vård och behandling"
rights = ["ingest"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "nurse-a1"
holder = "SE2321000016-N001"
care_provider = "SE2321000016-0001"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata", "play", "download"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "nurse-b1"
holder = "SE2321000156-N001"
care_provider = "SE2321000156-0001"
care_units = ["SE2321000156-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata", "play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "nurse-a-expired"
holder = "SE2321000016-N002"
care_provider = "SE2321000016-0001"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata", "play"]
valid_from = "2025-01-01T00:00:00Z"
valid_until = "2025-12-31T00:00:00Z"

[[assignment]]
id = "nurse-a-noplay"
holder = "SE2321000016-N003"
care_provider = "SE2321000016-0001"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["search", "view-metadata"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "investigator-a"
holder = "SE2321000016-Q001"
care_provider = "SE2321000016-0001"
purpose = "kvalitetssäkring"
rights = ["search", "view-metadata", "play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "reviewer-a"
holder = "SE2321000016-L001"
care_provider = "SE2321000016-0001"
purpose = "logguppföljning"
rights = ["read-audit", "read-access-log", "play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "admin-a"
holder = "SE2321000016-A001"
care_provider = "SE2321000016-0001"
purpose = "administration"
rights = ["view-metadata", "play", "search", "manage-privileges"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"

[[assignment]]
id = "admin-no-grant"
holder = "SE2321000016-A002"
care_provider = "SE2321000016-0001"
purpose = "administration"
rights = ["view-metadata"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"
"#;

fn person(h: &str) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(h).expect("hsa"),
        PrincipalKind::Person,
        [0; 32],
    )
}

fn system(h: &str) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(h).expect("hsa"),
        PrincipalKind::System,
        [0; 32],
    )
}

fn res(cp: &str, unit: Option<&str>) -> Resource {
    Resource {
        care_provider: CareProvider::parse(cp).expect("cp"),
        care_unit: unit.map(|u| CareUnit::parse(u).expect("unit")),
    }
}

/// Expected outcome of a cell.
#[derive(Debug, PartialEq)]
enum Want {
    /// Allowed, own units only.
    Own,
    /// Allowed across the care provider, not emergency.
    Wide,
    /// Allowed by emergency access (flagged).
    Emergency,
    /// Denied with this reason.
    Deny(Denial),
}

use Want::*;

struct Cell {
    who: AuthenticatedPrincipal,
    action: Action,
    resource: Resource,
    purpose: Purpose,
    emergency: Option<&'static str>,
    case: Option<&'static str>,
    want: Want,
}

fn cell(
    who: AuthenticatedPrincipal,
    action: Action,
    resource: Resource,
    purpose: Purpose,
    emergency: Option<&'static str>,
    case: Option<&'static str>,
    want: Want,
) -> Cell {
    Cell {
        who,
        action,
        resource,
        purpose,
        emergency,
        case,
        want,
    }
}

#[test]
fn the_policy_matrix() {
    use Action::*;
    use Purpose::*;
    let policy = Policy::new(AssignmentSet::parse(ASSIGNMENTS).expect("assignments"));
    let rec = system("SE2321000016-R001");
    let nurse_a = person("SE2321000016-N001");
    let nurse_b = person("SE2321000156-N001");
    let expired = person("SE2321000016-N002");
    let noplay = person("SE2321000016-N003");
    let inv = person("SE2321000016-Q001");
    let rev = person("SE2321000016-L001");
    let admin = person("SE2321000016-A001");
    let stranger = person("SE2321000016-X999");
    let why = Some("patient calls back, chest pain, own unit closed");
    let case = Some("LVN-2026-0042");
    let a_u1 = || res(CP_A, Some(A_U1));
    let a_u2 = || res(CP_A, Some(A_U2));
    let b_u1 = || res(CP_B, Some(B_U1));
    let a = || res(CP_A, None);
    let b = || res(CP_B, None);
    let na = |p| Deny(Denial::NotForPurpose { purpose: p });

    let table = vec![
        // Recorder (function certificate): only ingest, only its own care provider.
        cell(rec.clone(), Ingest, a(), CareAndTreatment, None, None, Wide),
        cell(
            rec.clone(),
            Ingest,
            b(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            rec.clone(),
            Search,
            a(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::SystemsOnlyIngest),
        ),
        cell(
            rec.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::SystemsOnlyIngest),
        ),
        cell(
            rec.clone(),
            ViewMetadata,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::SystemsOnlyIngest),
        ),
        cell(
            rec.clone(),
            ReadAudit,
            a(),
            LogReview,
            None,
            None,
            Deny(Denial::NoActiveAssignment(LogReview)),
        ),
        // Nurse of region A: own unit under care and treatment.
        cell(
            nurse_a.clone(),
            Search,
            a(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        cell(
            nurse_a.clone(),
            ViewMetadata,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        cell(
            nurse_a.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        cell(
            nurse_a.clone(),
            Download,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        // ... a reason on an own-unit recording is not emergency access.
        cell(
            nurse_a.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            why,
            None,
            Own,
        ),
        // Another unit of the same care provider: only by emergency access.
        cell(
            nurse_a.clone(),
            Play,
            a_u2(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::EmergencyAccessRequired),
        ),
        cell(
            nurse_a.clone(),
            Play,
            a_u2(),
            CareAndTreatment,
            Some("urgent"),
            None,
            Deny(Denial::EmergencyReasonTooShort),
        ),
        cell(
            nurse_a.clone(),
            Play,
            a_u2(),
            CareAndTreatment,
            why,
            None,
            Emergency,
        ),
        cell(
            nurse_a.clone(),
            ViewMetadata,
            a_u2(),
            CareAndTreatment,
            why,
            None,
            Emergency,
        ),
        cell(
            nurse_a.clone(),
            Search,
            a(),
            CareAndTreatment,
            why,
            None,
            Emergency,
        ),
        // Another care provider: never, not even in an emergency.
        cell(
            nurse_a.clone(),
            Play,
            b_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            nurse_a.clone(),
            Play,
            b_u1(),
            CareAndTreatment,
            why,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            nurse_a.clone(),
            Search,
            b(),
            CareAndTreatment,
            why,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        // Other purposes need their own assignment; nurses do not deliver or read logs.
        cell(
            nurse_a.clone(),
            Play,
            a_u1(),
            QualityAssurance,
            None,
            case,
            Deny(Denial::NoActiveAssignment(QualityAssurance)),
        ),
        cell(
            nurse_a.clone(),
            ReadAudit,
            a(),
            CareAndTreatment,
            None,
            None,
            na(CareAndTreatment),
        ),
        cell(
            nurse_a.clone(),
            Ingest,
            a(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::PersonsDoNotIngest),
        ),
        // Nurse of region B: mirror image.
        cell(
            nurse_b.clone(),
            Play,
            b_u1(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        cell(
            nurse_b.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            nurse_b.clone(),
            Download,
            b_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::MissingRight("download")),
        ),
        // Expired assignment, missing right, no assignment at all.
        cell(
            expired,
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::NoActiveAssignment(CareAndTreatment)),
        ),
        cell(
            noplay.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::MissingRight("play")),
        ),
        cell(
            noplay,
            ViewMetadata,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Own,
        ),
        cell(
            stranger,
            Search,
            a(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::NoActiveAssignment(CareAndTreatment)),
        ),
        // Patient-safety investigator: across the care provider, with a case number.
        cell(inv.clone(), Search, a(), QualityAssurance, None, case, Wide),
        cell(
            inv.clone(),
            Play,
            a_u2(),
            QualityAssurance,
            None,
            case,
            Wide,
        ),
        cell(
            inv.clone(),
            Play,
            a_u2(),
            QualityAssurance,
            None,
            None,
            Deny(Denial::CaseNumberRequired),
        ),
        cell(
            inv.clone(),
            Play,
            a_u2(),
            QualityAssurance,
            None,
            Some("  "),
            Deny(Denial::CaseNumberRequired),
        ),
        cell(
            inv.clone(),
            Play,
            b_u1(),
            QualityAssurance,
            None,
            case,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            inv.clone(),
            Play,
            a_u1(),
            CareAndTreatment,
            None,
            None,
            Deny(Denial::NoActiveAssignment(CareAndTreatment)),
        ),
        cell(
            inv,
            ReadAudit,
            a(),
            QualityAssurance,
            None,
            case,
            na(QualityAssurance),
        ),
        // Log reviewer: logs, never audio (even with a "play" right on the assignment).
        cell(rev.clone(), ReadAudit, a(), LogReview, None, None, Wide),
        cell(rev.clone(), ReadAccessLog, a(), LogReview, None, None, Wide),
        cell(
            rev.clone(),
            Play,
            a_u1(),
            LogReview,
            None,
            None,
            na(LogReview),
        ),
        cell(
            rev.clone(),
            Download,
            a_u1(),
            LogReview,
            None,
            None,
            na(LogReview),
        ),
        cell(
            rev.clone(),
            ViewMetadata,
            a_u1(),
            LogReview,
            None,
            None,
            na(LogReview),
        ),
        cell(
            rev.clone(),
            Search,
            a(),
            LogReview,
            None,
            None,
            na(LogReview),
        ),
        cell(
            rev,
            ReadAudit,
            b(),
            LogReview,
            None,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        // Administrator: never audio or identifying metadata, whatever the rights say.
        cell(
            admin.clone(),
            Play,
            a_u1(),
            Administration,
            None,
            None,
            na(Administration),
        ),
        cell(
            admin.clone(),
            ViewMetadata,
            a_u1(),
            Administration,
            None,
            None,
            na(Administration),
        ),
        cell(
            admin.clone(),
            Search,
            a(),
            Administration,
            None,
            None,
            na(Administration),
        ),
        cell(
            admin.clone(),
            ReadAudit,
            a(),
            Administration,
            None,
            None,
            na(Administration),
        ),
        // Privilege administration: only under the purpose administration, only at the
        // assignment's care provider, only with the right.
        cell(
            admin.clone(),
            ManagePrivileges,
            a(),
            Administration,
            None,
            None,
            Wide,
        ),
        cell(
            admin,
            ManagePrivileges,
            b(),
            Administration,
            None,
            None,
            Deny(Denial::OtherCareProvider),
        ),
        cell(
            person("SE2321000016-A002"),
            ManagePrivileges,
            a(),
            Administration,
            None,
            None,
            Deny(Denial::MissingRight("manage-privileges")),
        ),
        cell(
            person("SE2321000016-L001"),
            ManagePrivileges,
            a(),
            LogReview,
            None,
            None,
            na(LogReview),
        ),
        cell(
            nurse_a.clone(),
            ManagePrivileges,
            a(),
            CareAndTreatment,
            None,
            None,
            na(CareAndTreatment),
        ),
        cell(
            nurse_a.clone(),
            ManagePrivileges,
            a(),
            Administration,
            None,
            None,
            Deny(Denial::NoActiveAssignment(Administration)),
        ),
        cell(
            rec.clone(),
            ManagePrivileges,
            a(),
            Administration,
            None,
            None,
            Deny(Denial::NoActiveAssignment(Administration)),
        ),
    ];

    let mut failures = Vec::new();
    for (i, c) in table.iter().enumerate() {
        let req = AccessRequest {
            action: c.action,
            resource: c.resource.clone(),
            purpose: c.purpose,
            assignment: None,
            emergency_reason: c.emergency.map(str::to_owned),
            case_number: c.case.map(str::to_owned),
        };
        let got = match policy.decide(&c.who, &req, NOW) {
            Ok(a) if a.is_emergency() => {
                assert_eq!(a.scope(), &UnitScope::WholeCareProvider);
                assert_eq!(a.emergency_reason(), c.emergency);
                Emergency
            }
            Ok(a) => match a.scope() {
                UnitScope::Units(u) => {
                    assert!(!u.is_empty());
                    Own
                }
                UnitScope::WholeCareProvider => Wide,
            },
            Err(d) => Deny(d),
        };
        if got != c.want {
            failures.push(format!(
                "row {i}: {:?} {:?} {:?} {:?}: want {:?}, got {got:?}",
                c.who, c.action, c.resource.care_unit, c.purpose, c.want
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(table.len() >= 45);
}

#[test]
fn authorized_values_carry_what_the_audit_event_needs() {
    let policy = Policy::new(AssignmentSet::parse(ASSIGNMENTS).expect("assignments"));
    let inv = person("SE2321000016-Q001");
    let req = AccessRequest {
        action: Action::Play,
        resource: res(CP_A, Some(A_U2)),
        purpose: Purpose::QualityAssurance,
        assignment: None,
        emergency_reason: None,
        case_number: Some("LVN-2026-0042".into()),
    };
    let a = policy.decide(&inv, &req, NOW).expect("allowed");
    assert_eq!(a.assignment().id.as_str(), "investigator-a");
    assert_eq!(a.case_number(), Some("LVN-2026-0042"));
    assert!(!a.is_emergency());
    assert_eq!(a.principal().hsa_id().as_str(), "SE2321000016-Q001");
    // Naming an assignment that is not the caller's is refused.
    let mut named = req.clone();
    named.assignment = Some(
        AssignmentSet::parse(ASSIGNMENTS)
            .expect("set")
            .all()
            .iter()
            .find(|x| x.id.as_str() == "nurse-a1")
            .expect("nurse")
            .id
            .clone(),
    );
    assert_eq!(
        policy.decide(&inv, &named, NOW).expect_err("not yours"),
        Denial::NotYourAssignment("nurse-a1".into())
    );
    // Before and after validity.
    assert!(
        policy
            .decide(&inv, &req, datetime!(2025-12-31 23:59 UTC))
            .is_err()
    );
    assert!(
        policy
            .decide(&inv, &req, datetime!(2026-12-31 00:00 UTC))
            .is_err()
    );
}

/// "Does not exist" and "not yours" are the same refusal: for every caller, purpose and
/// named assignment, a resource nobody has is refused exactly as a resource of a care
/// provider the caller has no assignment at.
#[test]
fn an_unknown_resource_is_refused_as_a_foreign_one() {
    use callvault_auth::UnknownResourceRequest;
    let set = AssignmentSet::parse(ASSIGNMENTS).expect("assignments");
    let policy = Policy::new(set.clone());
    // A care provider nobody in the table holds an assignment at.
    let foreign = res("SE2321000289-0001", Some("SE2321000289-1177"));
    let callers = [
        person("SE2321000016-N001"),
        person("SE2321000156-N001"),
        person("SE2321000016-N002"),
        person("SE2321000016-Q001"),
        person("SE2321000016-L001"),
        person("SE2321000016-A001"),
        person("SE2321000016-X999"),
        system("SE2321000016-R001"),
    ];
    let named: Vec<Option<callvault_auth::AssignmentId>> = std::iter::once(None)
        .chain(set.all().iter().map(|a| Some(a.id.clone())))
        .collect();
    let mut checked = 0;
    for who in &callers {
        for purpose in Purpose::ALL {
            for action in [Action::ViewMetadata, Action::Play, Action::Download] {
                for assignment in &named {
                    let req = AccessRequest {
                        action,
                        resource: foreign.clone(),
                        purpose,
                        assignment: assignment.clone(),
                        emergency_reason: Some("patient calls back, chest pain".into()),
                        case_number: Some("LVN-2026-0042".into()),
                    };
                    let not_yours = policy.decide(who, &req, NOW).expect_err("foreign");
                    let unknown = policy.refuse_unknown(
                        who,
                        &UnknownResourceRequest {
                            purpose,
                            assignment: assignment.as_ref(),
                            emergency_reason: req.emergency_reason.as_deref(),
                            case_number: req.case_number.as_deref(),
                        },
                        NOW,
                    );
                    assert_eq!(unknown, not_yours, "{who:?} {purpose:?} {assignment:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100);
}

/// An emergency reason or case number too long to seal into an audit event is refused by
/// the policy (regression: a 40,000-character reason gave a 500, "value is too long to
/// encode").
#[test]
fn overlong_free_text_is_refused_before_anything_is_decided() {
    let policy = Policy::new(AssignmentSet::parse(ASSIGNMENTS).expect("assignments"));
    let nurse = person("SE2321000016-N001");
    let inv = person("SE2321000016-Q001");
    let mut req = AccessRequest {
        action: Action::Play,
        resource: res(CP_A, Some(A_U2)),
        purpose: Purpose::CareAndTreatment,
        assignment: None,
        emergency_reason: Some("x".repeat(callvault_auth::MAX_EMERGENCY_REASON)),
        case_number: None,
    };
    assert!(policy.decide(&nurse, &req, NOW).is_ok(), "at the limit");
    req.emergency_reason = Some("x".repeat(40_000));
    assert_eq!(
        policy.decide(&nurse, &req, NOW).expect_err("too long"),
        Denial::EmergencyReasonTooLong
    );
    let mut inv_req = AccessRequest {
        purpose: Purpose::QualityAssurance,
        emergency_reason: None,
        case_number: Some("c".repeat(callvault_auth::MAX_CASE_NUMBER)),
        ..req
    };
    assert!(policy.decide(&inv, &inv_req, NOW).is_ok(), "at the limit");
    for bad in ["c".repeat(65), "LVN-1\nforged: line".to_owned()] {
        inv_req.case_number = Some(bad);
        assert_eq!(
            policy.decide(&inv, &inv_req, NOW).expect_err("invalid"),
            Denial::CaseNumberInvalid
        );
    }
}

#[test]
fn assignment_files_are_validated_with_reasons() {
    let base = r#"
[[assignment]]
id = "x"
holder = "SE2321000016-N001"
care_provider = "SE2321000016-0001"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["play"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"
"#;
    assert_eq!(AssignmentSet::parse(base).expect("valid").all().len(), 1);
    let cases = [
        (
            base.replace("vård och behandling", "fika"),
            "purpose \"fika\" is not one of",
        ),
        (
            base.replace("[\"play\"]", "[\"fly\"]"),
            "right \"fly\" is not one of",
        ),
        (
            base.replace("SE2321000016-1177", "SE2321000156-1177"),
            "does not belong to care provider",
        ),
        (
            base.replace("2026-12-31T00:00:00Z", "2030-06-30T00:00:00Z"),
            "at most 1096 days",
        ),
        (
            base.replace("2026-12-31T00:00:00Z", "2025-12-31T00:00:00Z"),
            "valid_until must be after",
        ),
        (base.replace("[\"play\"]", "[]"), "grants no right"),
        (
            base.replace("[\"play\"]", "[\"manage-privileges\"]"),
            "only under the purpose administration",
        ),
        (
            format!(
                "[[user]]\nhsa_id = \"SE2321000016-N001\"\nname = \"\"\ntitle = \"x\"\ncare_provider = \"SE2321000016-0001\"\n{base}"
            ),
            "name is empty",
        ),
        (
            format!(
                "[[user]]\nhsa_id = \"SE2321000016-N001\"\nname = \"A\"\ntitle = \"x\"\ncare_provider = \"SE2321000016-0001\"\n[[user]]\nhsa_id = \"SE2321000016-N001\"\nname = \"B\"\ntitle = \"x\"\ncare_provider = \"SE2321000016-0001\"\n{base}"
            ),
            "listed twice",
        ),
        (
            base.replace("care_units = [\"SE2321000016-1177\"]\n", ""),
            "name their care units",
        ),
        (base.replace("SE2321000016-N001", "N001"), "holder"),
        (base.replace("id = \"x\"", "id = \"x y\""), "id must be"),
        (format!("{base}{base}"), "id is used twice"),
        (base.replace("purpose", "porpoise"), "unknown field"),
    ];
    for (text, want) in cases {
        let err = AssignmentSet::parse(&text).expect_err(want).to_string();
        assert!(err.contains(want), "want {want:?}, got {err}");
    }
    // Slugs are accepted for purposes.
    let slug = base.replace("vård och behandling", "vard-och-behandling");
    assert_eq!(
        AssignmentSet::parse(&slug).expect("slug").all()[0].purpose,
        Purpose::CareAndTreatment
    );
}

/// Fuzzing found it: a TOML syntax error on a user's line quoted the line, with the
/// employee's personal identity number, into the refusal. Refusals now name line, column
/// and key names only.
#[test]
fn assignment_file_refusals_never_quote_a_personal_number() {
    let pnr = "199403143465";
    let user = |personal_id: &str| {
        format!(
            "[[user]]\nhsa_id = \"SE2321000016-N001\"\nname = \"Anna\"\ntitle = \"Sjuksköterska\"\ncare_provider = \"SE2321000016-0001\"\npersonal_id = {personal_id}\n"
        )
    };
    let cases = [
        // The input fuzzing found: a value followed by garbage on the same line.
        user(&format!("\"pnr:{pnr}\"-N001\"signment]]")),
        // A number where a string belongs (serde quotes the value).
        user(pnr),
        // A key named by the number.
        format!("{}{pnr} = 1\n", user(&format!("\"{pnr}\""))),
        // The number where an HSA-ID belongs.
        user(&format!("\"{pnr}\"")).replace("SE2321000016-N001", pnr),
        // An invalid personal number.
        user(&format!("\"{}0\"", &pnr[..11])).replace(pnr, "199403143460"),
    ];
    for text in &cases {
        let e = callvault_auth::parse_file(text)
            .expect_err(text)
            .to_string();
        assert!(
            !e.contains(pnr) && !e.contains(&pnr[2..]) && !e.contains("9403143"),
            "{e}"
        );
        assert!(e.starts_with("assignments: "), "{e}");
    }
    let e = callvault_auth::parse_file(&cases[0])
        .expect_err("syntax")
        .to_string();
    assert!(e.contains("line 6, column"), "{e}");
    let e = callvault_auth::parse_file(&cases[2])
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("unknown field `…`"), "{e}");
}

/// Who may link a recording to its patient: the nurse who took the call, with
/// `view-metadata` on its unit; anyone else only under `link-patient`; nobody under emergency
/// access, in an investigation, in log review or in administration, nor a system.
#[test]
fn a_link_is_made_by_the_calls_nurse_or_under_the_documented_right() {
    let coordinator = r#"
[[assignment]]
id = "coordinator-a"
holder = "SE2321000016-C001"
care_provider = "SE2321000016-0001"
care_units = ["SE2321000016-1177"]
purpose = "vård och behandling"
rights = ["link-patient"]
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2026-12-31T00:00:00Z"
"#;
    let policy = Policy::new(
        AssignmentSet::parse(&format!("{ASSIGNMENTS}{coordinator}")).expect("assignments"),
    );
    let req = |purpose, unit: &str, emergency: Option<&str>, case: Option<&str>| AccessRequest {
        action: Action::LinkPatient,
        resource: res(CP_A, Some(unit)),
        purpose,
        assignment: None,
        emergency_reason: emergency.map(str::to_owned),
        case_number: case.map(str::to_owned),
    };
    let nurse = HsaId::parse("SE2321000016-N001").expect("hsa");
    let colleague = HsaId::parse("SE2321000016-N003").expect("hsa");
    let care = req(Purpose::CareAndTreatment, A_U1, None, None);

    // The nurse who took the call may; the same decision for someone else's call may not.
    let a = policy
        .decide(&person("SE2321000016-N001"), &care, NOW)
        .expect("decided");
    assert_eq!(a.may_link(Some(&nurse)), Ok(()));
    assert_eq!(a.may_link(Some(&colleague)), Err(Denial::NotTheCallsNurse));
    assert_eq!(a.may_link(None), Err(Denial::NotTheCallsNurse));
    // The documented right links any call of the holder's units, without view-metadata.
    let c = policy
        .decide(&person("SE2321000016-C001"), &care, NOW)
        .expect("decided");
    assert_eq!(c.may_link(Some(&nurse)), Ok(()));
    assert_eq!(c.may_link(None), Ok(()));
    // Another unit of the same care provider: only through emergency access, which never
    // links.
    let other_unit = req(Purpose::CareAndTreatment, A_U2, None, None);
    assert_eq!(
        policy
            .decide(&person("SE2321000016-N001"), &other_unit, NOW)
            .map(drop),
        Err(Denial::EmergencyAccessRequired)
    );
    let emergency = req(
        Purpose::CareAndTreatment,
        A_U2,
        Some("patienten ringer tillbaka"),
        None,
    );
    let e = policy
        .decide(&person("SE2321000016-N001"), &emergency, NOW)
        .expect("emergency decided");
    assert_eq!(e.may_link(Some(&nurse)), Err(Denial::NoLinkInEmergency));
    // Investigators, log reviewers, administrators and systems never link.
    for (who, purpose, case) in [
        ("SE2321000016-Q001", Purpose::QualityAssurance, Some("LM-1")),
        ("SE2321000016-L001", Purpose::LogReview, None),
        ("SE2321000016-A001", Purpose::Administration, None),
    ] {
        let d = policy
            .decide(&person(who), &req(purpose, A_U1, None, case), NOW)
            .map(drop)
            .expect_err("refused");
        assert!(matches!(d, Denial::NotForPurpose { .. }), "{who}: {d}");
    }
    assert_eq!(
        policy
            .decide(&system("SE2321000016-R001"), &care, NOW)
            .map(drop),
        Err(Denial::SystemsOnlyIngest)
    );
    // A decision for another action is no link decision.
    let view = AccessRequest {
        action: Action::ViewMetadata,
        ..care.clone()
    };
    let v = policy
        .decide(&person("SE2321000016-N001"), &view, NOW)
        .expect("view");
    assert!(v.may_link(Some(&nurse)).is_err());
}

/// A principal comes from a certificate: the HSA-ID from its subject, the kind from its
/// issuing CA, the fingerprint its SHA-256; a certificate of another CA, or bytes that are
/// no certificate, name nobody.
#[test]
fn a_principal_is_named_by_a_certificate_of_a_configured_ca() {
    use callvault_auth::{IdentityError, Issuers};
    use x509_parser::prelude::{FromDer, X509Certificate};
    let dir = tempfile::tempdir().expect("dir");
    let pki = callvault_pki::generate(
        &dir.path().join("pki"),
        &callvault_pki::demo_clients(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("pki");
    let der_of = |path: &std::path::Path| -> Vec<Vec<u8>> {
        let pem = std::fs::read(path).expect("pem");
        x509_parser::pem::Pem::iter_from_buffer(&pem)
            .map(|p| p.expect("pem block").contents)
            .collect()
    };
    let subject = |path: &std::path::Path| {
        let der = der_of(path).remove(0);
        let (_, x) = X509Certificate::from_der(&der).expect("ca");
        x.subject().as_raw().to_vec()
    };
    let person_ca = subject(&pki.person_ca);
    let function_ca = subject(&pki.function_ca);
    let issuers = Issuers::new(vec![person_ca.clone()], vec![function_ca]);
    let (_, chain, _, _) = pki
        .clients
        .iter()
        .find(|(n, ..)| n == "nurse-a")
        .expect("nurse-a");
    let leaf = der_of(chain).remove(0);
    let p = AuthenticatedPrincipal::from_verified_certificate(&leaf, &issuers).expect("named");
    assert_eq!(p.hsa_id().as_str(), "SE2321000016-N001");
    assert_eq!(p.kind(), PrincipalKind::Person);
    let sha: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &leaf)
        .as_ref()
        .try_into()
        .expect("32");
    assert_eq!(p.fingerprint(), &sha);
    let (_, rec_chain, _, _) = pki
        .clients
        .iter()
        .find(|(n, ..)| n == "recorder-a")
        .expect("recorder-a");
    let rec = der_of(rec_chain).remove(0);
    assert_eq!(
        AuthenticatedPrincipal::from_verified_certificate(&rec, &issuers)
            .expect("system")
            .kind(),
        PrincipalKind::System
    );
    // Only the person CA configured: the recorder's certificate names nobody.
    let persons_only = Issuers::new(vec![person_ca], vec![]);
    assert_eq!(
        AuthenticatedPrincipal::from_verified_certificate(&rec, &persons_only),
        Err(IdentityError::UnknownIssuer)
    );
    assert_eq!(
        AuthenticatedPrincipal::from_verified_certificate(b"not a certificate", &issuers),
        Err(IdentityError::Unparseable)
    );
}
