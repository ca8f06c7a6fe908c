//! Retention of the audit log itself (HSLF-FS 2016:40 4 kap. 9 §: at least five years).
//!
//! Nothing is pruned automatically. A records manager registers a prune order for the
//! events before a date at least `[audit] retention_years` ago; because the log is shared
//! by every care provider, a records manager of **every** registered care provider approves
//! it (never the one who registered it); then it is executed: below the new minimum index
//! the events lose their bytes and the columns that find them, keeping index, hash, time
//! and action, so every proof stays valid. The catalog's triggers refuse anything else.
//! Each step is audited (`audit.prune-register`, `audit.prune-approve`, `audit.prune`),
//! and a checkpoint is signed after execution.

use callvault_audit::event::Action as EventAction;
use callvault_auth::{Action, Authorized};
use callvault_catalog::{AuditPruneRow, Change, Mutation, NewAuditPrune};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Vault, VaultError};

/// The least the audit log is kept, in years.
pub const MIN_AUDIT_RETENTION_YEARS: u32 = 5;

/// An approval as shown.
#[derive(Clone, Debug, Serialize)]
pub struct PruneApproval {
    /// For which care provider.
    pub care_provider: String,
    /// By whom.
    pub by: String,
    /// When.
    pub at: String,
}

/// A prune order as shown.
#[derive(Clone, Debug, Serialize)]
pub struct AuditPruneView {
    /// Id.
    pub id: String,
    /// Events before this time are pruned.
    pub before: String,
    /// The first leaf kept whole.
    pub min_index: u64,
    /// `registered` or `executed`.
    pub state: &'static str,
    /// Registered by.
    pub registered_by: String,
    /// When.
    pub registered_at: String,
    /// Approvals so far.
    pub approvals: Vec<PruneApproval>,
    /// Care providers whose approval is still missing.
    pub awaiting: Vec<String>,
    /// Executed by.
    pub executed_by: Option<String>,
    /// When.
    pub executed_at: Option<String>,
    /// Leaves pruned.
    pub pruned: Option<u64>,
}

