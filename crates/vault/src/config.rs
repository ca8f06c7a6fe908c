//! Configuration: a TOML file in the data directory (`callvault.toml`).
//!
//! Parsed in two steps: serde reads plain values (`RawConfig`), then `Config::from_raw`
//! validates them into typed configuration with absolute paths.

use std::path::{Path, PathBuf};

use callvault_blobstore::SiteId;
use callvault_types::CareProvider;
use serde::Deserialize;

/// Name of the configuration file inside a data directory.
pub const CONFIG_FILE: &str = "callvault.toml";
/// The legal minimum retention (Patient Data Act): ten years.
pub const MIN_RETENTION_YEARS: u32 = 10;

/// Why a configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading configuration {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or missing keys.
    #[error("configuration {path}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// Parser message (with line and column).
        message: String,
    },
    /// A value is not acceptable.
    #[error("configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    audit: RawAudit,
    catalog: RawCatalog,
    keys: RawKeys,
    #[serde(default)]
    retention: RawRetention,
    sites: Vec<RawSite>,
    #[serde(default)]
    care_providers: Vec<RawCareProvider>,
    #[serde(default)]
    governance: RawGovernance,
    #[serde(default)]
    witnesses: Vec<RawWitness>,
    #[serde(default)]
    follow_up: crate::followup::FollowUpSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitness {
    url: String,
    verifier_key: String,
    ca: PathBuf,
}

/// A witness the log submits its checkpoints to (`[[witnesses]]`).
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Its name (from the verifier key).
    pub name: String,
    /// `https://host:port` (the submission prefix; `/add-checkpoint` is appended).
    pub url: String,
    /// Its cosignature verifier key (type 0x04).
    pub verifier_key: String,
    /// CA certificate(s) that issued the witness's TLS certificate (PEM).
    pub ca: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGovernance {
    #[serde(default = "default_lifetime")]
    max_assignment_days: i64,
}

fn default_lifetime() -> i64 {
    callvault_auth::DEFAULT_LIFETIME_DAYS
}

