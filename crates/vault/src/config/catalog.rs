//! The `[catalog]` section: the embedded SQLite file, or a PostgreSQL server.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    pub(super) backend: String,
    pub(super) path: Option<PathBuf>,
    pub(super) conninfo: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) readers: Option<usize>,
    pub(super) tls_ca: Option<PathBuf>,
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
    pub(super) fn validate(
        self,
        abs: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<CatalogConfig, ConfigError> {
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
