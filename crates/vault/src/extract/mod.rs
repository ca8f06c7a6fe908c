//! A patient's log extract (loggutdrag, PDL 8 kap. 4 §): every access to the patient's
//! recordings and their metadata at one care provider in a period — when, which care
//! provider and care unit, who (name and title as far as the care provider's policy
//! allows), for which purpose, what was done — as a Swedish PDF, CSV or JSON.
//!
//! Only a log reviewer (right `read-access-log`, purpose *logguppföljning*) produces one,
//! and producing it is itself audited (`audit.extract`, the patient sealed) before any
//! entry is read.

mod pdf;

use std::collections::HashMap;

use callvault_audit::event::{Action as EventAction, Outcome, SealedPatient};
use callvault_auth::{Action, Authorized};
use callvault_catalog::Change;
use callvault_types::PatientId;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::followup::rules::swedish_local;
use crate::tables::csv_text;
use crate::vault::AUDIT_SEAL_CONTEXT;
use crate::{Vault, VaultError};

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

fn action_sv(a: EventAction) -> Option<&'static str> {
    Some(match a {
        EventAction::Search => "Sökning efter patientens samtal",
        EventAction::View => "Läsning av uppgifter om samtalet",
        EventAction::Play => "Uppspelning av inspelningen",
        EventAction::Download => "Nedladdning av inspelningen",
        EventAction::Export => "Export av inspelningen",
        EventAction::PatientLink => "Samtalet kopplades till patienten",
        EventAction::PatientUnlink => "Felaktig koppling av samtalet till patienten rättades",
        _ => return None,
    })
}

fn t(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn local(t: OffsetDateTime) -> String {
    swedish_local(t)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
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
    pub fn to_csv(&self) -> Result<String, VaultError> {
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

impl Vault {
    /// Produces a patient's log extract at the decision's care provider. The
    /// `audit.extract` event (patient sealed, period, format) is written before any entry
    /// is read; a failure to write it returns nothing.
    pub fn log_extract(
        &self,
        authz: &Authorized,
        patient: &PatientId,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        format: ExtractFormat,
    ) -> Result<LogExtract, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ReadAccessLog, &cp)?;
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(VaultError::InvalidRequest(
                "the period's end must be after its start".into(),
            ));
        }
        let (sealed, bidx) = self.seal_patient(&cp, patient, AUDIT_SEAL_CONTEXT)?;
        let mut event =
            Self::decided_event(authz, EventAction::LogExtract).detail("format", format.as_str());
        if let Some(f) = from {
            event = event.detail("from", t(f));
        }
        if let Some(x) = to {
            event = event.detail("to", t(x));
        }
        event.patient = Some(SealedPatient {
            sealed,
            blind_index: bidx,
        });
        let generated_by = event.actor.to_string();
        let generated_at = event.time;
        let leaf = self.commit_step(Change::new(event))?;
        let disclosure = self.config.log_extract_staff(&cp);
        let mut staff: HashMap<String, (String, String)> = HashMap::new();
        for u in self.catalog.users(None)? {
            staff.insert(format!("person:{}", u.hsa_id), (u.name, u.title));
        }
        let mut entries = Vec::new();
        for (idx, e) in self.events_about_patient(&cp, &bidx)? {
            if idx >= leaf {
                break;
            }
            if e.outcome != Outcome::Granted
                || from.is_some_and(|f| e.time < f)
                || to.is_some_and(|x| e.time >= x)
            {
                continue;
            }
            let Some(action) = action_sv(e.action) else {
                continue;
            };
            let who = staff.get(&e.actor.to_string());
            entries.push(ExtractEntry {
                time: t(e.time),
                local_time: local(e.time),
                care_provider: e.actor_care_provider.as_ref().unwrap_or(&cp).to_string(),
                care_unit: e.actor_care_unit.as_ref().map(ToString::to_string),
                user_name: match disclosure {
                    StaffDisclosure::NameAndTitle => who.map(|w| w.0.clone()),
                    _ => None,
                },
                user_title: match disclosure {
                    StaffDisclosure::None => None,
                    _ => who.map(|w| w.1.clone()),
                },
                purpose: e.purpose.clone(),
                action,
                action_code: e.action.code(),
                emergency_access: e
                    .details
                    .iter()
                    .any(|(k, v)| k == "emergency_access" && v == "true"),
                recording: e.recording.map(|r| r.id.to_string()),
                leaf_index: idx,
            });
        }
        Ok(LogExtract {
            care_provider: cp.to_string(),
            patient: patient.expose_display(),
            from: from.map(t),
            to: to.map(t),
            generated_at: t(generated_at),
            generated_by,
            staff_disclosure: disclosure,
            extract_leaf_index: leaf,
            entries,
        })
    }
}
