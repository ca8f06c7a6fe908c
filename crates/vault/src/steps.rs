//! Steps taken under a policy decision outside a recording's own access — governance,
//! records management, log review, follow-up, exports, operations: check that the decision
//! is for the step, build the step's audit event from the decision, commit the step with it.

use callvault_audit::event::{Action as EventAction, AuditEvent};
use callvault_auth::{Action, Authorized};
use callvault_catalog::{CatalogError, Change};
use callvault_types::CareProvider;

use crate::access::{audit_actor, audit_source};
use crate::{Vault, VaultError};

/// A conflict in the catalog (not awaiting a decision, decided by its requester, …) is a
/// refusal the caller can act on; anything else stays what it is.
fn refused(e: CatalogError) -> VaultError {
    match e {
        CatalogError::Conflict(m) => VaultError::Refused(m),
        other => other.into(),
    }
}

impl Vault {
    /// Checks that a decision allows `action`  at `cp`.
    pub(crate) fn check_decision(
        authz: &Authorized,
        action: Action,
        cp: &CareProvider,
    ) -> Result<(), VaultError> {
        if authz.action() != action || &authz.resource().care_provider != cp {
            return Err(VaultError::CapabilityMismatch(format!(
                "a decision for {} on {} does not allow {action} at {cp}",
                authz.action(),
                authz.resource().care_provider
            )));
        }
        Ok(())
    }

    /// The event of a step taken under a decision: actor, assignment,
    /// care provider, purpose.
    pub(crate) fn decided_event(authz: &Authorized, action: EventAction) -> AuditEvent {
        let p = authz.principal();
        let asg = authz.assignment();
        let mut e = AuditEvent::new(audit_actor(p), action, audit_source(p));
        e.actor_care_provider = Some(asg.care_provider.clone());
        e.assignment = Some(asg.id.to_string());
        e.care_provider = Some(authz.resource().care_provider.clone());
        e.purpose = Some(authz.purpose().as_str().to_owned());
        e
    }

    /// Commits a step and its events; a conflict in the catalog becomes
    /// [`VaultError::Refused`]. Returns the first event's leaf index.
    pub(crate) fn commit_step(&self, change: Change) -> Result<u64, VaultError> {
        let c = self.catalog.commit(change).map_err(refused)?;
        c.leaf_indexes
            .first()
            .copied()
            .ok_or(VaultError::NoLeafIndex("step"))
    }
}
