//! Audit events as FHIR R4 `AuditEvent` resources following the IHE Basic Audit Log
//! Patterns (BALP): PatientRead, PatientQuery, PatientCreate, PatientUpdate and
//! PatientDelete for accesses to a patient's recordings, with the patient entity, the user
//! agent as `requestor`, the client and server agents, and the purpose of use; other events
//! as plain `AuditEvent`s.
//!
//! These are the mappings; the vault's export (`Vault::fhir_export`) is a log reviewer's action (`read-audit`, purpose *logguppföljning*), itself
//! audited (`audit.export`). Patients are exported as a pseudonym (the care provider's
//! blind index) unless clear identifiers are asked for, which the export event records.

use base64::Engine as _;
use callvault_audit::event::{Action as EventAction, ActionKind, Actor, AuditEvent, Outcome};
use callvault_types::{CareProvider, PatientId, PatientIdKind};
use serde_json::{Value, json};

use crate::clock::rfc3339 as t;

/// The BALP profiles' canonical base.
pub const BALP: &str = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.";
/// HSA-ID identifier system (OID 1.2.752.29.4.19).
pub const HSA_SYSTEM: &str = "urn:oid:1.2.752.29.4.19";
/// Personnummer identifier system (OID 1.2.752.129.2.1.3.1).
pub const PERSONNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.1";
/// Samordningsnummer identifier system (OID 1.2.752.129.2.1.3.3).
pub const SAMORDNINGSNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.3";
/// Longest period one export covers.
pub const MAX_EXPORT_DAYS: i64 = 366;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

/// How patients appear in exported events.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PatientIdentifiers {
    /// The care provider's blind index (hex): the same patient always gets the same value,
    /// and the value says nothing without the care provider's key.
    Pseudonym,
    /// The personnummer, samordningsnummer or reserve number, unsealed.
    Clear,
}

impl PatientIdentifiers {
    /// Parses `pseudonym` or `clear`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pseudonym" => Some(Self::Pseudonym),
            "clear" => Some(Self::Clear),
            _ => None,
        }
    }
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pseudonym => "pseudonym",
            Self::Clear => "clear",
        }
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

fn purpose_codes(purpose: &str, emergency: bool) -> Vec<Value> {
    let mut codes = Vec::new();
    if emergency {
        codes.push(coding(ACT_REASON, "ETREAT", "Emergency Treatment"));
    }
    let c = match purpose {
        "vård och behandling" => coding(ACT_REASON, "TREAT", "treatment"),
        "kvalitetssäkring" => coding(ACT_REASON, "PATSFTY", "patient safety"),
        "logguppföljning" => coding(ACT_REASON, "HOPERAT", "healthcare operations"),
        "administration" => coding(ACT_REASON, "HSYSADMIN", "health system administration"),
        _ => return codes,
    };
    codes.push(c);
    codes
}

/// What kind of BALP event an action is: profile, FHIR type/subtype, action code.
fn kind(a: EventAction, has_patient: bool) -> (Option<&'static str>, Value, Value, &'static str) {
    let rest = coding(
        "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "rest",
        "Restful Operation",
    );
    let interaction = |code: &str, display: &str| {
        coding("http://hl7.org/fhir/restful-interaction", code, display)
    };
    let patient = |p: &'static str, other: &'static str| Some(if has_patient { p } else { other });
    match a.kind() {
        ActionKind::PatientQuery => (
            patient("PatientQuery", "Query"),
            rest,
            interaction("search-type", "search type"),
            "E",
        ),
        ActionKind::PatientRead | ActionKind::PatientExport => (
            patient("PatientRead", "Read"),
            rest,
            interaction("read", "read"),
            "R",
        ),
        ActionKind::PatientCreate => (
            patient("PatientCreate", "Create"),
            rest,
            interaction("create", "create"),
            "C",
        ),
        ActionKind::PatientUpdate => (
            patient("PatientUpdate", "Update"),
            rest,
            interaction("update", "update"),
            "U",
        ),
        ActionKind::PatientDelete => (
            patient("PatientDelete", "Delete"),
            rest,
            interaction("delete", "delete"),
            "D",
        ),
        ActionKind::LogExport
        | ActionKind::BlobsDeleted
        | ActionKind::SecurityRoles
        | ActionKind::SecurityAlert
        | ActionKind::Operation => (
            None,
            coding(DCM, "110100", "Application Activity"),
            coding("urn:callvault:audit-action", a.code(), a.code()),
            "E",
        ),
    }
}

/// A patient as exported: an identifier system and value (a pseudonym, or the unsealed id).
#[derive(Clone, PartialEq, Eq)]
pub struct PatientRef {
    /// Identifier system (URI).
    pub system: String,
    /// Value.
    pub value: String,
}

impl std::fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatientRef({}, <redacted>)", self.system)
    }
}

impl PatientRef {
    /// The unsealed patient.
    pub fn clear(p: &PatientId) -> Self {
        let system = match p.kind() {
            PatientIdKind::Personnummer => PERSONNUMMER_SYSTEM,
            PatientIdKind::Samordningsnummer => SAMORDNINGSNUMMER_SYSTEM,
            _ => "urn:callvault:reserve-number",
        };
        Self {
            system: system.to_owned(),
            value: p.expose_value().to_owned(),
        }
    }
    /// The care provider's pseudonym (blind index) of a patient.
    pub fn pseudonym(cp: Option<&CareProvider>, blind_index: &[u8; 32]) -> Self {
        Self {
            system: format!(
                "urn:callvault:patient-pseudonym:{}",
                cp.map(CareProvider::as_str).unwrap_or("")
            ),
            value: hex::encode(blind_index),
        }
    }
}