impl Default for RawGovernance {
    fn default() -> Self {
        Self {
            max_assignment_days: default_lifetime(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    origin: String,
    signing_key: PathBuf,
    retention_years: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    backend: String,
    path: Option<PathBuf>,
    conninfo: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    readers: Option<usize>,
    tls_ca: Option<PathBuf>,
}

/// Where the catalog is (`[catalog]`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CatalogConfig {
    /// An SQLite file (`backend = "sqlite"`, the embedded default).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database (`backend = "postgres"`).
    Postgres(PostgresConfig),
}

/// A PostgreSQL catalog's settings.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// libpq-style connection string without the password
    /// (`host=… port=… user=… dbname=…`).
    pub conninfo: String,
    /// Where the password comes from, if the server asks for one.
    pub password: Option<SecretSource>,
    /// Read connections kept open.
    pub readers: usize,
    /// PEM file of the CA the server's certificate must chain to (TLS, required for any
    /// host but loopback).
    pub tls_ca: Option<PathBuf>,
}

/// Default `readers` of a PostgreSQL catalog.
pub const DEFAULT_PG_READERS: usize = 8;

impl RawCatalog {
    fn validate(self, abs: &dyn Fn(&Path) -> PathBuf) -> Result<CatalogConfig, ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        match self.backend.as_str() {
            "sqlite" => {
                let extra = [
                    ("conninfo", self.conninfo.is_some()),
                    ("password_file", self.password_file.is_some()),
                    ("password_env", self.password_env.is_some()),
                    ("readers", self.readers.is_some()),
                    ("tls_ca", self.tls_ca.is_some()),
                ];
                if let Some((key, _)) = extra.iter().find(|(_, set)| *set) {
                    return invalid(format!(
                        "catalog.{key} is a setting of backend \"postgres\", not of \"sqlite\""
                    ));
                }
                match self.path {
                    Some(p) => Ok(CatalogConfig::Sqlite { path: abs(&p) }),
                    None => invalid("catalog.path is required with backend \"sqlite\"".into()),
                }
            }
            "postgres" => {
                if self.path.is_some() {
                    return invalid(
                        "catalog.path is a setting of backend \"sqlite\"; a PostgreSQL catalog has a conninfo".into(),
                    );
                }
                let Some(conninfo) = self.conninfo.filter(|c| !c.trim().is_empty()) else {
                    return invalid("catalog.conninfo is required with backend \"postgres\" (e.g. \"host=db1 port=5432 user=callvault dbname=callvault\")".into());
                };
                if conninfo
                    .split_whitespace()
                    .any(|kv| kv.starts_with("password="))
                {
                    return invalid(
                        "catalog.conninfo must not contain the password; use catalog.password_file or catalog.password_env".into(),
                    );
                }
                let password = match (self.password_file, self.password_env) {
                    (Some(f), None) => Some(SecretSource::File(abs(&f))),
                    (None, Some(v)) if !v.is_empty() => Some(SecretSource::Env(v)),
                    (None, None) => None,
                    (None, Some(_)) => return invalid("catalog.password_env is empty".into()),
                    (Some(_), Some(_)) => {
                        return invalid(
                            "set catalog.password_file or catalog.password_env, not both".into(),
                        );
                    }
                };
                let readers = self.readers.unwrap_or(DEFAULT_PG_READERS);
                if !(1..=64).contains(&readers) {
                    return invalid(format!(
                        "catalog.readers is {readers}; it must be between 1 and 64"
                    ));
                }
                Ok(CatalogConfig::Postgres(PostgresConfig {
                    conninfo,
                    password,
                    readers,
                    tls_ca: self.tls_ca.map(|p| abs(&p)),
                }))
            }
            other => invalid(format!(
                "catalog.backend {other:?} is not known; use \"sqlite\" or \"postgres\""
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    backend: String,
    dir: Option<PathBuf>,
    module: Option<PathBuf>,
    token_label: Option<String>,
    pin_file: Option<PathBuf>,
    pin_env: Option<String>,
    label_prefix: Option<String>,
    max_sessions: Option<usize>,
}

/// Where the care providers' keys are kept (`[keys]`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeysConfig {
    /// Owner-only key files in a directory (`backend = "files"`, the embedded default).
    Files {
        /// The key directory.
        dir: PathBuf,
    },
    /// Non-extractable keys in a PKCS#11 token (`backend = "pkcs11"`).
    Pkcs11(Pkcs11Config),
}

/// A PKCS#11 token's settings (`[keys] backend = "pkcs11"`).
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// Label of the token.
    pub token_label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Label prefix of callvault's objects in the token.
    pub label_prefix: String,
    /// Most sessions open at once.
    pub max_sessions: usize,
}

/// Where a PKCS#11 user PIN is read from.
#[derive(Debug, Clone)]
pub enum PinSource {
    /// An owner-only file (its first line).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// Default `max_sessions` of a PKCS#11 token.
pub const DEFAULT_PKCS11_SESSIONS: usize = 8;

impl RawKeys {
    fn validate(self, abs: &dyn Fn(&Path) -> PathBuf) -> Result<KeysConfig, ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        match self.backend.as_str() {
            "files" => {
                let extra = [
                    ("module", self.module.is_some()),
                    ("token_label", self.token_label.is_some()),
                    ("pin_file", self.pin_file.is_some()),
                    ("pin_env", self.pin_env.is_some()),
                    ("label_prefix", self.label_prefix.is_some()),
                    ("max_sessions", self.max_sessions.is_some()),
                ];
                if let Some((name, _)) = extra.iter().find(|(_, set)| *set) {
                    return invalid(format!(
                        "keys.{name} is a setting of backend \"pkcs11\", not of \"files\""
                    ));
                }
                match self.dir {
                    Some(dir) => Ok(KeysConfig::Files { dir: abs(&dir) }),
                    None => invalid("keys.dir is required with backend \"files\"".into()),
                }
            }
            "pkcs11" => {
                if self.dir.is_some() {
                    return invalid(
                        "keys.dir is a setting of backend \"files\"; a PKCS#11 token keeps its keys itself".into(),
                    );
                }
                let Some(module) = self.module else {
                    return invalid(
                        "keys.module (the PKCS#11 library) is required with backend \"pkcs11\""
                            .into(),
                    );
                };
                let Some(token_label) = self.token_label.filter(|l| !l.trim().is_empty()) else {
                    return invalid("keys.token_label is required with backend \"pkcs11\"".into());
                };
                if token_label.len() > 32 {
                    return invalid(format!(
                        "keys.token_label {token_label:?} is longer than PKCS#11's 32 bytes"
                    ));
                }
                let pin = match (self.pin_file, self.pin_env) {
                    (Some(f), None) => PinSource::File(abs(&f)),
                    (None, Some(v)) if !v.is_empty() => PinSource::Env(v),
                    (None, None) | (None, Some(_)) => {
                        return invalid(
                            "keys.pin_file or keys.pin_env is required with backend \"pkcs11\""
                                .into(),
                        );
                    }
                    (Some(_), Some(_)) => {
                        return invalid("set keys.pin_file or keys.pin_env, not both".into());
                    }
                };
                let label_prefix = self.label_prefix.unwrap_or_else(|| "callvault".into());
                if label_prefix.is_empty()
                    || !label_prefix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    return invalid(format!(
                        "keys.label_prefix {label_prefix:?} must be letters, digits, '-', '_' or '.'"
                    ));
                }
                let max_sessions = self.max_sessions.unwrap_or(DEFAULT_PKCS11_SESSIONS);
                if !(1..=256).contains(&max_sessions) {
                    return invalid(format!(
                        "keys.max_sessions is {max_sessions}; it must be between 1 and 256"
                    ));
                }
                Ok(KeysConfig::Pkcs11(Pkcs11Config {
                    module: abs(&module),
                    token_label,
                    pin,
                    label_prefix,
                    max_sessions,
                }))
            }
            other => invalid(format!(
                "keys.backend {other:?} is not known; use \"files\" or \"pkcs11\""
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    default_years: u32,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            default_years: MIN_RETENTION_YEARS,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: String,
    backend: String,
    path: Option<PathBuf>,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    secret_access_key_env: Option<String>,
    prefix: Option<String>,
    part_size_mib: Option<usize>,
    allow_http: Option<bool>,
    timeout_secs: Option<u64>,
}

/// Default `part_size_mib` of an S3 site.
pub const DEFAULT_PART_SIZE_MIB: usize = 8;
/// Default `timeout_secs` of a site: how long a write may make no progress (an S3 request
/// take) before the site is given up for that recording.
pub const DEFAULT_SITE_TIMEOUT_SECS: u64 = 30;

impl RawSite {
    fn validate(self, abs: &dyn Fn(&Path) -> PathBuf) -> Result<SiteConfig, ConfigError> {
        let name = SiteId::parse(&self.name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let invalid = |m: String| Err(ConfigError::Invalid(format!("site {name}: {m}")));
        let s3_settings = [
            ("endpoint", self.endpoint.is_some()),
            ("bucket", self.bucket.is_some()),
            ("region", self.region.is_some()),
            ("access_key_id", self.access_key_id.is_some()),
            (
                "secret_access_key_file",
                self.secret_access_key_file.is_some(),
            ),
            (
                "secret_access_key_env",
                self.secret_access_key_env.is_some(),
            ),
            ("prefix", self.prefix.is_some()),
            ("part_size_mib", self.part_size_mib.is_some()),
            ("allow_http", self.allow_http.is_some()),
        ];
        let timeout_secs = self.timeout_secs.unwrap_or(DEFAULT_SITE_TIMEOUT_SECS);
        if !(1..=3600).contains(&timeout_secs) {
            return invalid(format!(
                "timeout_secs is {timeout_secs}; it must be between 1 and 3600"
            ));
        }
        let backend = match self.backend.as_str() {
            "dir" => {
                if let Some((key, _)) = s3_settings.iter().find(|(_, set)| *set) {
                    return invalid(format!(
                        "{key} is a setting of backend \"s3\", not of \"dir\""
                    ));
                }
                match self.path {
                    Some(p) => SiteBackend::Dir {
                        path: abs(&p),
                        timeout_secs,
                    },
                    None => return invalid("path is required with backend \"dir\"".into()),
                }
            }
            "s3" => {
                if self.path.is_some() {
                    return invalid(
                        "path is a setting of backend \"dir\"; an S3 site has endpoint and bucket"
                            .into(),
                    );
                }
                let required = |v: Option<String>, key: &str| match v {
                    Some(v) if !v.trim().is_empty() => Ok(v),
                    _ => Err(ConfigError::Invalid(format!(
                        "site {name}: {key} is required with backend \"s3\""
                    ))),
                };
                let endpoint = required(self.endpoint, "endpoint")?;
                let allow_http = self.allow_http.unwrap_or(false);
                if !(endpoint.starts_with("https://")
                    || (allow_http && endpoint.starts_with("http://")))
                {
                    return invalid(format!(
                        "endpoint {endpoint:?} must be an https:// URL (plain http only with allow_http = true, for loopback tests)"
                    ));
                }
                let bucket = required(self.bucket, "bucket")?;
                if bucket.len() < 3
                    || bucket.len() > 63
                    || !bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    })
                {
                    return invalid(format!(
                        "bucket {bucket:?} is not a valid S3 bucket name (3-63 of a-z, 0-9, '-', '.')"
                    ));
                }
                let region = required(self.region, "region")?;
                let access_key_id = required(self.access_key_id, "access_key_id")?;
                let secret = match (self.secret_access_key_file, self.secret_access_key_env) {
                    (Some(f), None) => SecretSource::File(abs(&f)),
                    (None, Some(v)) if !v.is_empty() => SecretSource::Env(v),
                    (Some(_), Some(_)) => {
                        return invalid(
                            "set secret_access_key_file or secret_access_key_env, not both".into(),
                        );
                    }
                    _ => {
                        return invalid(
                            "secret_access_key_file or secret_access_key_env is required with backend \"s3\"".into(),
                        );
                    }
                };
                let prefix = self.prefix.unwrap_or_default();
                if !(prefix.is_empty() || prefix.ends_with('/'))
                    || prefix.starts_with('/')
                    || prefix.contains("//")
                {
                    return invalid(format!(
                        "prefix {prefix:?} must be empty or a path ending in '/' (no leading '/')"
                    ));
                }
                let part_size_mib = self.part_size_mib.unwrap_or(DEFAULT_PART_SIZE_MIB);
                if !(5..=512).contains(&part_size_mib) {
                    return invalid(format!(
                        "part_size_mib is {part_size_mib}; S3 parts are 5 to 512 MiB here"
                    ));
                }
                SiteBackend::S3(S3SiteConfig {
                    endpoint,
                    bucket,
                    region,
                    access_key_id,
                    secret,
                    prefix,
                    part_size_mib,
                    allow_http,
                    timeout_secs,
                })
            }
            other => {
                return invalid(format!(
                    "backend {other:?} is not known; use \"dir\" or \"s3\""
                ));
            }
        };
        Ok(SiteConfig { name, backend })
    }
}

/// Where an S3 site's secret access key is read from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// An owner-only file (its first line).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// An S3 bucket as a site (`backend = "s3"`).
#[derive(Debug, Clone)]
pub struct S3SiteConfig {
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Where the secret access key comes from.
    pub secret: SecretSource,
    /// Key prefix in the bucket (empty or ending in `/`).
    pub prefix: String,
    /// Multipart part size in MiB.
    pub part_size_mib: usize,
    /// Whether a plain-http endpoint is allowed.
    pub allow_http: bool,
    /// Request timeout in seconds, retries included.
    pub timeout_secs: u64,
}

/// Where a site keeps its blobs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SiteBackend {
    /// A directory on a local or mounted disk (`backend = "dir"`).
    Dir {
        /// The site directory.
        path: PathBuf,
        /// Seconds a write may make no progress before the site is given up for that
        /// recording (a hung disk or network mount).
        timeout_secs: u64,
    },
    /// A bucket in an S3-compatible object store (`backend = "s3"`).
    S3(S3SiteConfig),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCareProvider {
    hsa_id: String,
    retention_years: u32,
    #[serde(default)]
    log_extract_staff: Option<String>,
}

/// One configured site.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// Site name.
    pub name: SiteId,
    /// Where its blobs are.
    pub backend: SiteBackend,
}

impl SiteConfig {
    /// The site directory, if it is one.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            SiteBackend::Dir { path, .. } => Some(path),
            SiteBackend::S3(_) => None,
        }
    }

