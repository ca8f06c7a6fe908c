//! The access review (behörighetsuppföljning): every assignment in force at a care
//! provider with requester, approver, age, last use and flags, as JSON, CSV and text.
//! The vault gathers it (`Vault::access_review`).

use serde::Serialize;

use crate::ReportError;
use crate::tables::csv_text;

/// An assignment not used for this many days is flagged as a candidate to revoke.
pub const UNUSED_DAYS: i64 = 90;
/// An assignment ending within this many days is flagged as expiring soon.
pub const EXPIRING_SOON_DAYS: i64 = 30;

/// One line of the access review.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewEntry {
    /// Assignment id.
    pub id: String,
    /// Holder's HSA-ID.
    pub holder: String,
    /// Holder's name (empty if the user is not registered any more).
    pub holder_name: String,
    /// Holder's title.
    pub holder_title: String,
    /// Purpose.
    pub purpose: String,
    /// Rights.
    pub rights: Vec<String>,
    /// Own care units.
    pub care_units: Vec<String>,
    /// Requested by (audit actor).
    pub requested_by: String,
    /// Approved by (audit actor).
    pub approved_by: String,
    /// When approved (RFC 3339).
    pub approved_at: String,
    /// Start of validity.
    pub valid_from: String,
    /// End of validity.
    pub valid_until: String,
    /// Days since it was approved.
    pub age_days: i64,
    /// Newest audit event made under it (RFC 3339), if any.
    pub last_use: Option<String>,
    /// Ends within [`EXPIRING_SOON_DAYS`].
    pub expiring_soon: bool,
    /// Not used for [`UNUSED_DAYS`] (or never, and older than that): a candidate to revoke.
    pub unused: bool,
    /// Where it came from: request, import:<sha256>, bootstrap.
    pub origin: String,
}

/// The access review report of one care provider: every assignment in force.
#[derive(Clone, Debug, Serialize)]
pub struct AccessReview {
    /// Care provider.
    pub care_provider: String,
    /// When produced (RFC 3339).
    pub generated_at: String,
    /// Requests awaiting a decision.
    pub pending_requests: usize,
    /// Assignments in force, by holder then id.
    pub assignments: Vec<ReviewEntry>,
}

/// Columns of the CSV form of the access review.
pub const REVIEW_COLUMNS: [&str; 17] = [
    "id",
    "holder",
    "holder_name",
    "holder_title",
    "purpose",
    "rights",
    "care_units",
    "requested_by",
    "approved_by",
    "approved_at",
    "valid_from",
    "valid_until",
    "age_days",
    "last_use",
    "expiring_soon",
    "unused_90_days",
    "origin",
];

impl AccessReview {
    /// CSV with a header row (RFC 4180 quoting; lists joined with spaces).
    pub fn to_csv(&self) -> Result<String, ReportError> {
        csv_text(
            &REVIEW_COLUMNS,
            self.assignments.iter().map(|e| {
                [
                    e.id.clone(),
                    e.holder.clone(),
                    e.holder_name.clone(),
                    e.holder_title.clone(),
                    e.purpose.clone(),
                    e.rights.join(" "),
                    e.care_units.join(" "),
                    e.requested_by.clone(),
                    e.approved_by.clone(),
                    e.approved_at.clone(),
                    e.valid_from.clone(),
                    e.valid_until.clone(),
                    e.age_days.to_string(),
                    e.last_use.clone().unwrap_or_default(),
                    if e.expiring_soon { "yes" } else { "no" }.to_owned(),
                    if e.unused { "yes" } else { "no" }.to_owned(),
                    e.origin.clone(),
                ]
            }),
        )
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A printable plain-text report (one block per assignment, flags first).
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Behörighetsuppföljning / access review\nVårdgivare / care provider: {}\nUtskriven / generated: {}\nAktiva uppdrag / assignments in force: {}\nVäntande beställningar / pending requests: {}\n",
            self.care_provider,
            self.generated_at,
            self.assignments.len(),
            self.pending_requests
        );
        for e in &self.assignments {
            let mut flags = Vec::new();
            if e.unused {
                flags.push(format!("UNUSED {UNUSED_DAYS} DAYS - candidate to revoke"));
            }
            if e.expiring_soon {
                flags.push(format!("EXPIRES WITHIN {EXPIRING_SOON_DAYS} DAYS"));
            }
            out += &format!(
                "\n{}  {}{}\n  holder:     {} {} ({})\n  purpose:    {}\n  rights:     {}\n  units:      {}\n  requested:  {}\n  approved:   {} at {}\n  valid:      {} .. {} (age {} days)\n  last use:   {}\n  origin:     {}\n",
                e.id,
                if flags.is_empty() { "" } else { "[" },
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("{}]", flags.join("; "))
                },
                e.holder,
                e.holder_name,
                e.holder_title,
                e.purpose,
                e.rights.join(", "),
                if e.care_units.is_empty() {
                    "(whole care provider)".to_owned()
                } else {
                    e.care_units.join(", ")
                },
                e.requested_by,
                e.approved_by,
                e.approved_at,
                e.valid_from,
                e.valid_until,
                e.age_days,
                e.last_use.as_deref().unwrap_or("never"),
                e.origin,
            );
        }
        out
    }
}
