//! Governance: registered users and assignments (medarbetaruppdrag) granted by four eyes.
//!
//! * A privilege administrator (an assignment for the purpose *administration* with the
//!   right `manage-privileges`) registers users and **requests** assignments, each with a
//!   justification.
//! * A **different** administrator of the same care provider approves or rejects the
//!   request. Neither the requester nor the holder may decide it: the vault checks this, the
//!   catalog checks it again inside the transaction, and a `CHECK` constraint of the schema
//!   backs it. Nobody can give themselves access to anything.
//! * An approved assignment is in force between its validity dates (at most
//!   `[governance] max_assignment_days`, default 366) and expires by itself; revocation
//!   takes effect at once.
//! * The first two administrators of a care provider are installed by an operator with
//!   [`Vault::bootstrap_administrators`] — explicit, audited, and only possible while the
//!   care provider has no administrator in force.
//! * An assignment file (`[[user]]` and `[[assignment]]` tables) is an import path into the
//!   workflow: [`Vault::import_assignments`] registers its users and turns every assignment
//!   into a *request* that an administrator must approve.
//!
//! Every step is one catalog change with its audit event. Free text (justifications,
//! comments, reasons) is kept in the catalog; the event carries its SHA-256, so the
//! immutable log binds the text without holding it.

use std::collections::BTreeSet;
use std::path::Path;

mod access_review;

pub use callvault_reporting::access_review::{EXPIRING_SOON_DAYS, UNUSED_DAYS};

use callvault_audit::event::{Action as EventAction, Actor, AuditEvent};
use callvault_auth::{
    Action, Assignment, AssignmentId, AssignmentSet, Authorized, Policy, Purpose, Right, UserEntry,
    check_assignment, check_text,
};
use callvault_catalog::{
    AssignmentDecision, AssignmentOrigin, CatalogError, Change, Mutation, NewAssignment,
};
use callvault_reporting::clock::rfc3339;
use callvault_types::{CareProvider, CareUnit, HsaId};
use time::OffsetDateTime;

pub use callvault_catalog::{AssignmentRow, AssignmentState, UserRow};

use crate::{Vault, VaultError};

/// Longest justification, comment or reason, in characters.
pub const MAX_TEXT: usize = 1000;

/// An assignment an administrator asks for.
#[derive(Clone, Debug)]
pub struct AssignmentRequest {
    /// Who is to hold it (a registered user).
    pub holder: HsaId,
    /// For which care provider (the administrator's).
    pub care_provider: CareProvider,
    /// Own care units.
    pub care_units: BTreeSet<CareUnit>,
    /// Purpose of use.
    pub purpose: Purpose,
    /// Rights.
    pub rights: BTreeSet<Right>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity (exclusive).
    pub valid_until: OffsetDateTime,
    /// Why it is needed (about the work; never about patients).
    pub justification: String,
}

/// What a governance step recorded.
#[derive(Clone, Debug)]
pub struct GovernanceReceipt {
    /// The assignment concerned, if any.
    pub assignment: Option<String>,
    /// Leaf index of the step's (first) audit event.
    pub leaf_index: u64,
}

/// What an assignment file import did.
#[derive(Clone, Debug)]
pub struct AssignmentsImported {
    /// Assignments requested (each awaits approval).
    pub requested: Vec<String>,
    /// Users newly registered.
    pub users_registered: usize,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Leaf index of the import event.
    pub leaf_index: u64,
}

/// One care provider's administrators for [`Vault::scripted_setup`].
#[derive(Debug)]
pub struct ScriptedAdmins {
    /// The care provider.
    pub care_provider: CareProvider,
    /// Its first two administrators.
    pub admins: [UserEntry; 2],
    /// The one of them who approves the imported requests, as authenticated.
    pub approver: callvault_auth::AuthenticatedPrincipal,
}

/// What [`Vault::scripted_setup`] did.
#[derive(Debug)]
pub struct ScriptedSetup {
    /// One bootstrap per care provider.
    pub bootstraps: Vec<GovernanceReceipt>,
    /// The import.
    pub imported: AssignmentsImported,
    /// Requests approved per care provider.
    pub approved: Vec<(CareProvider, usize)>,
}