/// What the export formats (FHIR, ATNA) need besides the event.
#[derive(Clone, Debug, Default)]
pub struct ExportContext {
    /// The log's origin (checkpoint origin line): names the server agent and the source.
    pub origin: String,
    /// The patient (pseudonymised or unsealed), if the event has one.
    pub patient: Option<PatientRef>,
    /// The acting person's name and title, if registered.
    pub actor_name: Option<(String, String)>,
}

/// One audit event (leaf `idx`) as a FHIR R4 AuditEvent.
pub fn to_fhir(idx: u64, e: &AuditEvent, ctx: &ExportContext) -> Value {
    let (profile, type_, subtype, action) = kind(e.action, ctx.patient.is_some());
    let emergency = e
        .details
        .iter()
        .any(|(k, v)| k == "emergency_access" && v == "true");
    let purposes: Vec<Value> = e
        .purpose
        .as_deref()
        .map(|p| purpose_codes(p, emergency))
        .unwrap_or_default()
        .into_iter()
        .map(|c| json!({"coding": [c]}))
        .collect();
    let (outcome, desc) = match &e.outcome {
        Outcome::Granted => ("0", None),
        Outcome::Denied(r) => ("4", Some(format!("denied: {r}"))),
        Outcome::Failed(r) => ("8", Some(format!("failed: {r}"))),
    };

    // The requesting agent: a person or system by HSA-ID, an operator or the vault by name.
    let mut user = json!({
        "type": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", "information recipient")]},
        "requestor": true,
    });
    match &e.actor {
        Actor::Person(h) | Actor::System(h) => {
            user["who"] = json!({"identifier": {"system": HSA_SYSTEM, "value": h.as_str()}});
            if let Some((name, title)) = &ctx.actor_name {
                user["who"]["display"] = json!(name);
                user["role"] = json!([{"text": title}]);
            }
        }
        Actor::Operator(o) => user["who"] = json!({"display": format!("operator {o}")}),
        Actor::Vault => user["who"] = json!({"display": "callvault"}),
    }
    if let Some(u) = &e.actor_care_unit {
        user["location"] = json!({"identifier": {"system": HSA_SYSTEM, "value": u.as_str()}, "display": "care unit"});
    }
    if let Some(a) = &e.assignment {
        user["policy"] = json!([format!("urn:callvault:assignment:{a}")]);
    }
    if !purposes.is_empty() {
        user["purposeOfUse"] = json!(purposes);
    }
    let client = json!({
        "type": {"coding": [coding(DCM, "110153", "Source Role ID")]},
        "who": {"display": e.source},
        "requestor": false,
    });
    let server = json!({
        "type": {"coding": [coding(DCM, "110152", "Destination Role ID")]},
        "who": {"display": format!("callvault {}", ctx.origin)},
        "requestor": false,
    });

    let mut entities = Vec::new();
    if let Some(p) = &ctx.patient {
        entities.push(json!({
            "what": {"identifier": {"system": p.system, "value": p.value}},
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
        }));
    }
    if let Some(r) = &e.recording {
        entities.push(json!({
            "what": {"identifier": {"system": "urn:callvault:recording", "value": r.id.to_string()}},
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
            "description": "recorded call",
        }));
    }
    let details: Vec<(&str, &str)> = e
        .details
        .iter()
        // FHIR strings are never empty: a detail without a value is left out.
        .filter(|(k, v)| !k.ends_with("_sealed") && !v.trim().is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut detail: Vec<Value> =
        vec![json!({"type": "leaf_index", "valueString": idx.to_string()})];
    if let Some(cp) = &e.care_provider {
        detail.push(json!({"type": "care_provider", "valueString": cp.as_str()}));
    }
    for (k, v) in &details {
        detail.push(json!({"type": k, "valueString": v}));
    }
    let mut log = json!({
        "what": {"identifier": {"system": format!("urn:callvault:audit-log:{}", ctx.origin), "value": idx.to_string()}},
        "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
        "description": format!("callvault audit log leaf {idx} ({})", e.action.code()),
        "detail": detail,
    });
    if e.action == EventAction::Search {
        // BALP PatientQuery: the query entity carries the search parameters (never the
        // patient, who is in the patient entity).
        let q: serde_json::Map<String, Value> = details
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        log["role"] = coding(
            "http://terminology.hl7.org/CodeSystem/object-role",
            "24",
            "Query",
        );
        log["query"] = json!(
            base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&q).unwrap_or_default())
        );
    }
    entities.push(log);

    let mut r = json!({
        "resourceType": "AuditEvent",
        "id": format!("cv-{idx}"),
        "type": type_,
        "subtype": [subtype],
        "action": action,
        "recorded": t(e.time),
        "outcome": outcome,
        "agent": [user, client, server],
        "source": {
            "site": ctx.origin,
            "observer": {"display": format!("callvault {}", ctx.origin)},
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
        },
        "entity": entities,
    });
    if let Some(p) = profile {
        r["meta"] = json!({"profile": [format!("{BALP}{p}")]});
    }
    if let Some(d) = desc {
        r["outcomeDesc"] = json!(d);
    }
    if !purposes.is_empty() {
        r["purposeOfEvent"] = json!(purposes);
    }
    r
}
