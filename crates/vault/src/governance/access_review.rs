//! The access review (behörighetsuppföljning): every assignment in force at a care
//! provider with requester, approver, age, last use and flags, as JSON, CSV and text.

use callvault_audit::event::{Action as EventAction, Actor, AuditEvent};
use callvault_auth::Authorized;
use callvault_catalog::{AssignmentOrigin, AssignmentState};
use callvault_types::CareProvider;
use serde::Serialize;
use time::OffsetDateTime;

use super::{EXPIRING_SOON_DAYS, UNUSED_DAYS, rfc3339};
use crate::{Vault, VaultError};

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
    pub fn to_csv(&self) -> Result<String, VaultError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| VaultError::Refused(format!("writing CSV: {e}"));
        w.write_record(REVIEW_COLUMNS).map_err(fail)?;
        for e in &self.assignments {
            w.write_record([
                e.id.as_str(),
                &e.holder,
                &e.holder_name,
                &e.holder_title,
                &e.purpose,
                &e.rights.join(" "),
                &e.care_units.join(" "),
                &e.requested_by,
                &e.approved_by,
                &e.approved_at,
                &e.valid_from,
                &e.valid_until,
                &e.age_days.to_string(),
                e.last_use.as_deref().unwrap_or(""),
                if e.expiring_soon { "yes" } else { "no" },
                if e.unused { "yes" } else { "no" },
                &e.origin,
            ])
            .map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| VaultError::Refused(format!("writing CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|_| VaultError::Refused("CSV is not UTF-8".into()))
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

impl Vault {
    /// The access review of the administrator's care provider; the read is audited.
    pub fn access_review(&self, authz: &Authorized) -> Result<AccessReview, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_admin(authz, &cp)?;
        let e =
            Self::decided_event(authz, EventAction::GovernanceRead).detail("what", "access-review");
        let now = e.time;
        self.record_read(e)?;
        self.build_access_review(&cp, now)
    }

    /// The access review of a care provider for an operator at the command line; audited.
    pub fn access_review_as_operator(
        &self,
        cp: &CareProvider,
        operator: &crate::Operator,
    ) -> Result<AccessReview, VaultError> {
        let operator: &Actor = operator.actor();
        if self.catalog.care_provider_retention(cp)?.is_none() {
            return Err(VaultError::UnknownCareProvider(cp.to_string()));
        }
        let mut e = AuditEvent::new(operator.clone(), EventAction::GovernanceRead, "cli")
            .detail("what", "access-review");
        e.care_provider = Some(cp.clone());
        let now = e.time;
        self.record_read(e)?;
        self.build_access_review(cp, now)
    }

    fn build_access_review(
        &self,
        cp: &CareProvider,
        now: OffsetDateTime,
    ) -> Result<AccessReview, VaultError> {
        let pending = self
            .catalog
            .assignments(Some(cp), Some(AssignmentState::Requested))?
            .len();
        let mut entries = Vec::new();
        for r in self
            .catalog
            .assignments(Some(cp), Some(AssignmentState::Approved))?
        {
            let a = &r.assignment;
            if a.valid_until <= now {
                continue;
            }
            let user = self.catalog.user(&a.holder)?;
            let last = self.catalog.assignment_last_use(&a.id)?;
            let approved_at = r.decision.as_ref().map(|d| d.at).unwrap_or(a.requested_at);
            let age_days = (now - approved_at).whole_days();
            let unused_since = last.unwrap_or(approved_at);
            entries.push(ReviewEntry {
                id: a.id.clone(),
                holder: a.holder.to_string(),
                holder_name: user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
                holder_title: user.as_ref().map(|u| u.title.clone()).unwrap_or_default(),
                purpose: a.purpose.clone(),
                rights: a.rights.clone(),
                care_units: a.care_units.iter().map(|u| u.to_string()).collect(),
                requested_by: a.requested_by.clone(),
                approved_by: r
                    .decision
                    .as_ref()
                    .map(|d| d.by.clone())
                    .unwrap_or_default(),
                approved_at: rfc3339(approved_at),
                valid_from: rfc3339(a.valid_from),
                valid_until: rfc3339(a.valid_until),
                age_days,
                last_use: last.map(rfc3339),
                expiring_soon: a.valid_until - now <= time::Duration::days(EXPIRING_SOON_DAYS),
                unused: now - unused_since >= time::Duration::days(UNUSED_DAYS),
                origin: match &a.origin {
                    AssignmentOrigin::Request => "request".into(),
                    AssignmentOrigin::Import(sha) => format!("import:{sha}"),
                    AssignmentOrigin::Bootstrap => "bootstrap".into(),
                },
            });
        }
        entries.sort_by(|x, y| (&x.holder, &x.id).cmp(&(&y.holder, &y.id)));
        Ok(AccessReview {
            care_provider: cp.to_string(),
            generated_at: rfc3339(now),
            pending_requests: pending,
            assignments: entries,
        })
    }
}