/// Hex SHA-256 (of a file, or of free text recorded in the catalog).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(callvault_crypto::sha256(bytes))
}

/// The actor string the catalog stores for an audit actor (`person:SE…`, `operator:…`).
fn actor_key(a: &Actor) -> String {
    a.to_string()
}

/// The auth crate's view of a stored assignment.
fn to_policy_assignment(r: &AssignmentRow) -> Result<Assignment, VaultError> {
    let a = &r.assignment;
    let bad = |what: &str| {
        VaultError::Catalog(CatalogError::Corrupt(format!(
            "assignment {}: {what}",
            a.id
        )))
    };
    let purpose = Purpose::parse(&a.purpose).ok_or_else(|| bad("purpose"))?;
    let mut rights = BTreeSet::new();
    for name in &a.rights {
        rights.insert(Right::parse(name).ok_or_else(|| bad("right"))?);
    }
    Ok(Assignment {
        id: AssignmentId::parse(&a.id).map_err(|_| bad("id"))?,
        holder: a.holder.clone(),
        care_provider: a.care_provider.clone(),
        care_units: a.care_units.iter().cloned().collect(),
        purpose,
        rights,
        valid_from: a.valid_from,
        valid_until: a.valid_until,
    })
}

/// Whether a stored assignment makes its holder a privilege administrator at `now`.
fn is_admin_in_force(r: &AssignmentRow, now: OffsetDateTime) -> bool {
    r.state == AssignmentState::Approved
        && r.assignment.valid_from <= now
        && now < r.assignment.valid_until
        && r.assignment
            .rights
            .iter()
            .any(|x| x == Right::ManagePrivileges.as_str())
}

fn new_assignment_id() -> Result<String, VaultError> {
    let mut b = [0u8; 8];
    callvault_crypto::random_bytes(&mut b)?;
    Ok(format!("asg-{}", hex::encode(b)))
}

impl Vault {
    /// The access policy over every approved assignment that has not ended: what a server
    /// decides with. Expiry needs no reload (the policy checks validity per request);
    /// approvals and revocations are applied by building it again.
    pub fn policy(&self) -> Result<Policy, VaultError> {
        let now = OffsetDateTime::now_utc();
        let mut out = Vec::new();
        for r in self
            .catalog
            .assignments(None, Some(AssignmentState::Approved))?
        {
            if r.assignment.valid_until > now {
                out.push(to_policy_assignment(&r)?);
            }
        }
        AssignmentSet::new(out)
            .map(Policy::new)
            .map_err(|e| VaultError::Catalog(CatalogError::Corrupt(e.to_string())))
    }

    /// One stored assignment (for the policy's resource: which care provider it is for).
    pub fn assignment(&self, id: &str) -> Result<Option<AssignmentRow>, VaultError> {
        Ok(self.catalog.assignment(id)?)
    }

    fn check_admin(authz: &Authorized, cp: &CareProvider) -> Result<(), VaultError> {
        Self::check_decision(authz, Action::ManagePrivileges, cp)
    }

    fn user_event(e: AuditEvent, u: &UserEntry) -> AuditEvent {
        let mut e = e
            .detail("user", u.hsa_id.as_str())
            .detail("name", &u.name)
            .detail("title", &u.title)
            .detail("employer", u.care_provider.as_str());
        if u.personal_id.is_some() {
            // Only that it was registered: the number itself is sealed in the user register.
            e = e.detail("personal_id", "registered");
        }
        e.care_provider = Some(u.care_provider.clone());
        e
    }

    /// The mutations that register a user: the row, and the sealed, blind-indexed personal
    /// identity number when given.
    fn user_mutations(
        &self,
        u: &UserEntry,
        by: &Actor,
        at: OffsetDateTime,
    ) -> Result<Vec<Mutation>, VaultError> {
        let mut m = vec![Mutation::RegisterUser(Self::user_row(u, by, at))];
        if let Some(p) = &u.personal_id {
            let sealed = self.seal_patient(&u.care_provider, p, b"user-personal-id")?;
            m.push(Mutation::SetUserPersonalId {
                hsa_id: u.hsa_id.clone(),
                personal_id: sealed,
            });
        }
        Ok(m)
    }