    /// A directory path or `s3://endpoint/bucket/prefix`, for messages and `status`.
    pub fn location(&self) -> String {
        match &self.backend {
            SiteBackend::Dir { path, .. } => path.display().to_string(),
            SiteBackend::S3(s) => format!(
                "{}/{}/{}",
                s.endpoint.trim_end_matches('/'),
                s.bucket,
                s.prefix
            ),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory (where the file lives); relative paths resolve against it.
    pub data_dir: PathBuf,
    /// Origin line of audit checkpoints.
    pub audit_origin: String,
    /// Audit signing key file.
    pub audit_signing_key: PathBuf,
    /// Where the catalog is.
    pub catalog: CatalogConfig,
    /// Where the keys are kept.
    pub keys: KeysConfig,
    /// Default retention in years (at least 10).
    pub default_retention_years: u32,
    /// Per care provider retention (at least the default).
    pub care_provider_retention: Vec<(CareProvider, u32)>,
    /// Sites, at least two.
    pub sites: Vec<SiteConfig>,
    /// Longest validity of one assignment, in days (`[governance] max_assignment_days`,
    /// default 366: twelve months).
    pub max_assignment_days: i64,
    /// Witnesses to submit checkpoints to.
    pub witnesses: Vec<WitnessConfig>,
    /// Years the audit log is kept before an approved prune order may drop old events
    /// (`[audit] retention_years`, at least five).
    pub audit_retention_years: u32,
    /// Log follow-up rule settings (`[follow_up]`), validated.
    pub follow_up: crate::followup::FollowUpSettings,
    /// What a patient's log extract shows of the staff, per care provider
    /// (`[[care_providers]] log_extract_staff`); others show none.
    pub log_extract_staff: Vec<(CareProvider, crate::extract::StaffDisclosure)>,
}

impl Config {
    /// Loads `<data_dir>/callvault.toml`.
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, data_dir, &path)
    }

