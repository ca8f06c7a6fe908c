//! Assignments (medarbetaruppdrag): what a principal may do, for which care provider and
//! units, for which purpose, and when.
//!
//! Assignments are granted through the governance workflow of the vault (a request by one
//! privilege administrator, approval by another). A TOML file of `[[assignment]]` tables,
//! validated here in full, is one way to *request* many at once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use callvault_types::{CareProvider, CareUnit, HsaId, PatientId};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Hard ceiling on one assignment's validity, whatever the configuration says. The vault's
/// configured maximum (default 12 months) is at most this.
pub const MAX_LIFETIME_DAYS: i64 = 1096;

/// The default maximum lifetime of an assignment: 12 months (366 days, so that a year
/// with a leap day fits).
pub const DEFAULT_LIFETIME_DAYS: i64 = 366;

/// Purpose of use (ändamål). The Swedish names are the canonical spelling.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Purpose {
    /// Vård och behandling: care of the patient.
    CareAndTreatment,
    /// Kvalitetssäkring: patient-safety investigation and quality assurance.
    QualityAssurance,
    /// Logguppföljning: log review.
    LogReview,
    /// Administration: user and privilege administration.
    Administration,
}

impl Purpose {
    /// All purposes.
    pub const ALL: [Purpose; 4] = [
        Purpose::CareAndTreatment,
        Purpose::QualityAssurance,
        Purpose::LogReview,
        Purpose::Administration,
    ];