    fn user_row(u: &UserEntry, by: &Actor, at: OffsetDateTime) -> UserRow {
        UserRow {
            hsa_id: u.hsa_id.clone(),
            name: u.name.clone(),
            title: u.title.clone(),
            care_provider: u.care_provider.clone(),
            registered_at: at,
            registered_by: actor_key(by),
        }
    }

    /// Registers a user of the administrator's care provider.
    pub fn register_user(
        &self,
        authz: &Authorized,
        user: &UserEntry,
    ) -> Result<GovernanceReceipt, VaultError> {
        Self::check_admin(authz, &user.care_provider)?;
        if self.catalog.user(&user.hsa_id)?.is_some() {
            return Err(VaultError::Refused(format!(
                "user {} is already registered",
                user.hsa_id
            )));
        }
        let e = Self::user_event(Self::decided_event(authz, EventAction::UserRegister), user);
        let mut change = Change::new(e.clone());
        for m in self.user_mutations(user, &e.actor, e.time)? {
            change = change.with(m);
        }
        let leaf = self.commit_step(change)?;
        Ok(GovernanceReceipt {
            assignment: None,
            leaf_index: leaf,
        })
    }

    /// Checks a request against the rules and the configuration; returns the stored form.
    fn new_request(
        &self,
        id: String,
        req: &AssignmentRequest,
        origin: AssignmentOrigin,
        requested_by: &Actor,
        now: OffsetDateTime,
    ) -> Result<NewAssignment, VaultError> {
        let justification = check_text("justification", &req.justification, MAX_TEXT)
            .map_err(VaultError::InvalidRequest)?;
        let max = self.config.max_assignment_days;
        if req.valid_until - req.valid_from > time::Duration::days(max) {
            return Err(VaultError::InvalidRequest(format!(
                "assignment {id}: an assignment may last at most {max} days (governance.max_assignment_days)"
            )));
        }
        if req.valid_until <= now {
            return Err(VaultError::InvalidRequest(format!(
                "assignment {id}: its validity has already ended"
            )));
        }
        let candidate = Assignment {
            id: AssignmentId::parse(&id).map_err(|e| VaultError::InvalidRequest(e.to_string()))?,
            holder: req.holder.clone(),
            care_provider: req.care_provider.clone(),
            care_units: req.care_units.clone(),
            purpose: req.purpose,
            rights: req.rights.clone(),
            valid_from: req.valid_from,
            valid_until: req.valid_until,
        };
        check_assignment(&candidate).map_err(|e| VaultError::InvalidRequest(e.to_string()))?;
        if self
            .catalog
            .care_provider_retention(&req.care_provider)?
            .is_none()
        {
            return Err(VaultError::UnknownCareProvider(
                req.care_provider.to_string(),
            ));
        }
        Ok(NewAssignment {
            id,
            holder: req.holder.clone(),
            care_provider: req.care_provider.clone(),
            care_units: req.care_units.iter().cloned().collect(),
            purpose: req.purpose.as_str().to_owned(),
            rights: req.rights.iter().map(|r| r.as_str().to_owned()).collect(),
            valid_from: req.valid_from,
            valid_until: req.valid_until,
            justification,
            origin,
            requested_by: actor_key(requested_by),
            requested_at: now,
        })
    }

    fn request_event(e: AuditEvent, a: &NewAssignment) -> AuditEvent {
        let units: Vec<&str> = a.care_units.iter().map(CareUnit::as_str).collect();
        let mut e = e
            .detail("assignment", &a.id)
            .detail("holder", a.holder.as_str())
            .detail("care_units", units.join(","))
            .detail("granted_purpose", &a.purpose)
            .detail("rights", a.rights.join(","))
            .detail("valid_from", rfc3339(a.valid_from))
            .detail("valid_until", rfc3339(a.valid_until))
            .detail(
                "justification_sha256",
                sha256_hex(a.justification.as_bytes()),
            );
        e.care_provider = Some(a.care_provider.clone());
        e
    }

