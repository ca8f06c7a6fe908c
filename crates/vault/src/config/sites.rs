//! The `[[sites]]` sections: the two (or more) places ciphertext is kept — directories or
//! S3-compatible buckets.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub(super) name: String,
    pub(super) backend: String,
    pub(super) path: Option<PathBuf>,
    pub(super) endpoint: Option<String>,
    pub(super) bucket: Option<String>,
    pub(super) region: Option<String>,
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key_file: Option<PathBuf>,
    pub(super) secret_access_key_env: Option<String>,
    pub(super) prefix: Option<String>,
    pub(super) part_size_mib: Option<usize>,
    pub(super) allow_http: Option<bool>,
    pub(super) timeout_secs: Option<u64>,
}

/// Default `part_size_mib` of an S3 site.
pub const DEFAULT_PART_SIZE_MIB: usize = 8;
/// Default `timeout_secs` of a site: how long a write may make no progress (an S3 request
/// take) before the site is given up for that recording.
pub const DEFAULT_SITE_TIMEOUT_SECS: u64 = 30;

impl RawSite {
    pub(super) fn validate(
        self,
        abs: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<SiteConfig, ConfigError> {
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
