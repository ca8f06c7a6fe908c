//! Who runs the paths that no policy decision covers, as capability values: the local
//! `Operator` (built only from the kernel's uid), the `Maintainer` of maintenance (the
//! operator or callvault's own background job) and the `AuditReader` of proofs.

use super::*;

/// The local operator: the OS account running this process, as an audit actor
/// (`name(uid)@host`). A capability: only [`operator`] builds one, from the kernel's uid, so an
/// operator path (an import) cannot be handed a person or a system as its actor. Derefs to
/// the [`Actor`] for the paths that only record who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator(Actor);

impl Operator {
    /// The audit actor.
    pub fn actor(&self) -> &Actor {
        &self.0
    }
}

impl std::ops::Deref for Operator {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

/// Who runs a maintenance path (repair, scrub, key rotation, deletion resumption, a site
/// recreated, a care provider registered): the local operator at the command line, or
/// callvault itself in a background job of the server. The audit actor comes from here, so
/// such a path can never be attributed to a person or a system:
///
/// ```no_run
/// fn nightly(v: &callvault_vault::Vault, _who: callvault_audit::event::Actor) {
///     let _ = v.repair(callvault_vault::Maintainer::Vault);
///     let _ = v.repair(&callvault_vault::vault_operator());
/// }
/// ```
///
/// ```compile_fail,E0277
/// fn blame_a_nurse(v: &callvault_vault::Vault, nurse: callvault_types::HsaId) {
///     let _ = v.repair(&callvault_audit::event::Actor::Person(nurse));
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Maintainer<'a> {
    /// The local operator.
    Operator(&'a Operator),
    /// callvault itself (a background job).
    Vault,
}

impl Maintainer<'_> {
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Operator(o) => o.actor().clone(),
            Self::Vault => Actor::Vault,
        }
    }
}

impl<'a> From<&'a Operator> for Maintainer<'a> {
    fn from(o: &'a Operator) -> Self {
        Self::Operator(o)
    }
}

/// Who reads the audit log's verification material: a caller authenticated by mutual TLS,
/// or the local operator. The audit actor and source come from here.
#[derive(Clone, Copy, Debug)]
pub enum AuditReader<'a> {
    /// A caller authenticated by mutual TLS.
    Principal(&'a callvault_auth::AuthenticatedPrincipal),
    /// The local operator.
    Operator(&'a Operator),
}

impl<'a> From<&'a Operator> for AuditReader<'a> {
    fn from(o: &'a Operator) -> Self {
        Self::Operator(o)
    }
}

impl<'a> From<&'a callvault_auth::AuthenticatedPrincipal> for AuditReader<'a> {
    fn from(p: &'a callvault_auth::AuthenticatedPrincipal) -> Self {
        Self::Principal(p)
    }
}

/// The operator running a CLI command: `name(uid)@host`, with the name looked up from the
/// process's real uid in /etc/passwd (not from `$USER`).
pub fn operator() -> Operator {
    // The real uid: first field of the "Uid:" line of /proc/self/status.
    let uid = fs::read_to_string("/proc/self/status").ok().and_then(|st| {
        st.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u32>().ok())
    });
    let name = uid.and_then(|uid| {
        fs::read_to_string("/etc/passwd")
            .ok()?
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
    });
    let host = fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let uid = uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into());
    // Accounts outside /etc/passwd (LDAP, SSSD) show as unknown(uid).
    Operator(Actor::Operator(format!(
        "{}({uid})@{host}",
        name.as_deref().unwrap_or("unknown")
    )))
}