    /// Requests an assignment (it is in force only once a second administrator approves).
    pub fn request_assignment(
        &self,
        authz: &Authorized,
        req: &AssignmentRequest,
    ) -> Result<GovernanceReceipt, VaultError> {
        Self::check_admin(authz, &req.care_provider)?;
        if self.catalog.user(&req.holder)?.is_none() {
            return Err(VaultError::Refused(format!(
                "{} is not a registered user; register the user first",
                req.holder
            )));
        }
        let e = Self::decided_event(authz, EventAction::AssignmentRequest);
        let a = self.new_request(
            new_assignment_id()?,
            req,
            AssignmentOrigin::Request,
            &e.actor,
            e.time,
        )?;
        let id = a.id.clone();
        let e = Self::request_event(e, &a);
        let leaf = self.commit_step(Change::new(e).with(Mutation::InsertAssignment {
            assignment: Box::new(a),
            approved: None,
        }))?;
        Ok(GovernanceReceipt {
            assignment: Some(id),
            leaf_index: leaf,
        })
    }

    fn load_assignment(&self, id: &str) -> Result<AssignmentRow, VaultError> {
        self.catalog
            .assignment(id)?
            .ok_or_else(|| VaultError::NoSuchAssignment(id.to_owned()))
    }

    /// Approves (`approve`) or rejects a requested assignment. Refused for the requester
    /// and for the holder, for an administrator of another care provider, and once the
    /// requested validity has ended.
    pub fn decide_assignment(
        &self,
        authz: &Authorized,
        id: &str,
        approve: bool,
        comment: Option<&str>,
    ) -> Result<GovernanceReceipt, VaultError> {
        let row = self.load_assignment(id)?;
        let a = &row.assignment;
        Self::check_admin(authz, &a.care_provider)?;
        let comment = comment
            .map(|c| check_text("comment", c, MAX_TEXT))
            .transpose()
            .map_err(VaultError::InvalidRequest)?;
        let e = Self::decided_event(
            authz,
            if approve {
                EventAction::AssignmentApprove
            } else {
                EventAction::AssignmentReject
            },
        );
        let me = actor_key(&e.actor);
        if row.state != AssignmentState::Requested {
            return Err(VaultError::Refused(format!(
                "assignment {id} is {}, not awaiting a decision",
                row.state.as_str()
            )));
        }
        if me == a.requested_by {
            return Err(VaultError::FourEyes(format!(
                "assignment {id} was requested by you; a different administrator must decide it"
            )));
        }
        if authz.principal().hsa_id() == &a.holder {
            return Err(VaultError::FourEyes(format!(
                "assignment {id} is for you; nobody decides on their own access"
            )));
        }
        if approve && a.valid_until <= e.time {
            return Err(VaultError::Refused(format!(
                "assignment {id}: the requested validity has ended; request it again"
            )));
        }
        let mut e = e
            .detail("assignment", id)
            .detail("holder", a.holder.as_str())
            .detail("requested_by", &a.requested_by);
        if let Some(c) = &comment {
            e = e.detail("comment_sha256", sha256_hex(c.as_bytes()));
        }
        let decision = AssignmentDecision {
            by: me,
            at: e.time,
            comment,
        };
        let leaf = self.commit_step(Change::new(e).with(Mutation::DecideAssignment {
            id: id.to_owned(),
            approve,
            decision,
        }))?;
        Ok(GovernanceReceipt {
            assignment: Some(id.to_owned()),
            leaf_index: leaf,
        })
    }

    /// Revokes an approved assignment at once (the server then drops it from its policy and
    /// stops the holder's open streams under it).
    pub fn revoke_assignment(
        &self,
        authz: &Authorized,
        id: &str,
        reason: &str,
    ) -> Result<GovernanceReceipt, VaultError> {
        let row = self.load_assignment(id)?;
        Self::check_admin(authz, &row.assignment.care_provider)?;
        let reason = check_text("reason", reason, MAX_TEXT).map_err(VaultError::InvalidRequest)?;
        if row.state != AssignmentState::Approved {
            return Err(VaultError::Refused(format!(
                "assignment {id} is {}; only approved assignments can be revoked",
                row.state.as_str()
            )));
        }
        let e = Self::decided_event(authz, EventAction::AssignmentRevoke)
            .detail("assignment", id)
            .detail("holder", row.assignment.holder.as_str())
            .detail("reason_sha256", sha256_hex(reason.as_bytes()));
        let revocation = AssignmentDecision {
            by: actor_key(&e.actor),
            at: e.time,
            comment: Some(reason),
        };
        let leaf = self.commit_step(Change::new(e).with(Mutation::RevokeAssignment {
            id: id.to_owned(),
            revocation,
        }))?;
        Ok(GovernanceReceipt {
            assignment: Some(id.to_owned()),
            leaf_index: leaf,
        })
    }

