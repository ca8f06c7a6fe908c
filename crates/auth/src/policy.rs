//! The access policy: default deny, decided per request.

use std::collections::BTreeSet;
use std::fmt;

use callvault_types::{CareProvider, CareUnit};
use time::OffsetDateTime;

use crate::{
    Assignment, AssignmentId, AssignmentSet, AuthenticatedPrincipal, PrincipalKind, Purpose, Right,
};

/// Shortest accepted emergency-access reason, in characters.
pub const MIN_EMERGENCY_REASON: usize = 10;
/// Longest accepted emergency-access reason, in characters: a reason is a sentence or two,
/// and it is sealed into an audit event whose fields have a bounded length.
pub const MAX_EMERGENCY_REASON: usize = 1000;
/// Longest accepted investigation case number, in characters.
pub const MAX_CASE_NUMBER: usize = 64;

/// What the caller wants to do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// Deliver a recording.
    Ingest,
    /// Search recordings.
    Search,
    /// Read a recording's metadata.
    ViewMetadata,
    /// Stream audio (a byte range).
    Play,
    /// Download a whole recording.
    Download,
    /// Read the audit log.
    ReadAudit,
    /// Read a patient's access log.
    ReadAccessLog,
    /// Register users; request, approve, reject or revoke assignments; read the access
    /// review (purpose administration only).
    ManagePrivileges,
    /// Legal holds, retention reports and deletion orders (purpose administration only).
    ManageRecords,
    /// Read the vault's operational status: sites, repair and scrub progress, key versions,
    /// checkpoints, volumes (counts only; purpose administration only).
    Operate,
    /// Link a recording to the patient the call was about, or correct the link (care and
    /// treatment only; see [`Authorized::may_link`] for who).
    LinkPatient,
}

impl Action {
    /// The right this action needs.
    pub fn right(self) -> Right {
        match self {
            Self::Ingest => Right::Ingest,
            Self::Search => Right::Search,
            Self::ViewMetadata => Right::ViewMetadata,
            Self::Play => Right::Play,
            Self::Download => Right::Download,
            Self::ReadAudit => Right::ReadAudit,
            Self::ReadAccessLog => Right::ReadAccessLog,
            Self::ManagePrivileges => Right::ManagePrivileges,
            Self::ManageRecords => Right::ManageRecords,
            Self::Operate => Right::Operate,
            Self::LinkPatient => Right::LinkPatient,
        }
    }

    /// Whether the action reveals audio or identifying metadata of recordings.
    pub fn touches_recordings(self) -> bool {
        matches!(
            self,
            Self::Search | Self::ViewMetadata | Self::Play | Self::Download | Self::LinkPatient
        )
    }
}

/// What the action is on: a care provider's data, optionally one care unit's.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Resource {
    /// Owner of the data.
    pub care_provider: CareProvider,
    /// The unit the recording belongs to; `None` for care-provider-wide actions (a search
    /// over all of the caller's units, the audit log).
    pub care_unit: Option<CareUnit>,
}

/// A request to decide.
#[derive(Clone, Debug)]
pub struct AccessRequest {
    /// The action.
    pub action: Action,
    /// On what.
    pub resource: Resource,
    /// The purpose the caller states.
    pub purpose: Purpose,
    /// Use this assignment (when the caller holds several).
    pub assignment: Option<AssignmentId>,
    /// Emergency access (nödåtkomst): the caller's reason.
    pub emergency_reason: Option<String>,
    /// Patient-safety investigation: the case number.
    pub case_number: Option<String>,
}

/// Which care units an authorized search or read may touch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum UnitScope {
    /// Only these units (a nurse's own units).
    Units(BTreeSet<CareUnit>),
    /// Every unit of the care provider (investigation, emergency access, log review).
    WholeCareProvider,
}

impl UnitScope {
    /// Whether `unit` is inside the scope.
    pub fn contains(&self, unit: &CareUnit) -> bool {
        match self {
            Self::Units(u) => u.contains(unit),
            Self::WholeCareProvider => true,
        }
    }
}

