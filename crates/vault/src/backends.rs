//! From configuration to the engines behind the traits: the key provider (key files or a
//! PKCS#11 token), the blob store of each site (a directory or an S3 bucket), the catalog
//! (an SQLite file or a PostgreSQL database).

use std::sync::Arc;

use callvault_blobstore::{BlobStore, DirStore, S3Settings, S3Store};
use callvault_crypto::{
    KeyFileProvider, KeyProvider, Pkcs11Provider, Pkcs11Settings, read_secret_file,
};
use zeroize::Zeroizing;

use crate::VaultError;
use crate::config::{
    CatalogConfig, ConfigError, KeysConfig, PinSource, S3SiteConfig, SecretSource, SiteBackend,
    SiteConfig,
};

/// The first line of an owner-only secret file, or the value of an environment variable.
fn read_secret(source: Source<'_>, what: &str) -> Result<Zeroizing<String>, VaultError> {
    match source {
        Source::File(path) => {
            let raw = read_secret_file(path)?;
            let text = std::str::from_utf8(&raw).map_err(|_| {
                VaultError::Config(ConfigError::Invalid(format!(
                    "{what} file {} is not text",
                    path.display()
                )))
            })?;
            Ok(Zeroizing::new(
                text.lines().next().unwrap_or("").trim().to_owned(),
            ))
        }
        Source::Env(var) => std::env::var(var)
            .map(|v| Zeroizing::new(v.trim().to_owned()))
            .map_err(|_| {
                VaultError::Config(ConfigError::Invalid(format!(
                    "{what} variable {var} is not set"
                )))
            }),
    }
}

enum Source<'a> {
    File(&'a std::path::Path),
    Env(&'a str),
}

/// Opens the configured key backend.
/// How a data directory's engines are opened: by the process that owns it (cleaning up
/// what a crash left), or beside it (a reading command while the server runs: nothing
/// cleaned, created or migrated).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Opening {
    Owner,
    Beside,
}

pub(crate) fn open_key_provider(
    keys: &KeysConfig,
    how: Opening,
) -> Result<Arc<dyn KeyProvider>, VaultError> {
    Ok(match keys {
        KeysConfig::Files { dir } if how == Opening::Beside => {
            Arc::new(KeyFileProvider::open_beside(dir)?)
        }
        KeysConfig::Files { dir } => Arc::new(KeyFileProvider::open(dir)?),
        KeysConfig::Pkcs11(p) => {
            let pin = match &p.pin {
                PinSource::File(path) => read_secret(Source::File(path), "PKCS#11 PIN")?,
                PinSource::Env(var) => read_secret(Source::Env(var), "PKCS#11 PIN")?,
            };
            Arc::new(Pkcs11Provider::open(Pkcs11Settings {
                module: p.module.clone(),
                token_label: p.token_label.clone(),
                pin,
                label_prefix: p.label_prefix.clone(),
                max_sessions: p.max_sessions,
            })?)
        }
    })
}

fn s3_settings(s: &S3SiteConfig) -> Result<S3Settings, VaultError> {
    let secret = match &s.secret {
        SecretSource::File(path) => read_secret(Source::File(path), "S3 secret access key")?,
        SecretSource::Env(var) => read_secret(Source::Env(var), "S3 secret access key")?,
    };
    Ok(S3Settings {
        endpoint: s.endpoint.clone(),
        bucket: s.bucket.clone(),
        region: s.region.clone(),
        access_key_id: s.access_key_id.clone(),
        secret_access_key: secret,
        prefix: s.prefix.clone(),
        part_size: s.part_size_mib * 1024 * 1024,
        allow_http: s.allow_http,
        timeout_secs: s.timeout_secs,
    })
}

/// Makes a configured site (a directory with its marker, or a bucket with its marker).
pub(crate) fn create_site(site: &SiteConfig) -> Result<Arc<dyn BlobStore>, VaultError> {
    Ok(match &site.backend {
        SiteBackend::Dir { path, timeout_secs } => Arc::new(
            DirStore::create(site.name.clone(), path)?
                .with_write_timeout(std::time::Duration::from_secs(*timeout_secs)),
        ),
        SiteBackend::S3(s) => Arc::new(S3Store::create(site.name.clone(), &s3_settings(s)?)?),
    })
}

/// Opens a configured site, checking its marker.
pub(crate) fn open_site(site: &SiteConfig, how: Opening) -> Result<Arc<dyn BlobStore>, VaultError> {
    Ok(match &site.backend {
        SiteBackend::Dir { path, timeout_secs } => {
            let store = match how {
                Opening::Owner => DirStore::open(site.name.clone(), path)?,
                Opening::Beside => DirStore::open_beside(site.name.clone(), path)?,
            };
            Arc::new(store.with_write_timeout(std::time::Duration::from_secs(*timeout_secs)))
        }
        SiteBackend::S3(s) => Arc::new(S3Store::open(site.name.clone(), &s3_settings(s)?)?),
    })
}

/// Whether a site is present (has its marker) and, if not, whether it holds anything.
pub(crate) fn probe_site(site: &SiteConfig) -> Result<SiteProbe, VaultError> {
    Ok(match &site.backend {
        SiteBackend::Dir { path, .. } => {
            if path.join(callvault_blobstore::SITE_MARKER).exists() {
                SiteProbe::Present
            } else if std::fs::read_dir(path).is_ok_and(|mut e| e.next().is_some()) {
                SiteProbe::NotEmpty
            } else {
                SiteProbe::Absent
            }
        }
        SiteBackend::S3(s) => match S3Store::probe(site.name.clone(), &s3_settings(s)?)? {
            (true, _) => SiteProbe::Present,
            (false, true) => SiteProbe::NotEmpty,
            (false, false) => SiteProbe::Absent,
        },
    })
}

/// What `probe_site` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteProbe {
    /// The marker is there.
    Present,
    /// No marker, but something else is.
    NotEmpty,
    /// Nothing at all.
    Absent,
}

/// Opens the configured catalog (creating or migrating its schema).
pub(crate) fn open_catalog(
    c: &CatalogConfig,
    how: Opening,
) -> Result<Arc<dyn callvault_catalog::Catalog>, VaultError> {
    Ok(match c {
        CatalogConfig::Sqlite { path } => Arc::new(match how {
            Opening::Owner => callvault_catalog::SqliteCatalog::open(path)?,
            Opening::Beside => callvault_catalog::SqliteCatalog::open_beside(path)?,
        }),
        CatalogConfig::Postgres(p) => {
            let password = match &p.password {
                None => None,
                Some(SecretSource::File(path)) => {
                    Some(read_secret(Source::File(path), "PostgreSQL password")?)
                }
                Some(SecretSource::Env(var)) => {
                    Some(read_secret(Source::Env(var), "PostgreSQL password")?)
                }
            };
            let tls_ca_pem = match &p.tls_ca {
                None => None,
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    VaultError::Config(ConfigError::Invalid(format!(
                        "catalog.tls_ca {}: {e}",
                        path.display()
                    )))
                })?),
            };
            let settings = callvault_catalog::PostgresSettings {
                conninfo: p.conninfo.clone(),
                password,
                readers: p.readers,
                tls_ca_pem,
            };
            Arc::new(match how {
                Opening::Owner => callvault_catalog::PostgresCatalog::open(&settings)?,
                Opening::Beside => callvault_catalog::PostgresCatalog::open_beside(&settings)?,
            })
        }
    })
}
