//! Who may do what: principals, assignments (medarbetaruppdrag) and the access policy.
//!
//! The policy is default deny. A request is allowed only under an active assignment of the
//! principal that covers the care provider, the care unit, the purpose and the right; the
//! answer is a capability value:
//!
//! * [`AuthenticatedPrincipal`] — who, as established by the TLS layer from a verified
//!   SITHS certificate;
//! * [`Authorized`] — a decision that allows exactly one action on one resource; only
//!   [`Policy::decide`] can build one, so code that hands out plaintext and takes an
//!   `Authorized` cannot be reached without the policy having said yes.
//!
//! This crate knows no HTTP, TLS or storage: it decides, others enforce and audit.

mod assignment;
mod policy;
mod principal;

pub use assignment::{
    Assignment, AssignmentError, AssignmentId, AssignmentSet, AssignmentSpec,
    DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS, Purpose, Right, UserEntry, check as check_assignment,
    check_text, parse_file,
};
pub use policy::{
    AccessRequest, Action, Authorized, Denial, MAX_CASE_NUMBER, MAX_EMERGENCY_REASON, Policy,
    Resource, UnitScope, UnknownResourceRequest,
};
pub use principal::{AuthenticatedPrincipal, IdentityError, Issuers, PrincipalKind};