    /// The canonical Swedish name, as written in files, requests and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CareAndTreatment => "vård och behandling",
            Self::QualityAssurance => "kvalitetssäkring",
            Self::LogReview => "logguppföljning",
            Self::Administration => "administration",
        }
    }

    /// Parses the Swedish name (case-insensitive) or the ASCII slug
    /// (`vard-och-behandling`, `kvalitetssakring`, `loggupfoljning`, `administration`).
    pub fn parse(s: &str) -> Option<Self> {
        let lower = s.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| lower == p.as_str() || lower == p.slug())
    }

    /// ASCII form for URLs and headers.
    pub fn slug(self) -> &'static str {
        match self {
            Self::CareAndTreatment => "vard-och-behandling",
            Self::QualityAssurance => "kvalitetssakring",
            Self::LogReview => "logguppfoljning",
            Self::Administration => "administration",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A right an assignment grants.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Right {
    /// Deliver recordings (recorders).
    Ingest,
    /// Search recordings.
    Search,
    /// See a recording's metadata, identifiers included.
    ViewMetadata,
    /// Listen to (stream) audio.
    Play,
    /// Download a whole recording.
    Download,
    /// Read the audit log.
    ReadAudit,
    /// Read a patient's access log (log extract).
    ReadAccessLog,
    /// Register users, request, approve, reject and revoke assignments, read the access
    /// review (privilege administrators; never one's own requests).
    ManagePrivileges,
    /// Legal holds, retention reports, deletion orders (IVO decisions, retention purges):
    /// register, approve (never one's own), execute (records managers).
    ManageRecords,
    /// The operational status page: sites, repair and scrub progress, key versions,
    /// checkpoints, volumes — counts only, never patient data (operators).
    Operate,
    /// Link any recording of one's units to a patient, or correct another person's link
    /// (the documented right of, e.g., a unit's coordinator). The nurse who took a call
    /// links and corrects it with `view-metadata` alone.
    LinkPatient,
}

impl Right {
    /// All rights.
    pub const ALL: [Right; 11] = [
        Right::Ingest,
        Right::Search,
        Right::ViewMetadata,
        Right::Play,
        Right::Download,
        Right::ReadAudit,
        Right::ReadAccessLog,
        Right::ManagePrivileges,
        Right::ManageRecords,
        Right::Operate,
        Right::LinkPatient,
    ];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Search => "search",
            Self::ViewMetadata => "view-metadata",
            Self::Play => "play",
            Self::Download => "download",
            Self::ReadAudit => "read-audit",
            Self::ReadAccessLog => "read-access-log",
            Self::ManagePrivileges => "manage-privileges",
            Self::ManageRecords => "manage-records",
            Self::Operate => "operate",
            Self::LinkPatient => "link-patient",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An assignment's identifier.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AssignmentId(String);

impl AssignmentId {
    /// Checks an id: 1-64 characters of `A-Z`, `a-z`, `0-9`, `-` and `_`.
    pub fn parse(s: &str) -> Result<Self, AssignmentError> {
        let id = s.trim();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                s,
                "id must be 1-64 characters of A-Z, a-z, 0-9, - and _",
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssignmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One assignment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Assignment {
    /// Identifier, unique in its set.
    pub id: AssignmentId,
    /// Who holds it.
    pub holder: HsaId,
    /// The care provider it is for; never crossed.
    pub care_provider: CareProvider,
    /// Own care units (all of the same care provider).
    pub care_units: BTreeSet<CareUnit>,
    /// Purpose of use.
    pub purpose: Purpose,
    /// Rights granted.
    pub rights: BTreeSet<Right>,
    /// Start of validity (inclusive).
    pub valid_from: OffsetDateTime,
    /// End of validity (exclusive).
    pub valid_until: OffsetDateTime,
}

impl Assignment {
    /// Whether it is valid at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.valid_from <= now && now < self.valid_until
    }
}

/// Why an assignment file is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssignmentError {
    /// The file could not be read.
    #[error("reading assignments {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or missing keys.
    #[error("assignments: {0}")]
    Syntax(String),
    /// One assignment is invalid.
    #[error("assignment {id:?}: {reason}")]
    Invalid {
        /// Its id (or its position when the id is missing).
        id: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    user: Vec<RawUser>,
    #[serde(default)]
    assignment: Vec<RawAssignment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    hsa_id: String,
    name: String,
    title: String,
    care_provider: String,
    personal_id: Option<String>,
}

/// A user (a person or system that may hold assignments) as written in an assignment file
/// or registered by an administrator.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserEntry {
    /// HSA-ID.
    pub hsa_id: HsaId,
    /// Name.
    pub name: String,
    /// Title, e.g. "Sjuksköterska".
    pub title: String,
    /// Employing care provider.
    pub care_provider: CareProvider,
    /// The employee's own personal identity number (personnummer), when the care provider
    /// registers it for the log follow-up rule on access to one's own records. Stored
    /// sealed and blind-indexed only.
    pub personal_id: Option<PatientId>,
}

/// Checks a short human-readable text (a name, title, justification or reason): trimmed,
/// 1..=`max` characters, no control characters. Returns the trimmed text or what is wrong.
pub fn check_text(field: &str, s: &str, max: usize) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if t.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(t.to_owned())
}

impl UserEntry {
    /// Validates plain values into a user entry.
    pub fn new(hsa_id: &str, name: &str, title: &str, care_provider: &str) -> Result<Self, String> {
        Ok(Self {
            hsa_id: HsaId::parse(hsa_id).map_err(|e| format!("hsa_id: {e}"))?,
            name: check_text("name", name, 200)?,
            title: check_text("title", title, 200)?,
            care_provider: CareProvider::parse(care_provider)
                .map_err(|e| format!("care_provider: {e}"))?,
            personal_id: None,
        })
    }

    /// Adds the employee's own personal identity number (never echoed in errors).
    pub fn with_personal_id(mut self, personal_id: &str) -> Result<Self, String> {
        self.personal_id =
            Some(PatientId::parse_any(personal_id).map_err(|e| format!("personal_id: {e}"))?);
        Ok(self)
    }

    /// The `[[user]]` table of an assignment file.
    pub fn to_toml(&self) -> String {
        let personal = match &self.personal_id {
            Some(p) => format!("personal_id = \"{}\"\n", p.canonical()),
            None => String::new(),
        };
        format!(
            "[[user]]\nhsa_id = \"{}\"\nname = {}\ntitle = {}\ncare_provider = \"{}\"\n{personal}\n",
            self.hsa_id,
            toml_string(&self.name),
            toml_string(&self.title),
            self.care_provider
        )
    }
}

/// A TOML error as line, column and what is wrong, without the text around it: an
/// assignment file holds employees' personal identity numbers, and the TOML library's own
/// message quotes the offending line and values. Quoted tokens are kept only when they are
/// key names ([`callvault_types::redact::parser_message`]).
fn toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = callvault_types::redact::parser_message(e.message());
    let msg = msg.trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            format!("line {line}, column {column}: {msg}")
        }
        None => msg,
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Parses an assignment file: its `[[user]]` tables (validated) and its `[[assignment]]`
/// tables (validated as by [`AssignmentSet::parse`]).
pub fn parse_file(text: &str) -> Result<(Vec<UserEntry>, AssignmentSet), AssignmentError> {
    let raw: RawFile =
        toml::from_str(text).map_err(|e| AssignmentError::Syntax(toml_error(&e, text)))?;
    let mut users: Vec<UserEntry> = Vec::with_capacity(raw.user.len());
    for (n, u) in raw.user.into_iter().enumerate() {
        // An HSA-ID may be shown; anything else in its place (a personal number, say) not.
        let who = match HsaId::parse(&u.hsa_id) {
            Ok(h) => h.to_string(),
            Err(_) => format!("number {} of the file", n + 1),
        };
        let mut entry = UserEntry::new(&u.hsa_id, &u.name, &u.title, &u.care_provider)
            .map_err(|reason| AssignmentError::Syntax(format!("user {who}: {reason}")))?;
        if let Some(p) = &u.personal_id {
            entry = entry
                .with_personal_id(p)
                .map_err(|reason| AssignmentError::Syntax(format!("user {who}: {reason}")))?;
        }
        if users.iter().any(|x| x.hsa_id == entry.hsa_id) {
            return Err(AssignmentError::Syntax(format!(
                "user {} is listed twice",
                entry.hsa_id
            )));
        }
        users.push(entry);
    }
    let mut out = Vec::with_capacity(raw.assignment.len());
    for r in raw.assignment {
        out.push(from_raw(r)?);
    }
    Ok((users, AssignmentSet::new(out)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    id: String,
    holder: String,
    care_provider: String,
    #[serde(default)]
    care_units: Vec<String>,
    purpose: String,
    rights: Vec<String>,
    valid_from: String,
    valid_until: String,
}

/// A validated set of assignments.
#[derive(Clone, Debug, Default)]
pub struct AssignmentSet {
    assignments: Vec<Assignment>,
}

impl AssignmentSet {
    /// Builds a set from assignments, checking each (used by tests and imports).
    pub fn new(assignments: Vec<Assignment>) -> Result<Self, AssignmentError> {
        let mut ids = BTreeSet::new();
        for a in &assignments {
            check(a)?;
            if !ids.insert(a.id.clone()) {
                return Err(invalid(a.id.as_str(), "id is used twice"));
            }
        }
        Ok(Self { assignments })
    }

    /// A subset of a checked set (no re-validation needed).
    pub(crate) fn from_checked(assignments: Vec<Assignment>) -> Self {
        Self { assignments }
    }

    /// Reads and validates a TOML assignment file.
    pub fn load(path: &Path) -> Result<Self, AssignmentError> {
        let text = std::fs::read_to_string(path).map_err(|source| AssignmentError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates TOML text (its `[[user]]` tables are validated and left out).
    pub fn parse(text: &str) -> Result<Self, AssignmentError> {
        parse_file(text).map(|(_, set)| set)
    }

    /// Every assignment.
    pub fn all(&self) -> &[Assignment] {
        &self.assignments
    }

    /// The assignments held by `holder`.
    pub fn held_by<'a>(&'a self, holder: &'a HsaId) -> impl Iterator<Item = &'a Assignment> + 'a {
        self.assignments.iter().filter(move |a| &a.holder == holder)
    }
}

fn invalid(id: &str, reason: impl Into<String>) -> AssignmentError {
    AssignmentError::Invalid {
        id: id.to_owned(),
        reason: reason.into(),
    }
}

fn from_raw(r: RawAssignment) -> Result<Assignment, AssignmentError> {
    let id = AssignmentId::parse(&r.id)?.0;
    let holder = HsaId::parse(&r.holder).map_err(|e| invalid(&id, format!("holder: {e}")))?;
    let care_provider = CareProvider::parse(&r.care_provider)
        .map_err(|e| invalid(&id, format!("care_provider: {e}")))?;
    let mut care_units = BTreeSet::new();
    for u in &r.care_units {
        care_units
            .insert(CareUnit::parse(u).map_err(|e| invalid(&id, format!("care unit {u:?}: {e}")))?);
    }
    let purpose = Purpose::parse(&r.purpose).ok_or_else(|| {
        invalid(
            &id,
            format!(
                "purpose {:?} is not one of: {}",
                r.purpose,
                Purpose::ALL.map(Purpose::as_str).join(", ")
            ),
        )
    })?;
    let mut rights = BTreeSet::new();
    for name in &r.rights {
        rights.insert(Right::parse(name).ok_or_else(|| {
            invalid(
                &id,
                format!(
                    "right {name:?} is not one of: {}",
                    Right::ALL.map(Right::as_str).join(", ")
                ),
            )
        })?);
    }
    let time = |s: &str, field: &str| {
        OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| invalid(&id, format!("{field} must be RFC 3339: {e}")))
    };
    Ok(Assignment {
        valid_from: time(&r.valid_from, "valid_from")?,
        valid_until: time(&r.valid_until, "valid_until")?,
        id: AssignmentId(id),
        holder,
        care_provider,
        care_units,
        purpose,
        rights,
    })
}

/// Checks one assignment on its own: validity order and the hard lifetime ceiling, at least
/// one right, care units of its own care provider, care-and-treatment assignments naming
/// their units, privilege administration only under the purpose administration.
pub fn check(a: &Assignment) -> Result<(), AssignmentError> {
    let id = a.id.as_str();
    if a.valid_until <= a.valid_from {
        return Err(invalid(id, "valid_until must be after valid_from"));
    }
    if a.valid_until - a.valid_from > time::Duration::days(MAX_LIFETIME_DAYS) {
        return Err(invalid(
            id,
            format!("an assignment may last at most {MAX_LIFETIME_DAYS} days"),
        ));
    }
    if a.rights.is_empty() {
        return Err(invalid(id, "grants no right"));
    }
    let org = a.care_provider.hsa_id().organisation_number();
    for u in &a.care_units {
        if u.hsa_id().organisation_number() != org {
            return Err(invalid(
                id,
                format!(
                    "care unit {u} does not belong to care provider {}",
                    a.care_provider
                ),
            ));
        }
    }
    for r in [
        Right::ManagePrivileges,
        Right::ManageRecords,
        Right::Operate,
    ] {
        if a.rights.contains(&r) && a.purpose != Purpose::Administration {
            return Err(invalid(
                id,
                format!(
                    "the right {} is granted only under the purpose administration",
                    r.as_str()
                ),
            ));
        }
    }
    if a.purpose == Purpose::CareAndTreatment
        && a.care_units.is_empty()
        && !a.rights.iter().all(|r| *r == Right::Ingest)
    {
        return Err(invalid(
            id,
            "care and treatment assignments name their care units",
        ));
    }
    Ok(())
}

/// One `[[assignment]]` table of an assignment file, written from plain values: used by
/// `callvault demo` and by tests that need assignment files.
#[derive(Clone, Copy, Debug)]
pub struct AssignmentSpec<'a> {
    /// Id.
    pub id: &'a str,
    /// Holder's HSA-ID.
    pub holder: &'a str,
    /// Care provider HSA-ID.
    pub care_provider: &'a str,
    /// Care unit HSA-IDs.
    pub care_units: &'a [&'a str],
    /// Purpose (Swedish name or slug).
    pub purpose: &'a str,
    /// Rights.
    pub rights: &'a [&'a str],
    /// Start of validity (RFC 3339).
    pub valid_from: &'a str,
    /// End of validity (RFC 3339).
    pub valid_until: &'a str,
}

impl AssignmentSpec<'_> {
    /// The TOML table.
    pub fn to_toml(&self) -> String {
        let list = |v: &[&str]| {
            v.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "[[assignment]]\nid = \"{}\"\nholder = \"{}\"\ncare_provider = \"{}\"\ncare_units = [{}]\npurpose = \"{}\"\nrights = [{}]\nvalid_from = \"{}\"\nvalid_until = \"{}\"\n\n",
            self.id,
            self.holder,
            self.care_provider,
            list(self.care_units),
            self.purpose,
            list(self.rights),
            self.valid_from,
            self.valid_until
        )
    }
}