    /// Installs the first two privilege administrators of a care provider (an operator at
    /// the command line, server stopped). Refused while the care provider has an
    /// administrator in force: from then on administrators are requested and approved like
    /// any other assignment. Each is valid for `[governance] max_assignment_days`.
    pub fn bootstrap_administrators(
        &self,
        cp: &CareProvider,
        admins: [&UserEntry; 2],
        operator: &crate::Operator,
    ) -> Result<GovernanceReceipt, VaultError> {
        let operator: &Actor = operator.actor();
        if self.catalog.care_provider_retention(cp)?.is_none() {
            return Err(VaultError::UnknownCareProvider(cp.to_string()));
        }
        if admins[0].hsa_id == admins[1].hsa_id {
            return Err(VaultError::FourEyes(
                "the two first administrators must be two different persons".into(),
            ));
        }
        let mut e = AuditEvent::new(operator.clone(), EventAction::GovernanceBootstrap, "cli");
        e.care_provider = Some(cp.clone());
        let now = e.time;
        let existing: Vec<String> = self
            .catalog
            .assignments(Some(cp), Some(AssignmentState::Approved))?
            .into_iter()
            .filter(|r| is_admin_in_force(r, now))
            .map(|r| r.assignment.id)
            .collect();
        if !existing.is_empty() {
            return Err(VaultError::Refused(format!(
                "care provider {cp} already has privilege administrators in force ({}); new administrators are requested and approved by them",
                existing.join(", ")
            )));
        }
        let valid_until = now + time::Duration::days(self.config.max_assignment_days);
        let mut user_events = Vec::new();
        let mut mutations = Vec::new();
        let mut ids = Vec::new();
        for u in admins {
            if &u.care_provider != cp {
                return Err(VaultError::Refused(format!(
                    "{} is employed by {}, not by {cp}; a care provider's administrators are its own staff",
                    u.hsa_id, u.care_provider
                )));
            }
            match self.catalog.user(&u.hsa_id)? {
                Some(existing) if &existing.care_provider != cp => {
                    return Err(VaultError::Refused(format!(
                        "{} is registered as employed by {}",
                        u.hsa_id, existing.care_provider
                    )));
                }
                Some(_) => {}
                None => {
                    let mut ue =
                        AuditEvent::new(operator.clone(), EventAction::UserRegister, "cli");
                    ue.time = now;
                    user_events.push(Self::user_event(ue, u));
                    mutations.extend(self.user_mutations(u, operator, now)?);
                }
            }
            let req = AssignmentRequest {
                holder: u.hsa_id.clone(),
                care_provider: cp.clone(),
                care_units: BTreeSet::new(),
                purpose: Purpose::Administration,
                rights: BTreeSet::from([Right::ManagePrivileges]),
                valid_from: now,
                valid_until,
                justification: "bootstrap: first privilege administrators of the care provider"
                    .into(),
            };
            let a = self.new_request(
                new_assignment_id()?,
                &req,
                AssignmentOrigin::Bootstrap,
                operator,
                now,
            )?;
            ids.push(a.id.clone());
            e = e.detail(&format!("admin_{}", ids.len()), u.hsa_id.as_str());
            mutations.push(Mutation::InsertAssignment {
                assignment: Box::new(a),
                approved: Some(AssignmentDecision {
                    by: actor_key(operator),
                    at: now,
                    comment: Some("bootstrap".into()),
                }),
            });
        }
        e = e
            .detail("assignments", ids.join(","))
            .detail("valid_until", rfc3339(valid_until));
        let mut change = Change::new(e);
        for ue in user_events {
            change = change.and_event(ue);
        }
        for m in mutations {
            change = change.with(m);
        }
        let leaf = self.commit_step(change)?;
        Ok(GovernanceReceipt {
            assignment: Some(ids.join(",")),
            leaf_index: leaf,
        })
    }

