//! The request bodies of the access API, in one place: the server deserializes them, the
//! command-line client (`callvault admin|records|review …`) serializes them. Unknown fields
//! are refused; absent options are left out when sending.

use callvault_vault::followup::FollowUpSettings;
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