/// Why a request was refused. The message is safe to show to the caller and to record.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// No active assignment for this purpose.
    #[error("no active assignment for purpose \"{0}\"")]
    NoActiveAssignment(Purpose),
    /// The named assignment is not the caller's, not active, or for another purpose.
    #[error("assignment {0} is not an active assignment of yours for this purpose")]
    NotYourAssignment(String),
    /// The resource belongs to another care provider than the assignment.
    #[error("the data belongs to another care provider; nobody crosses care providers")]
    OtherCareProvider,
    /// The assignment lacks the right.
    #[error("the assignment does not grant the right \"{0}\"")]
    MissingRight(&'static str),
    /// Systems (function certificates) may only deliver recordings.
    #[error("systems may only deliver recordings")]
    SystemsOnlyIngest,
    /// Persons do not deliver recordings.
    #[error("recordings are delivered by recorder systems, not by persons")]
    PersonsDoNotIngest,
    /// The unit is not one of the caller's and no emergency reason was given.
    #[error(
        "the recording belongs to another care unit; emergency access (with a reason) is required"
    )]
    EmergencyAccessRequired,
    /// The emergency reason is too short.
    #[error("an emergency access reason must be at least {MIN_EMERGENCY_REASON} characters")]
    EmergencyReasonTooShort,
    /// The emergency reason is too long.
    #[error("an emergency access reason may be at most {MAX_EMERGENCY_REASON} characters")]
    EmergencyReasonTooLong,
    /// An investigation needs its case number.
    #[error("patient-safety investigations require a case number")]
    CaseNumberRequired,
    /// The case number is too long or holds control characters.
    #[error("a case number is at most {MAX_CASE_NUMBER} characters, without control characters")]
    CaseNumberInvalid,
    /// The action is not possible under this purpose (log review never gets audio;
    /// administration never gets audio or identifying metadata).
    #[error("purpose \"{purpose}\" does not allow this action")]
    NotForPurpose {
        /// The purpose.
        purpose: Purpose,
    },
    /// A link to a patient is made by the nurse who took the call, or under the right
    /// `link-patient`.
    #[error(
        "only the nurse who took the call, or someone with the right \"link-patient\", links it to a patient"
    )]
    NotTheCallsNurse,
    /// Links are not made under emergency access.
    #[error("a recording is not linked to a patient under emergency access")]
    NoLinkInEmergency,
}

impl Denial {
    /// The reason in Swedish, for the web UI's Swedish pages (the English is `Display`, which
    /// is also what audit events record). No wildcard: a new reason needs its Swedish.
    pub fn swedish(&self) -> String {
        match self {
            Self::NoActiveAssignment(p) => {
                format!("du har inget aktivt uppdrag för ändamålet \"{p}\"")
            }
            Self::NotYourAssignment(id) => {
                format!("uppdrag {id} är inte ett aktivt uppdrag för dig med detta ändamål")
            }
            Self::OtherCareProvider => {
                "uppgifterna hör till en annan vårdgivare; ingen går över vårdgivargränsen".into()
            }
            Self::MissingRight(r) => format!("uppdraget ger inte behörigheten \"{r}\""),
            Self::SystemsOnlyIngest => "system får bara leverera inspelningar".into(),
            Self::PersonsDoNotIngest => {
                "inspelningar levereras av inspelningssystem, inte av personer".into()
            }
            Self::EmergencyAccessRequired => {
                "inspelningen hör till en annan vårdenhet; det krävs nödåtkomst med en motivering"
                    .into()
            }
            Self::EmergencyReasonTooShort => format!(
                "motiveringen till nödåtkomst måste vara minst {MIN_EMERGENCY_REASON} tecken"
            ),
            Self::EmergencyReasonTooLong => {
                format!("motiveringen till nödåtkomst får vara högst {MAX_EMERGENCY_REASON} tecken")
            }
            Self::CaseNumberRequired => "en händelseutredning kräver ett ärendenummer".into(),
            Self::CaseNumberInvalid => {
                format!("ett ärendenummer är högst {MAX_CASE_NUMBER} tecken, utan styrtecken")
            }
            Self::NotForPurpose { purpose } => {
                format!("ändamålet \"{purpose}\" tillåter inte denna åtgärd")
            }
            Self::NotTheCallsNurse => "bara sjuksköterskan som tog samtalet, eller den som har \
                 behörigheten \"link-patient\", kopplar det till en patient"
                .into(),
            Self::NoLinkInEmergency => {
                "en inspelning kopplas inte till en patient under nödåtkomst".into()
            }
        }
    }

