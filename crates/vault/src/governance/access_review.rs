//! Gathering the access review (behörighetsuppföljning) of a care provider; its form is
//! `callvault_reporting::access_review`.

use callvault_audit::event::{Action as EventAction, Actor, AuditEvent};
use callvault_auth::Authorized;
use callvault_catalog::{AssignmentOrigin, AssignmentState};
use callvault_reporting::access_review::{
    AccessReview, EXPIRING_SOON_DAYS, ReviewEntry, UNUSED_DAYS,
};
use callvault_types::CareProvider;
use time::OffsetDateTime;

use super::rfc3339;
use crate::{Vault, VaultError};

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