    /// Parses configuration text; `file` is named in error messages.
    pub fn parse(text: &str, data_dir: &Path, file: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: file.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_raw(raw, data_dir)
    }

    fn from_raw(raw: RawConfig, data_dir: &Path) -> Result<Self, ConfigError> {
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                data_dir.join(p)
            }
        };
        let origin = raw.audit.origin.trim();
        if origin.is_empty() || origin.contains(char::is_whitespace) || origin != raw.audit.origin {
            return Err(ConfigError::Invalid(
                "audit.origin must be a non-empty name without spaces, e.g. audit.callvault.region-stockholm.example".into(),
            ));
        }
        if raw.retention.default_years < MIN_RETENTION_YEARS {
            return Err(ConfigError::Invalid(format!(
                "retention.default_years is {}; the law requires at least {MIN_RETENTION_YEARS}",
                raw.retention.default_years
            )));
        }
        let mut sites: Vec<SiteConfig> = Vec::new();
        for s in raw.sites {
            let site = s.validate(&abs)?;
            if sites.iter().any(|x| x.name == site.name) {
                return Err(ConfigError::Invalid(format!(
                    "site {} is configured twice",
                    site.name
                )));
            }
            sites.push(site);
        }
        if sites.len() < 2 {
            return Err(ConfigError::Invalid(format!(
                "{} site(s) configured; callvault needs at least two separate sites",
                sites.len()
            )));
        }
        for (i, a) in sites.iter().enumerate() {
            for b in &sites[i + 1..] {
                let shared = match (&a.backend, &b.backend) {
                    (SiteBackend::Dir { path: pa, .. }, SiteBackend::Dir { path: pb, .. }) => {
                        pa.starts_with(pb) || pb.starts_with(pa)
                    }
                    (SiteBackend::S3(sa), SiteBackend::S3(sb)) => {
                        sa.endpoint.trim_end_matches('/') == sb.endpoint.trim_end_matches('/')
                            && sa.bucket == sb.bucket
                            && (sa.prefix.starts_with(&sb.prefix)
                                || sb.prefix.starts_with(&sa.prefix))
                    }
                    _ => false,
                };
                if shared {
                    return Err(ConfigError::Invalid(format!(
                        "sites {} and {} share a directory or bucket; each site needs its own",
                        a.name, b.name
                    )));
                }
            }
        }
        let keys = raw.keys.validate(&abs)?;
        let catalog = raw.catalog.validate(&abs)?;
        let mut private = Vec::new();
        if let CatalogConfig::Sqlite { path } = &catalog {
            private.push(("catalog.path", path));
        }
        if let KeysConfig::Files { dir } = &keys {
            private.push(("keys.dir", dir));
        }
        for site in &sites {
            let Some(site_path) = site.dir() else {
                continue;
            };
            for (what, path) in private.iter().copied() {
                if path.starts_with(site_path) || site_path.starts_with(path) {
                    return Err(ConfigError::Invalid(format!(
                        "{what} lies inside site {} (or the site inside it); keys and the catalog must never be stored at a site",
                        site.name
                    )));
                }
            }
        }
        let max_days = raw.governance.max_assignment_days;
        if !(1..=callvault_auth::MAX_LIFETIME_DAYS).contains(&max_days) {
            return Err(ConfigError::Invalid(format!(
                "governance.max_assignment_days is {max_days}; it must be between 1 and {}",
                callvault_auth::MAX_LIFETIME_DAYS
            )));
        }
        let mut witnesses: Vec<WitnessConfig> = Vec::new();
        for w in raw.witnesses {
            let v = callvault_audit::cosignature::CosignatureVerifier::from_verifier_key(
                w.verifier_key.trim(),
            )
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "witnesses: verifier_key {:?}: {e} (a witness key from `callvault witness keygen`)",
                    w.verifier_key
                ))
            })?;
            let url = w.url.trim_end_matches('/').to_owned();
            if !url.starts_with("https://") || url["https://".len()..].contains('/') {
                return Err(ConfigError::Invalid(format!(
                    "witnesses: url {:?} must be https://host:port",
                    w.url
                )));
            }
            if witnesses.iter().any(|x| x.name == v.name()) {
                return Err(ConfigError::Invalid(format!(
                    "witness {} is configured twice",
                    v.name()
                )));
            }
            witnesses.push(WitnessConfig {
                name: v.name().to_owned(),
                url,
                verifier_key: w.verifier_key.trim().to_owned(),
                ca: abs(&w.ca),
            });
        }
        let audit_retention_years = raw
            .audit
            .retention_years
            .unwrap_or(crate::audit_retention::MIN_AUDIT_RETENTION_YEARS);
        if !(crate::audit_retention::MIN_AUDIT_RETENTION_YEARS..=100)
            .contains(&audit_retention_years)
        {
            return Err(ConfigError::Invalid(format!(
                "audit.retention_years is {audit_retention_years}; audit logs are kept at least {} years (HSLF-FS 2016:40)",
                crate::audit_retention::MIN_AUDIT_RETENTION_YEARS
            )));
        }
        let follow_up = raw
            .follow_up
            .check()
            .map_err(|e| ConfigError::Invalid(format!("follow_up: {e}")))?
            .settings()
            .clone();
        let mut cps = Vec::new();
        let mut log_extract_staff = Vec::new();
        for c in raw.care_providers {
            let cp = CareProvider::parse(&c.hsa_id)
                .map_err(|e| ConfigError::Invalid(format!("care provider {:?}: {e}", c.hsa_id)))?;
            if let Some(s) = &c.log_extract_staff {
                let d = crate::extract::StaffDisclosure::parse(s).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "care provider {cp}: log_extract_staff {s:?} is not one of: none, title, name-and-title"
                    ))
                })?;
                log_extract_staff.push((cp.clone(), d));
            }
            if c.retention_years < raw.retention.default_years {
                return Err(ConfigError::Invalid(format!(
                    "care provider {cp}: retention_years {} is shorter than the default {}; it may only be longer",
                    c.retention_years, raw.retention.default_years
                )));
            }
            cps.push((cp, c.retention_years));
        }
        Ok(Self {
            data_dir: data_dir.to_owned(),
            audit_origin: raw.audit.origin,
            audit_retention_years,
            audit_signing_key: abs(&raw.audit.signing_key),
            catalog,
            keys,
            default_retention_years: raw.retention.default_years,
            care_provider_retention: cps,
            sites,
            max_assignment_days: max_days,
            witnesses,
            follow_up,
            log_extract_staff,
        })
    }

    /// Retention in years for a care provider.
    pub fn retention_years(&self, cp: &CareProvider) -> u32 {
        self.care_provider_retention
            .iter()
            .find(|(c, _)| c == cp)
            .map(|(_, y)| *y)
            .unwrap_or(self.default_retention_years)
    }

    /// What a care provider's log extracts show of the staff (none unless configured).
    pub fn log_extract_staff(&self, cp: &CareProvider) -> crate::extract::StaffDisclosure {
        self.log_extract_staff
            .iter()
            .find(|(c, _)| c == cp)
            .map(|(_, d)| *d)
            .unwrap_or(crate::extract::StaffDisclosure::None)
    }

    /// The configuration `init` writes.
    pub fn default_toml(origin: &str) -> String {
        format!(
            r#"# callvault configuration (embedded default: one machine, two site directories,
# SQLite catalog, key files). Relative paths are relative to this file's directory.

[audit]
# Origin line of signed checkpoints (C2SP tlog-checkpoint).
origin = "{origin}"
signing_key = "keys/audit-signing.key"
# The audit log is kept at least this many years (at least 5). Older events are dropped only
# by a prune order approved for every care provider; proofs stay valid.
retention_years = 5

[catalog]
backend = "sqlite"
path = "catalog/catalog.sqlite3"

[keys]
backend = "files"
dir = "keys"

[retention]
# At least 10 years (Patient Data Act). Care providers may configure longer, never shorter.
default_years = 10

[governance]
# Longest validity of one assignment (medarbetaruppdrag); they expire by themselves.
max_assignment_days = 366

# Two separate sites. In production these are two data centres.
[[sites]]
name = "a"
backend = "dir"
path = "sites/a"

[[sites]]
name = "b"
backend = "dir"
path = "sites/b"

# Log follow-up (logguppföljning): the rules `callvault review follow-up` runs. Emergency
# access is always listed.
[follow_up]
outside_own_units = true
protected_identity = true
own_records = true
max_patients_per_hour = 20
# Swedish local time; an empty string switches the rule off.
working_hours = "07:00-18:00"
working_days = ["mon", "tue", "wed", "thu", "fri"]
days_off = []
denied_burst = 5
denied_window_minutes = 10
spot_checks = 10

# [[care_providers]]
# hsa_id = "SE2321000016-0001"
# retention_years = 12
# What a patient's log extract shows of the staff: none (default), title, name-and-title.
# log_extract_staff = "name-and-title"
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/data"), Path::new("/data/callvault.toml"))
    }

    #[test]
    fn default_config_parses() {
        let c = parse(&Config::default_toml("audit.example")).expect("default");
        assert_eq!(c.sites.len(), 2);
        assert!(
            matches!(&c.catalog, CatalogConfig::Sqlite { path } if path == Path::new("/data/catalog/catalog.sqlite3"))
        );
        assert_eq!(c.default_retention_years, 10);
        assert_eq!(c.max_assignment_days, 366);
        for bad in ["0", "-5", "5000"] {
            let text = Config::default_toml("audit.example").replace(
                "max_assignment_days = 366",
                &format!("max_assignment_days = {bad}"),
            );
            assert!(
                parse(&text)
                    .expect_err("lifetime")
                    .to_string()
                    .contains("governance.max_assignment_days"),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_bad_configs_with_reasons() {
        let base = Config::default_toml("audit.example");
        let one_site = base.replace(
            "[[sites]]\nname = \"b\"\nbackend = \"dir\"\npath = \"sites/b\"\n",
            "",
        );
        assert!(
            parse(&one_site)
                .expect_err("one site")
                .to_string()
                .contains("at least two")
        );
        let short = base.replace("default_years = 10", "default_years = 5");
        assert!(
            parse(&short)
                .expect_err("short")
                .to_string()
                .contains("at least 10")
        );
        let unknown = format!("{base}\nbogus = 1\n");
        assert!(matches!(parse(&unknown), Err(ConfigError::Syntax { .. })));
        let keys_at_site = base.replace("dir = \"keys\"", "dir = \"sites/a/keys\"");
        assert!(
            parse(&keys_at_site)
                .expect_err("keys at site")
                .to_string()
                .contains("keys.dir lies inside site a")
        );
        let shared = base.replace("sites/b", "sites/a/inner");
        assert!(
            parse(&shared)
                .expect_err("shared")
                .to_string()
                .contains("share a directory")
        );
        let cp = format!(
            "{base}\n[[care_providers]]\nhsa_id = \"SE2321000016-0001\"\nretention_years = 9\n"
        );
        assert!(
            parse(&cp)
                .expect_err("cp")
                .to_string()
                .contains("only be longer")
        );
    }

    #[test]
    fn a_dir_site_has_a_write_timeout() {
        let base = Config::default_toml("audit.example");
        let c = parse(&base).expect("default");
        assert!(matches!(
            c.sites[0].backend,
            SiteBackend::Dir {
                timeout_secs: DEFAULT_SITE_TIMEOUT_SECS,
                ..
            }
        ));
        let set = base.replace(
            "path = \"sites/b\"\n",
            "path = \"sites/b\"\ntimeout_secs = 5\n",
        );
        let c = parse(&set).expect("timeout");
        assert!(matches!(
            c.sites[1].backend,
            SiteBackend::Dir {
                timeout_secs: 5,
                ..
            }
        ));
        for bad in ["0", "3601"] {
            let text = base.replace(
                "path = \"sites/b\"\n",
                &format!("path = \"sites/b\"\ntimeout_secs = {bad}\n"),
            );
            assert_eq!(
                parse(&text).expect_err("refused").to_string(),
                format!(
                    "configuration: site b: timeout_secs is {bad}; it must be between 1 and 3600"
                )
            );
        }
    }
}