    /// Reads a denial back from the reason an audit event recorded (its `Display` form), so
    /// that a stored refusal can be shown in the reader's language. `None` for reasons that
    /// are not the policy's (refusals before the policy ran record the problem's text).
    pub fn from_reason(s: &str) -> Option<Self> {
        let fixed = [
            Self::OtherCareProvider,
            Self::SystemsOnlyIngest,
            Self::PersonsDoNotIngest,
            Self::EmergencyAccessRequired,
            Self::EmergencyReasonTooShort,
            Self::EmergencyReasonTooLong,
            Self::CaseNumberRequired,
            Self::CaseNumberInvalid,
            Self::NotTheCallsNurse,
            Self::NoLinkInEmergency,
        ];
        if let Some(d) = fixed.into_iter().find(|d| d.to_string() == s) {
            return Some(d);
        }
        let between = |prefix: &str, suffix: &str| s.strip_prefix(prefix)?.strip_suffix(suffix);
        if let Some(p) = between("no active assignment for purpose \"", "\"") {
            return Purpose::parse(p).map(Self::NoActiveAssignment);
        }
        if let Some(id) = between(
            "assignment ",
            " is not an active assignment of yours for this purpose",
        ) {
            return Some(Self::NotYourAssignment(id.to_owned()));
        }
        if let Some(r) = between("the assignment does not grant the right \"", "\"") {
            return Right::parse(r).map(|r| Self::MissingRight(r.as_str()));
        }
        if let Some(p) = between("purpose \"", "\" does not allow this action") {
            return Purpose::parse(p).map(|purpose| Self::NotForPurpose { purpose });
        }
        None
    }
}

/// A decision that allows one action on one resource. Only [`Policy::decide`] builds one.
#[derive(Clone, Debug)]
pub struct Authorized {
    principal: AuthenticatedPrincipal,
    assignment: Assignment,
    action: Action,
    resource: Resource,
    purpose: Purpose,
    scope: UnitScope,
    emergency_reason: Option<String>,
    case_number: Option<String>,
}

impl Authorized {
    /// Who.
    pub fn principal(&self) -> &AuthenticatedPrincipal {
        &self.principal
    }
    /// Under which assignment.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }
    /// What.
    pub fn action(&self) -> Action {
        self.action
    }
    /// On what.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
    /// Why.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
    /// Which care units the action may touch.
    pub fn scope(&self) -> &UnitScope {
        &self.scope
    }
    /// Whether this is emergency access (always flagged in the audit event).
    pub fn is_emergency(&self) -> bool {
        self.emergency_reason.is_some()
    }
    /// The emergency-access reason (free text; sealed before it is stored).
    pub fn emergency_reason(&self) -> Option<&str> {
        self.emergency_reason.as_deref()
    }
    /// The investigation's case number.
    pub fn case_number(&self) -> Option<&str> {
        self.case_number.as_deref()
    }

    /// Whether this decision may link a recording, taken by `taken_by`, to a patient (or
    /// correct its link): the nurse who took the call may, with `view-metadata` on the
    /// recording's unit; anyone else needs the documented right `link-patient`. Never under
    /// emergency access. The policy has already checked the unit against the decision's
    /// scope when the decision names the recording's unit.
    pub fn may_link(&self, taken_by: Option<&callvault_types::HsaId>) -> Result<(), Denial> {
        if self.action != Action::LinkPatient {
            return Err(Denial::NotForPurpose {
                purpose: self.purpose,
            });
        }
        if self.is_emergency() {
            return Err(Denial::NoLinkInEmergency);
        }
        if self.assignment.rights.contains(&Right::LinkPatient)
            || taken_by == Some(self.principal.hsa_id())
        {
            Ok(())
        } else {
            Err(Denial::NotTheCallsNurse)
        }
    }
}