fn t(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `years` calendar years before `now` (29 February becomes 28 February).
pub fn years_before(now: OffsetDateTime, years: u32) -> OffsetDateTime {
    let year = now.year() - years as i32;
    now.replace_year(year)
        .or_else(|_| (now - time::Duration::days(1)).replace_year(year))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Vault {
    fn prune_view(&self, r: &AuditPruneRow) -> Result<AuditPruneView, VaultError> {
        let awaiting = self
            .catalog
            .care_providers()?
            .into_iter()
            .filter(|cp| !r.approvals.iter().any(|(a, _, _)| a == cp))
            .map(|cp| cp.to_string())
            .collect();
        Ok(AuditPruneView {
            id: r.order.id.clone(),
            before: t(r.order.before),
            min_index: r.order.min_index,
            state: if r.executed.is_some() {
                "executed"
            } else {
                "registered"
            },
            registered_by: r.order.registered_by.clone(),
            registered_at: t(r.order.registered_at),
            approvals: r
                .approvals
                .iter()
                .map(|(cp, by, at)| PruneApproval {
                    care_provider: cp.to_string(),
                    by: by.clone(),
                    at: t(*at),
                })
                .collect(),
            awaiting,
            executed_by: r.executed.as_ref().map(|e| e.0.clone()),
            executed_at: r.executed.as_ref().map(|e| t(e.1)),
            pruned: r.executed.as_ref().map(|e| e.2),
        })
    }

    fn prune_order(&self, id: &str) -> Result<AuditPruneView, VaultError> {
        let r = self
            .catalog
            .audit_prunes(Some(id))?
            .into_iter()
            .next()
            .ok_or_else(|| VaultError::NoSuch(format!("prune order {id}")))?;
        self.prune_view(&r)
    }

    /// A registered (not yet executed) order, for a records manager's decision.
    fn pending_prune(&self, authz: &Authorized, id: &str) -> Result<AuditPruneView, VaultError> {
        Self::check_prune(authz)?;
        let view = self.prune_order(id)?;
        if view.state != "registered" {
            return Err(VaultError::Refused(format!(
                "prune order {id} is {}",
                view.state
            )));
        }
        Ok(view)
    }

    fn check_prune(authz: &Authorized) -> Result<(), VaultError> {
        Self::check_decision(
            authz,
            Action::ManageRecords,
            &authz.resource().care_provider,
        )
    }

    /// Registers an order to prune the audit events before `before`, which must lie at
    /// least `[audit] retention_years` in the past.
    pub fn register_audit_prune(
        &self,
        authz: &Authorized,
        before: OffsetDateTime,
    ) -> Result<AuditPruneView, VaultError> {
        Self::check_prune(authz)?;
        let years = self.config.audit_retention_years;
        let latest = years_before(OffsetDateTime::now_utc(), years);
        if before > latest {
            return Err(VaultError::InvalidRequest(format!(
                "the audit log is kept {years} years ([audit] retention_years): only events before {} may be pruned",
                t(latest)
            )));
        }
        let min_index = self.catalog.first_audit_leaf_since(before)?;
        let current = self.catalog.audit_min_index()?.map_or(0, |m| m.0);
        if min_index <= current {
            return Err(VaultError::Refused(format!(
                "no audit event before {} is left to prune (the log is pruned below leaf {current})",
                t(before)
            )));
        }
        let mut id = [0u8; 8];
        callvault_crypto::random_bytes(&mut id)?;
        let event = Self::decided_event(authz, EventAction::AuditPruneRegister);
        let order = NewAuditPrune {
            id: format!("prune-{}", hex::encode(id)),
            before,
            min_index,
            registered_by: event.actor.to_string(),
            registered_at: event.time,
        };
        let event = event
            .detail("order", &order.id)
            .detail("before", t(before))
            .detail("min_index", min_index);
        self.commit_step(Change::new(event).with(Mutation::RegisterAuditPrune(order.clone())))?;
        self.prune_order(&order.id)
    }

    /// Approves a prune order for the decision's care provider. The person who registered
    /// it cannot (403).
    pub fn approve_audit_prune(
        &self,
        authz: &Authorized,
        id: &str,
    ) -> Result<AuditPruneView, VaultError> {
        let view = self.pending_prune(authz, id)?;
        let event = Self::decided_event(authz, EventAction::AuditPruneApprove).detail("order", id);
        let by = event.actor.to_string();
        if by == view.registered_by {
            return Err(VaultError::FourEyes(
                "the person who registered a prune order does not approve it".into(),
            ));
        }
        let at = event.time;
        self.commit_step(Change::new(event).with(Mutation::ApproveAuditPrune {
            id: id.to_owned(),
            care_provider: authz.resource().care_provider.clone(),
            by,
            at,
        }))?;
        self.prune_order(id)
    }

    /// Executes a prune order approved for every care provider, truncates the write-ahead
    /// log (the dropped bytes leave it too) and signs a checkpoint.
    pub fn execute_audit_prune(
        &self,
        authz: &Authorized,
        id: &str,
    ) -> Result<AuditPruneView, VaultError> {
        let view = self.pending_prune(authz, id)?;
        if !view.awaiting.is_empty() {
            return Err(VaultError::Refused(format!(
                "prune order {id} awaits approval for {}",
                view.awaiting.join(", ")
            )));
        }
        let event = Self::decided_event(authz, EventAction::AuditPrune)
            .detail("order", id)
            .detail("before", &view.before)
            .detail("min_index", view.min_index);
        let by = event.actor.to_string();
        let at = event.time;
        self.commit_step(Change::new(event).with(Mutation::ExecuteAuditPrune {
            id: id.to_owned(),
            by,
            at,
        }))?;
        self.catalog.truncate_wal()?;
        self.checkpoint()?;
        self.prune_order(id)
    }

    /// Every prune order (audited as `records.read`).
    pub fn audit_prunes(&self, authz: &Authorized) -> Result<Vec<AuditPruneView>, VaultError> {
        Self::check_prune(authz)?;
        let rows = self.catalog.audit_prunes(None)?;
        let e = Self::decided_event(authz, EventAction::RecordsRead)
            .detail("what", "audit prune orders");
        self.commit_step(Change::new(e))?;
        rows.iter().map(|r| self.prune_view(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn years_before_handles_leap_days() {
        assert_eq!(
            years_before(datetime!(2026-11-27 12:00 UTC), 5),
            datetime!(2021-11-27 12:00 UTC)
        );
        assert_eq!(
            years_before(datetime!(2028-02-29 08:00 UTC), 5),
            datetime!(2023-02-28 08:00 UTC)
        );
    }
}