    /// Imports an assignment file into the workflow: validates it in full (users,
    /// assignments, registered care providers, the configured maximum lifetime), registers
    /// its new users and records every assignment as a *request* awaiting an
    /// administrator's approval — all in one transaction, or nothing.
    pub fn import_assignments(
        &self,
        source: &Path,
        operator: &crate::Operator,
    ) -> Result<AssignmentsImported, VaultError> {
        let operator: &Actor = operator.actor();
        let bytes = std::fs::read(source).map_err(|e| VaultError::Input {
            path: source.to_owned(),
            source: e,
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| VaultError::Assignments(format!("{} is not UTF-8", source.display())))?;
        let (users, set) = callvault_auth::parse_file(text)
            .map_err(|e| VaultError::Assignments(format!("{}: {e}", source.display())))?;
        let sha256 = sha256_hex(&bytes);
        let mut e = AuditEvent::new(operator.clone(), EventAction::AssignmentsImport, "cli")
            .detail("sha256", &sha256)
            .detail("count", set.all().len());
        let now = e.time;
        let mut events = Vec::new();
        let mut mutations = Vec::new();
        let mut known: BTreeSet<HsaId> = BTreeSet::new();
        let mut new_users = 0;
        for u in &users {
            match self.catalog.user(&u.hsa_id)? {
                Some(_) => {}
                None => {
                    if self
                        .catalog
                        .care_provider_retention(&u.care_provider)?
                        .is_none()
                    {
                        return Err(VaultError::Assignments(format!(
                            "user {} is employed by care provider {}, which is not registered in this vault",
                            u.hsa_id, u.care_provider
                        )));
                    }
                    let mut ue =
                        AuditEvent::new(operator.clone(), EventAction::UserRegister, "cli");
                    ue.time = now;
                    events.push(Self::user_event(ue, u));
                    mutations.extend(self.user_mutations(u, operator, now)?);
                    new_users += 1;
                }
            }
            known.insert(u.hsa_id.clone());
        }
        let mut requested = Vec::new();
        let mut cps = BTreeSet::new();
        for a in set.all() {
            if !known.contains(&a.holder) && self.catalog.user(&a.holder)?.is_none() {
                return Err(VaultError::Assignments(format!(
                    "assignment {}: holder {} is not a registered user and has no [[user]] table in the file",
                    a.id, a.holder
                )));
            }
            if self.catalog.assignment(a.id.as_str())?.is_some() {
                return Err(VaultError::Assignments(format!(
                    "assignment id {} is already used; ids are never reused",
                    a.id
                )));
            }
            let req = AssignmentRequest {
                holder: a.holder.clone(),
                care_provider: a.care_provider.clone(),
                care_units: a.care_units.clone(),
                purpose: a.purpose,
                rights: a.rights.clone(),
                valid_from: a.valid_from,
                valid_until: a.valid_until,
                justification: format!("imported from an assignment file (sha256 {sha256})"),
            };
            let stored = self
                .new_request(
                    a.id.to_string(),
                    &req,
                    AssignmentOrigin::Import(sha256.clone()),
                    operator,
                    now,
                )
                .map_err(|e| match e {
                    VaultError::UnknownCareProvider(cp) => VaultError::Assignments(format!(
                        "assignment {} names care provider {cp}, which is not registered in this vault",
                        a.id
                    )),
                    other => other,
                })?;
            cps.insert(stored.care_provider.to_string());
            let mut re = AuditEvent::new(operator.clone(), EventAction::AssignmentRequest, "cli");
            re.time = now;
            events.push(Self::request_event(re, &stored));
            requested.push(stored.id.clone());
            mutations.push(Mutation::InsertAssignment {
                assignment: Box::new(stored),
                approved: None,
            });
        }
        e = e
            .detail(
                "care_providers",
                cps.into_iter().collect::<Vec<_>>().join(","),
            )
            .detail("users_registered", new_users);
        let mut change = Change::new(e);
        for ev in events {
            change = change.and_event(ev);
        }
        for m in mutations {
            change = change.with(m);
        }
        let leaf_index = self.commit_step(change)?;
        Ok(AssignmentsImported {
            requested,
            users_registered: new_users,
            sha256,
            leaf_index,
        })
    }

    /// Approves requests as `approver`, each through the policy in force (purpose
    /// administration at the request's care provider) and the four-eyes checks — the same
    /// path as the API. For scripted set-ups (the demo, tests); stops at the first refusal.
    pub fn approve_as(
        &self,
        approver: &callvault_auth::AuthenticatedPrincipal,
        ids: &[String],
        comment: &str,
    ) -> Result<Vec<GovernanceReceipt>, VaultError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self.load_assignment(id)?;
            let req = callvault_auth::AccessRequest {
                action: Action::ManagePrivileges,
                resource: callvault_auth::Resource {
                    care_provider: row.assignment.care_provider.clone(),
                    care_unit: None,
                },
                purpose: Purpose::Administration,
                assignment: None,
                emergency_reason: None,
                case_number: None,
            };
            let authz = self
                .policy()?
                .decide(approver, &req, OffsetDateTime::now_utc())
                .map_err(|d| VaultError::FourEyes(format!("{}: {d}", approver.hsa_id())))?;
            out.push(self.decide_assignment(&authz, id, true, Some(comment))?);
        }
        Ok(out)
    }

    /// A scripted set-up of the whole workflow, for the demo, tests and benchmarks: per care
    /// provider, the operator bootstraps its two administrators; the operator imports
    /// `file` (users registered, assignments requested); then each care provider's
    /// `approver` (its second administrator, as authenticated by its certificate) approves
    /// that care provider's requests. Every step is audited as in production.
    pub fn scripted_setup(
        &self,
        admins: &[ScriptedAdmins],
        file: &Path,
        operator: &crate::Operator,
    ) -> Result<ScriptedSetup, VaultError> {
        let mut bootstraps = Vec::new();
        for a in admins {
            bootstraps.push(self.bootstrap_administrators(
                &a.care_provider,
                [&a.admins[0], &a.admins[1]],
                operator,
            )?);
        }
        let imported = self.import_assignments(file, operator)?;
        let mut approved = Vec::new();
        for a in admins {
            let mut ids = Vec::new();
            for id in &imported.requested {
                if self
                    .catalog
                    .assignment(id)?
                    .is_some_and(|r| r.assignment.care_provider == a.care_provider)
                {
                    ids.push(id.clone());
                }
            }
            approved.push((
                a.care_provider.clone(),
                self.approve_as(&a.approver, &ids, "scripted set-up")?.len(),
            ));
        }
        Ok(ScriptedSetup {
            bootstraps,
            imported,
            approved,
        })
    }

    fn record_read(&self, e: AuditEvent) -> Result<u64, VaultError> {
        self.commit_step(Change::new(e))
    }

    /// A care provider's assignments (optionally in one state), for its administrator;
    /// the read is audited.
    pub fn list_assignments(
        &self,
        authz: &Authorized,
        state: Option<AssignmentState>,
    ) -> Result<Vec<AssignmentRow>, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_admin(authz, &cp)?;
        self.record_read(
            Self::decided_event(authz, EventAction::GovernanceRead).detail("what", "assignments"),
        )?;
        Ok(self.catalog.assignments(Some(&cp), state)?)
    }

    /// A care provider's registered users, for its administrator; the read is audited.
    pub fn list_users(&self, authz: &Authorized) -> Result<Vec<UserRow>, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_admin(authz, &cp)?;
        self.record_read(
            Self::decided_event(authz, EventAction::GovernanceRead).detail("what", "users"),
        )?;
        Ok(self.catalog.users(Some(&cp))?)
    }

    /// Every assignment (of one care provider or all) for an operator at the command line;
    /// the read is audited.
    pub fn list_assignments_as_operator(
        &self,
        cp: Option<&CareProvider>,
        operator: &crate::Operator,
    ) -> Result<Vec<AssignmentRow>, VaultError> {
        let operator: &Actor = operator.actor();
        let mut e = AuditEvent::new(operator.clone(), EventAction::GovernanceRead, "cli")
            .detail("what", "assignments");
        e.care_provider = cp.cloned();
        self.record_read(e)?;
        Ok(self.catalog.assignments(cp, None)?)
    }
}