/// The policy over a set of assignments.
#[derive(Clone, Debug)]
pub struct Policy {
    assignments: AssignmentSet,
}

impl Policy {
    /// A policy over these assignments. Only the vault, which holds the approved
    /// assignments (feature `policy-source`), and tests (`test-support`) build one: a policy
    /// over a made-up assignment set would decide anything.
    #[cfg(any(test, feature = "policy-source", feature = "test-support"))]
    pub fn new(assignments: AssignmentSet) -> Self {
        Self { assignments }
    }

    /// The assignments.
    pub fn assignments(&self) -> &AssignmentSet {
        &self.assignments
    }

    /// This policy without assignment `id` (a revocation applied at once, even when the
    /// policy cannot be rebuilt from storage).
    pub fn without(&self, id: &AssignmentId) -> Policy {
        let kept: Vec<Assignment> = self
            .assignments
            .all()
            .iter()
            .filter(|a| &a.id != id)
            .cloned()
            .collect();
        Policy {
            assignments: AssignmentSet::from_checked(kept),
        }
    }

    /// Whether `holder` still holds assignment `id`, active at `now`: what an open audio
    /// stream asks between chunks, so that a revocation or expiry stops it at once.
    pub fn in_force(
        &self,
        id: &AssignmentId,
        holder: &callvault_types::HsaId,
        now: OffsetDateTime,
    ) -> bool {
        self.assignments
            .held_by(holder)
            .any(|a| &a.id == id && a.is_active(now))
    }

    /// Decides a request at time `now`: an [`Authorized`] value, or the reason it is denied.
    pub fn decide(
        &self,
        principal: &AuthenticatedPrincipal,
        req: &AccessRequest,
        now: OffsetDateTime,
    ) -> Result<Authorized, Denial> {
        check_free_text(req.emergency_reason.as_deref(), req.case_number.as_deref())?;
        let candidates = self.candidates(principal, req.purpose, req.assignment.as_ref(), now)?;
        let mut first_denial = None;
        for a in candidates {
            match decide_under(principal, a, req) {
                Ok(scope) => {
                    return Ok(Authorized {
                        principal: principal.clone(),
                        assignment: a.clone(),
                        action: req.action,
                        resource: req.resource.clone(),
                        purpose: req.purpose,
                        scope,
                        emergency_reason: if scope_is_emergency(a, req) {
                            req.emergency_reason.clone()
                        } else {
                            None
                        },
                        case_number: (req.purpose == Purpose::QualityAssurance)
                            .then(|| req.case_number.clone())
                            .flatten(),
                    });
                }
                Err(d) => {
                    first_denial.get_or_insert(d);
                }
            }
        }
        Err(first_denial.unwrap_or(Denial::NoActiveAssignment(req.purpose)))
    }

    /// The refusal of a request on a resource that does not exist: exactly the refusal the
    /// caller gets for a resource of a care provider none of their assignments covers, so
    /// that "does not exist" and "not yours" cannot be told apart.
    pub fn refuse_unknown(
        &self,
        principal: &AuthenticatedPrincipal,
        req: &UnknownResourceRequest<'_>,
        now: OffsetDateTime,
    ) -> Denial {
        if let Err(d) = check_free_text(req.emergency_reason, req.case_number) {
            return d;
        }
        match self.candidates(principal, req.purpose, req.assignment, now) {
            Err(d) => d,
            Ok(c) if c.is_empty() => Denial::NoActiveAssignment(req.purpose),
            // Every candidate refuses a foreign resource first of all (see `decide_under`).
            Ok(_) => Denial::OtherCareProvider,
        }
    }

