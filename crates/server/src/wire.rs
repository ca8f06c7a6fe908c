//! The request bodies of the access API, in one place: the server deserializes them, the
//! command-line client (`callvault admin|records|review …`) serializes them. Unknown fields
//! are refused; absent options are left out when sending.

use callvault_reporting::followup::FollowUpSettings;
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

fn pdf() -> String {
    "pdf".into()
}

/// A user to register (`POST /api/v1/governance/users`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub hsa_id: String,
    pub name: String,
    pub title: String,
    pub care_provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_id: Option<String>,
}

/// An assignment to request (`POST /api/v1/governance/assignments`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    pub holder: String,
    pub care_provider: String,
    #[serde(default)]
    pub care_units: Vec<String>,
    pub purpose: String,
    pub rights: Vec<String>,
    pub valid_from: String,
    pub valid_until: String,
    pub justification: String,
}

/// A decision's comment or a revocation's reason (`…/approve`, `…/reject`, `…/revoke`).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A legal hold to set (`POST /api/v1/records/holds`): recordings by id, or a patient's in a period.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub care_provider: String,
    #[serde(default)]
    pub recordings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub reason: String,
    pub case_reference: String,
}

/// A release reason or a decision comment (`…/holds/{id}/release`, `…/deletions/{id}/approve|reject`).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A deletion order to register (`POST /api/v1/records/deletions`): an IVO decision or a retention purge.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    pub kind: String,
    pub care_provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default)]
    pub recordings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// An audit-log prune order (`POST /api/v1/records/audit-prunes`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PruneBody {
    pub before: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_provider: Option<String>,
}

/// A follow-up run (`POST /api/v1/audit/follow-up`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<FollowUpSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// A reviewer's verdict on a finding (`POST /api/v1/audit/follow-up/{id}/findings/{n}`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub verdict: String,
    pub comment: String,
}

/// A protected-identity mark (`POST /api/v1/records/protected-patients`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectBody {
    pub care_provider: String,
    pub patient: String,
    #[serde(default = "yes")]
    pub protected: bool,
    pub reference: String,
}

/// A patient's log extract (`POST /api/v1/audit/log-extract`); the patient travels here, never in a URL.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractBody {
    pub patient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default = "pdf")]
    pub format: String,
}

/// A patient's access log (`POST /api/v1/patients/access-log`); the patient travels here, never in a URL.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogBody {
    pub patient: String,
}

/// A search (`POST /api/v1/recordings/search`): a patient with filters, or one call by care
/// unit and call id. The patient travels here, never in a URL (URLs end up in proxy and
/// load-balancer logs).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A patient search: the patient's recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// A call search (with `care_unit`): the one recording of a call, linked to a patient
    /// or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The care provider (may be left out when the caller holds assignments at one only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_provider: Option<String>,
    /// Calls starting at or after (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Calls starting before (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this care unit (with `call_id`: the call's unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<String>,
    /// Only calls answered by this nurse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nurse: Option<String>,
    /// Hits per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A link of a recording to its patient (`POST /api/v1/recordings/{id}/patient`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The patient; never echoed in errors.
    pub patient_id: String,
    /// Why the current link is wrong (required when the recording has a patient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
