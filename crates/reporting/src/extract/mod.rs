//! A patient's log extract (loggutdrag, PDL 8 kap. 4 §): every access to the patient's
//! recordings and their metadata at one care provider in a period — when, which care
//! provider and care unit, who (name and title as far as the care provider's policy
//! allows), for which purpose, what was done — as a Swedish PDF, CSV or JSON.
//!
//! This is the extract's form; the vault gathers its entries (`Vault::log_extract`).

mod pdf;

use callvault_audit::event::{Action as EventAction, ActionKind};
use serde::Serialize;

use crate::ReportError;
use crate::tables::csv_text;

/// What a log extract shows of the staff who accessed the records.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaffDisclosure {
    /// Care provider and care unit only.
    None,
    /// Also the title (e.g. "Sjuksköterska").
    Title,
    /// Also the name.
    NameAndTitle,
}

impl StaffDisclosure {
    /// Parses the configuration form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "title" => Some(Self::Title),
            "name-and-title" => Some(Self::NameAndTitle),
            _ => None,
        }
    }
}

/// The format asked for (recorded in the audit event).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExtractFormat {
    /// Swedish PDF for the patient.
    Pdf,
    /// CSV.
    Csv,
    /// JSON.
    Json,
}

impl ExtractFormat {
    /// Parses `pdf`, `csv` or `json`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pdf" => Some(Self::Pdf),
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// One access in an extract.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractEntry {
    /// When (UTC, RFC 3339).
    pub time: String,
    /// When, Swedish local time.
    pub local_time: String,
    /// The accessing user's care provider.
    pub care_provider: String,
    /// The accessing user's care unit, when recorded.
    pub care_unit: Option<String>,
    /// Name, when the care provider's policy allows.
    pub user_name: Option<String>,
    /// Title, when the care provider's policy allows.
    pub user_title: Option<String>,
    /// Purpose of use.
    pub purpose: Option<String>,
    /// What was done, in Swedish.
    pub action: &'static str,
    /// Stable action code.
    pub action_code: &'static str,
    /// Through emergency access.
    pub emergency_access: bool,
    /// The recording concerned (none for a search).
    pub recording: Option<String>,
    /// Leaf index of the access event in the audit log (verifiable against a checkpoint).
    pub leaf_index: u64,
}

/// A patient's log extract.
#[derive(Clone, Debug, Serialize)]
pub struct LogExtract {
    /// The care provider whose log this is.
    pub care_provider: String,
    /// The patient (canonical form; the extract is for the patient).
    pub patient: String,
    /// Period start, if limited.
    pub from: Option<String>,
    /// Period end (exclusive), if limited.
    pub to: Option<String>,
    /// When produced.
    pub generated_at: String,
    /// By whom (audit actor).
    pub generated_by: String,
    /// What the extract shows of the staff.
    pub staff_disclosure: StaffDisclosure,
    /// Leaf index of the `audit.extract` event.
    pub extract_leaf_index: u64,
    /// The accesses, oldest first.
    pub entries: Vec<ExtractEntry>,
}

/// What an access was, in the extract's Swedish words; `None` for events that are not an
/// access to the patient's records. Decided by the action's kind with no wildcard arm, so
/// a new action that reads, searches, exports or relinks a patient's records shows in the
/// extract (under its kind's words until it has its own) instead of being left out.
pub fn action_sv(a: EventAction) -> Option<&'static str> {
    use EventAction as A;
    let own = match a {
        A::Search => Some("Sökning efter patientens samtal"),
        A::View => Some("Läsning av uppgifter om samtalet"),
        A::Play => Some("Uppspelning av inspelningen"),
        A::Download => Some("Nedladdning av inspelningen"),
        A::Export => Some("Export av inspelningen"),
        A::PatientLink => Some("Samtalet kopplades till patienten"),
        A::PatientUnlink => Some("Felaktig koppling av samtalet till patienten rättades"),
        _ => None,
    };
    match a.kind() {
        ActionKind::PatientQuery => own.or(Some("Sökning i patientens uppgifter")),
        ActionKind::PatientRead => own.or(Some("Läsning av patientens uppgifter")),
        ActionKind::PatientExport => own.or(Some("Export av patientens uppgifter")),
        ActionKind::PatientUpdate => own.or(Some("Ändring av kopplingen till patienten")),
        // Recording a call, deleting it by order, and the log's own operations are not
        // accesses to the patient's records by a person.
        ActionKind::PatientCreate
        | ActionKind::PatientDelete
        | ActionKind::LogExport
        | ActionKind::BlobsDeleted
        | ActionKind::SecurityRoles
        | ActionKind::SecurityAlert
        | ActionKind::Operation => None,
    }
}

const CSV_COLUMNS: [&str; 12] = [
    "time_utc",
    "local_time",
    "care_provider",
    "care_unit",
    "user_name",
    "user_title",
    "purpose",
    "action",
    "action_code",
    "emergency_access",
    "recording",
    "leaf_index",
];

impl LogExtract {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// CSV, one row per access.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        csv_text(
            &CSV_COLUMNS,
            self.entries.iter().map(|e| {
                let o = |s: &Option<String>| s.clone().unwrap_or_default();
                vec![
                    e.time.clone(),
                    e.local_time.clone(),
                    e.care_provider.clone(),
                    o(&e.care_unit),
                    o(&e.user_name),
                    o(&e.user_title),
                    o(&e.purpose),
                    e.action.to_owned(),
                    e.action_code.to_owned(),
                    if e.emergency_access { "yes" } else { "no" }.to_owned(),
                    o(&e.recording),
                    e.leaf_index.to_string(),
                ]
            }),
        )
    }

    /// A Swedish PDF (A4 landscape, base-14 fonts, nothing embedded or fetched).
    pub fn to_pdf(&self) -> Vec<u8> {
        pdf::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_access_to_a_patients_records_has_swedish_words_and_nothing_else_does() {
        for &a in EventAction::ALL {
            let access = matches!(
                a.kind(),
                ActionKind::PatientQuery
                    | ActionKind::PatientRead
                    | ActionKind::PatientExport
                    | ActionKind::PatientUpdate
            );
            assert_eq!(action_sv(a).is_some(), access, "{a:?}");
        }
    }
}