    /// The caller's active assignments for `purpose` (only `want`, if named).
    fn candidates<'a>(
        &'a self,
        principal: &'a AuthenticatedPrincipal,
        purpose: Purpose,
        want: Option<&AssignmentId>,
        now: OffsetDateTime,
    ) -> Result<Vec<&'a Assignment>, Denial> {
        let mut candidates: Vec<&Assignment> = self
            .assignments
            .held_by(principal.hsa_id())
            .filter(|a| a.is_active(now) && a.purpose == purpose)
            .collect();
        if let Some(want) = want {
            candidates.retain(|a| &a.id == want);
            if candidates.is_empty() {
                return Err(Denial::NotYourAssignment(want.to_string()));
            }
        }
        Ok(candidates)
    }
}

/// A request on a resource that does not exist: what [`Policy::refuse_unknown`] decides on.
#[derive(Clone, Copy, Debug)]
pub struct UnknownResourceRequest<'a> {
    /// The purpose the caller states.
    pub purpose: Purpose,
    /// The assignment the caller names, if any.
    pub assignment: Option<&'a AssignmentId>,
    /// The emergency reason the caller gives, if any.
    pub emergency_reason: Option<&'a str>,
    /// The case number the caller gives, if any.
    pub case_number: Option<&'a str>,
}

/// Free text the caller supplies is bounded before it is decided on or recorded.
fn check_free_text(
    emergency_reason: Option<&str>,
    case_number: Option<&str>,
) -> Result<(), Denial> {
    if emergency_reason.is_some_and(|r| r.trim().chars().count() > MAX_EMERGENCY_REASON) {
        return Err(Denial::EmergencyReasonTooLong);
    }
    if case_number.is_some_and(|c| {
        c.trim().chars().count() > MAX_CASE_NUMBER || c.chars().any(char::is_control)
    }) {
        return Err(Denial::CaseNumberInvalid);
    }
    Ok(())
}

/// Whether an allowed care-and-treatment request used emergency access.
fn scope_is_emergency(a: &Assignment, req: &AccessRequest) -> bool {
    req.purpose == Purpose::CareAndTreatment
        && req.emergency_reason.is_some()
        && req
            .resource
            .care_unit
            .as_ref()
            .is_none_or(|u| !a.care_units.contains(u))
}

fn decide_under(
    p: &AuthenticatedPrincipal,
    a: &Assignment,
    req: &AccessRequest,
) -> Result<UnitScope, Denial> {
    // Nobody crosses care providers.
    if a.care_provider != req.resource.care_provider {
        return Err(Denial::OtherCareProvider);
    }
    match p.kind() {
        PrincipalKind::System => {
            if req.action != Action::Ingest {
                return Err(Denial::SystemsOnlyIngest);
            }
            require(a, Right::Ingest)?;
            return Ok(UnitScope::WholeCareProvider);
        }
        PrincipalKind::Person => {
            if req.action == Action::Ingest {
                return Err(Denial::PersonsDoNotIngest);
            }
        }
    }
    match req.purpose {
        Purpose::CareAndTreatment => {
            if !req.action.touches_recordings() {
                return Err(Denial::NotForPurpose {
                    purpose: req.purpose,
                });
            }
            if req.action == Action::LinkPatient {
                // The nurse who took the call links with `view-metadata`; the rest is
                // decided on the recording (`Authorized::may_link`).
                require(a, Right::LinkPatient).or_else(|_| require(a, Right::ViewMetadata))?;
            } else {
                require(a, req.action.right())?;
            }
            let reason = req.emergency_reason.as_deref();
            let emergency = || match reason {
                None => Err(Denial::EmergencyAccessRequired),
                Some(r) if r.trim().chars().count() < MIN_EMERGENCY_REASON => {
                    Err(Denial::EmergencyReasonTooShort)
                }
                // Emergency access: any unit of the same care provider, always flagged.
                Some(_) => Ok(UnitScope::WholeCareProvider),
            };
            match &req.resource.care_unit {
                // A recording of one of the caller's own units.
                Some(u) if a.care_units.contains(u) => Ok(UnitScope::Units(a.care_units.clone())),
                // Another unit of the same care provider: emergency access only.
                Some(_) => emergency(),
                // A search: the caller's own units, or the whole care provider in an emergency.
                None if reason.is_none() => Ok(UnitScope::Units(a.care_units.clone())),
                None => emergency(),
            }
        }
        Purpose::QualityAssurance => {
            if !req.action.touches_recordings() || req.action == Action::LinkPatient {
                return Err(Denial::NotForPurpose {
                    purpose: req.purpose,
                });
            }
            require(a, req.action.right())?;
            match req.case_number.as_deref().map(str::trim) {
                Some(c) if !c.is_empty() => Ok(UnitScope::WholeCareProvider),
                _ => Err(Denial::CaseNumberRequired),
            }
        }
        Purpose::LogReview => {
            // Log reviewers read logs, never audio or recordings' metadata.
            if !matches!(req.action, Action::ReadAudit | Action::ReadAccessLog) {
                return Err(Denial::NotForPurpose {
                    purpose: req.purpose,
                });
            }
            require(a, req.action.right())?;
            Ok(UnitScope::WholeCareProvider)
        }
        // Administration manages privileges; it never gets audio, identifying metadata or
        // logs of patients.
        Purpose::Administration => {
            if !matches!(
                req.action,
                Action::ManagePrivileges | Action::ManageRecords | Action::Operate
            ) {
                return Err(Denial::NotForPurpose {
                    purpose: req.purpose,
                });
            }
            require(a, req.action.right())?;
            Ok(UnitScope::WholeCareProvider)
        }
    }
}

