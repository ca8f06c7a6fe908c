//! Configuration: a TOML file in the data directory (`callvault.toml`).
//!
//! Parsed in two steps: serde reads plain values (`RawConfig`), then `Config::from_raw`
//! validates them into typed configuration with absolute paths.

use std::path::{Path, PathBuf};

use callvault_blobstore::SiteId;
use callvault_types::CareProvider;
use serde::Deserialize;

mod catalog;
mod keys;
mod names;
mod sites;

use catalog::RawCatalog;
pub use catalog::{CatalogConfig, DEFAULT_PG_READERS, PostgresConfig};
use keys::RawKeys;
pub use keys::{DEFAULT_PKCS11_SESSIONS, KeysConfig, PinSource, Pkcs11Config};
pub use names::{MAX_NAME, Names};
use sites::RawSite;
pub use sites::{
    DEFAULT_PART_SIZE_MIB, DEFAULT_SITE_TIMEOUT_SECS, S3SiteConfig, SecretSource, SiteBackend,
    SiteConfig,
};

/// Name of the configuration file inside a data directory.
pub const CONFIG_FILE: &str = "callvault.toml";
/// The embedded default configuration (one machine, two site directories, SQLite, key
/// files), with `@ORIGIN@` for the audit log's origin.
const DEFAULT_TOML: &str = include_str!("default.toml");
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
    follow_up: callvault_reporting::followup::FollowUpSettings,
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
struct RawCareProvider {
    hsa_id: String,
    retention_years: u32,
    #[serde(default)]
    log_extract_staff: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    units: Vec<names::RawUnit>,
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
    pub follow_up: callvault_reporting::followup::FollowUpSettings,
    /// What a patient's log extract shows of the staff, per care provider
    /// (`[[care_providers]] log_extract_staff`); others show none.
    pub log_extract_staff: Vec<(CareProvider, callvault_reporting::extract::StaffDisclosure)>,
    /// Care providers' and care units' names (`[[care_providers]] name`, `units`), for
    /// display beside their HSA-IDs.
    pub names: std::sync::Arc<Names>,
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
        let mut names = Names::default();
        for c in raw.care_providers {
            let cp = CareProvider::parse(&c.hsa_id)
                .map_err(|e| ConfigError::Invalid(format!("care provider {:?}: {e}", c.hsa_id)))?;
            if let Some(s) = &c.log_extract_staff {
                let d = callvault_reporting::extract::StaffDisclosure::parse(s).ok_or_else(|| {
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
            names.add(&cp, c.name.as_deref(), &c.units)?;
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
            names: std::sync::Arc::new(names),
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
    pub fn log_extract_staff(
        &self,
        cp: &CareProvider,
    ) -> callvault_reporting::extract::StaffDisclosure {
        self.log_extract_staff
            .iter()
            .find(|(c, _)| c == cp)
            .map(|(_, d)| *d)
            .unwrap_or(callvault_reporting::extract::StaffDisclosure::None)
    }

    /// The configuration `init` writes (`config/default.toml`, the origin filled in).
    pub fn default_toml(origin: &str) -> String {
        DEFAULT_TOML.replace("@ORIGIN@", origin)
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
    fn care_provider_and_unit_names_are_read_and_checked() {
        let base = Config::default_toml("audit.example");
        let named = |units: &str| {
            format!(
                "{base}\n[[care_providers]]\nhsa_id = \"SE2321000016-0001\"\nretention_years = 10\nname = \"Region Exempel\"\nunits = [{units}]\n"
            )
        };
        let c = parse(&named(
            r#"{ hsa_id = "SE2321000016-U001", name = " 1177 Sjukvårdsrådgivningen Nord " }"#,
        ))
        .expect("names");
        let cp = CareProvider::parse("SE2321000016-0001").expect("cp");
        let unit = callvault_types::CareUnit::parse("SE2321000016-U001").expect("unit");
        let other = callvault_types::CareUnit::parse("SE2321000016-U002").expect("unit");
        assert_eq!(c.names.care_provider(&cp), Some("Region Exempel"));
        assert_eq!(c.names.unit(&unit), Some("1177 Sjukvårdsrådgivningen Nord"));
        assert_eq!(c.names.unit(&other), None);
        for (units, why) in [
            (
                r#"{ hsa_id = "SE2321000016-U001", name = "A" }, { hsa_id = "SE2321000016-U001", name = "B" }"#,
                "unit SE2321000016-U001 is named twice",
            ),
            (
                r#"{ hsa_id = "SE2321000016-U001", name = "  " }"#,
                "name is empty",
            ),
            (
                r#"{ hsa_id = "SE2321000016-U001", name = "A\u0007" }"#,
                "control character",
            ),
            (r#"{ hsa_id = "nope", name = "A" }"#, "unit \"nope\""),
            (
                r#"{ hsa_id = "SE2321000016-U001" }"#,
                "missing field `name`",
            ),
        ] {
            let e = parse(&named(units)).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
        let long = format!(
            r#"{{ hsa_id = "SE2321000016-U001", name = "{}" }}"#,
            "x".repeat(201)
        );
        assert!(
            parse(&named(&long))
                .expect_err("long")
                .to_string()
                .contains("longer than 200")
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