fn require(a: &Assignment, r: Right) -> Result<(), Denial> {
    if a.rights.contains(&r) {
        Ok(())
    } else {
        Err(Denial::MissingRight(r.as_str()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.right().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One denial of every kind; the match makes a new kind fail to compile here until it
    /// is listed.
    fn one_of_each() -> Vec<Denial> {
        let all = vec![
            Denial::NoActiveAssignment(Purpose::LogReview),
            Denial::NotYourAssignment("a-17".into()),
            Denial::OtherCareProvider,
            Denial::MissingRight(Right::LinkPatient.as_str()),
            Denial::SystemsOnlyIngest,
            Denial::PersonsDoNotIngest,
            Denial::EmergencyAccessRequired,
            Denial::EmergencyReasonTooShort,
            Denial::EmergencyReasonTooLong,
            Denial::CaseNumberRequired,
            Denial::CaseNumberInvalid,
            Denial::NotForPurpose {
                purpose: Purpose::Administration,
            },
            Denial::NotTheCallsNurse,
            Denial::NoLinkInEmergency,
        ];
        for d in &all {
            match d {
                Denial::NoActiveAssignment(_)
                | Denial::NotYourAssignment(_)
                | Denial::OtherCareProvider
                | Denial::MissingRight(_)
                | Denial::SystemsOnlyIngest
                | Denial::PersonsDoNotIngest
                | Denial::EmergencyAccessRequired
                | Denial::EmergencyReasonTooShort
                | Denial::EmergencyReasonTooLong
                | Denial::CaseNumberRequired
                | Denial::CaseNumberInvalid
                | Denial::NotForPurpose { .. }
                | Denial::NotTheCallsNurse
                | Denial::NoLinkInEmergency => {}
            }
        }
        all
    }

    #[test]
    fn a_recorded_denial_reads_back_and_has_its_swedish() {
        for d in one_of_each() {
            assert_eq!(Denial::from_reason(&d.to_string()), Some(d.clone()), "{d}");
            let sv = d.swedish();
            assert!(!sv.is_empty() && sv != d.to_string(), "{d}");
        }
        for other in [
            "",
            "Bad Request",
            "no active assignment for purpose \"nothing\"",
            "the assignment does not grant the right \"fly\"",
        ] {
            assert_eq!(Denial::from_reason(other), None, "{other}");
        }
    }
}
