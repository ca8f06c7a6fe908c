//! `callvault serve --config FILE`: the server's configuration (TOML), validated in full.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::TlsSettings;

/// Why a server configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Malformed TOML, or unknown or missing keys.
    #[error("{path}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value is not acceptable.
    #[error("server configuration: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: PathBuf,
    /// No longer read: assignments live in the vault (governance workflow).
    assignments: Option<PathBuf>,
    listen: Vec<String>,
    #[serde(default)]
    allow_wildcard: bool,
    tls: RawTls,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    scrub: RawScrub,
    #[serde(default)]
    syslog: Vec<RawSyslog>,
    #[serde(default)]
    checkpoint: RawCheckpoint,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    interval_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSyslog {
    name: String,
    address: String,
    server_name: Option<String>,
    ca: PathBuf,
    client_chain: Option<PathBuf>,
    client_key: Option<PathBuf>,
    patient_identifiers: Option<String>,
    #[serde(default)]
    care_providers: Vec<String>,
    hostname: Option<String>,
    confirm_after_secs: Option<u64>,
    start: Option<String>,
}

impl RawSyslog {
    fn validate(
        self,
        abs: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<crate::syslog::SyslogReceiver, ServerConfigError> {
        let bad = |m: String| ServerConfigError::Invalid(format!("syslog {:?}: {m}", self.name));
        if self.name.is_empty()
            || self.name.len() > 32
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("name must be 1 to 32 of a-z, 0-9 and -".into()));
        }
        let (host, _) = self
            .address
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
            .ok_or_else(|| bad(format!("address {:?} is not host:port", self.address)))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let client = match (&self.client_chain, &self.client_key) {
            (Some(c), Some(k)) => Some((abs(c), abs(k))),
            (None, None) => None,
            _ => return Err(bad("client_chain and client_key go together".into())),
        };
        let ids = self.patient_identifiers.as_deref().unwrap_or("pseudonym");
        let patient_identifiers = callvault_reporting::fhir::PatientIdentifiers::parse(ids)
            .ok_or_else(|| {
                bad(format!(
                    "patient_identifiers {ids:?} is not pseudonym or clear"
                ))
            })?;
        let mut care_providers = Vec::new();
        for c in &self.care_providers {
            care_providers.push(
                callvault_types::CareProvider::parse(c)
                    .map_err(|e| bad(format!("care provider {c:?}: {e}")))?,
            );
        }
        let hostname = match &self.hostname {
            Some(h) => h.clone(),
            None => std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
        };
        let hostname = if hostname.is_empty() {
            "callvault".to_owned()
        } else {
            hostname
        };
        if hostname.len() > 255 || !hostname.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(bad(format!(
                "hostname {hostname:?} must be 1 to 255 printable ASCII characters without spaces"
            )));
        }
        let confirm = self.confirm_after_secs.unwrap_or(2);
        if !(1..=600).contains(&confirm) {
            return Err(bad("confirm_after_secs must be between 1 and 600".into()));
        }
        let from_beginning = match self.start.as_deref().unwrap_or("beginning") {
            "beginning" => true,
            "end" => false,
            other => return Err(bad(format!("start {other:?} is not beginning or end"))),
        };
        Ok(crate::syslog::SyslogReceiver {
            server_name: self.server_name.clone().unwrap_or_else(|| host.to_owned()),
            address: self.address.clone(),
            name: self.name,
            ca: abs(&self.ca),
            client,
            patient_identifiers,
            care_providers,
            hostname,
            confirm_after: Duration::from_secs(confirm),
            from_beginning,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScrub {
    enabled: Option<bool>,
    bytes_per_sec: Option<u64>,
    interval_secs: Option<u64>,
}

/// The background scrub (`[scrub]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrubSettings {
    /// Run it (default on).
    pub enabled: bool,
    /// I/O budget, bytes per second over all sites (default 32 MiB/s).
    pub bytes_per_sec: u64,
    /// Pause between the end of one pass and the start of the next (default 24 hours).
    pub interval: Duration,
}

impl Default for ScrubSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bytes_per_sec: 32 << 20,
            interval: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_metadata_bytes: Option<u64>,
    max_audio_bytes: Option<u64>,
    max_connections: Option<u64>,
    max_audio_streams: Option<u64>,
    max_uploads: Option<u64>,
    min_upload_bytes_per_sec: Option<u64>,
    handshake_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
}

/// Resource limits of the server (`[limits]` in the configuration; every key optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted metadata part of an upload.
    pub max_metadata_bytes: u64,
    /// Largest accepted audio part of an upload.
    pub max_audio_bytes: u64,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Audio responses streaming at once; beyond it, `503` with `Retry-After`.
    pub max_audio_streams: usize,
    /// Uploads in progress at once (each holds a thread); beyond it, `503`.
    pub max_uploads: usize,
    /// Slowest average rate an upload may keep after its first `idle_timeout` (a client
    /// dripping bytes cannot hold a thread for hours); slower gets `408`.
    pub min_upload_bytes_per_sec: u64,
    /// Longest a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Longest an upload body or an audio stream may make no progress.
    pub idle_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish before they are aborted.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_metadata_bytes: 64 << 10,
            // About 18 hours of G.711 stereo.
            max_audio_bytes: 1 << 30,
            max_connections: 1024,
            max_audio_streams: 256,
            max_uploads: 64,
            min_upload_bytes_per_sec: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl RawLimits {
    fn validate(&self) -> Result<Limits, ServerConfigError> {
        let d = Limits::default();
        let positive = |name: &str, v: Option<u64>, default: u64| match v {
            Some(0) => Err(ServerConfigError::Invalid(format!(
                "limits.{name} must be greater than 0"
            ))),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let secs = |name: &str, v: Option<u64>, default: Duration| {
            positive(name, v, default.as_secs()).map(Duration::from_secs)
        };
        let count = |name: &str, v: Option<u64>, default: usize| {
            positive(name, v, default as u64).and_then(|v| {
                usize::try_from(v)
                    .ok()
                    .filter(|v| *v <= 1 << 20)
                    .ok_or_else(|| {
                        ServerConfigError::Invalid(format!("limits.{name} is larger than 1048576"))
                    })
            })
        };
        let l = Limits {
            max_metadata_bytes: positive(
                "max_metadata_bytes",
                self.max_metadata_bytes,
                d.max_metadata_bytes,
            )?,
            max_audio_bytes: positive("max_audio_bytes", self.max_audio_bytes, d.max_audio_bytes)?,
            max_connections: count("max_connections", self.max_connections, d.max_connections)?,
            max_audio_streams: count(
                "max_audio_streams",
                self.max_audio_streams,
                d.max_audio_streams,
            )?,
            max_uploads: count("max_uploads", self.max_uploads, d.max_uploads)?,
            min_upload_bytes_per_sec: positive(
                "min_upload_bytes_per_sec",
                self.min_upload_bytes_per_sec,
                d.min_upload_bytes_per_sec,
            )?,
            handshake_timeout: secs(
                "handshake_timeout_secs",
                self.handshake_timeout_secs,
                d.handshake_timeout,
            )?,
            header_timeout: secs(
                "header_timeout_secs",
                self.header_timeout_secs,
                d.header_timeout,
            )?,
            idle_timeout: secs("idle_timeout_secs", self.idle_timeout_secs, d.idle_timeout)?,
            shutdown_grace: secs(
                "shutdown_grace_secs",
                self.shutdown_grace_secs,
                d.shutdown_grace,
            )?,
        };
        if l.max_metadata_bytes > 1 << 20 {
            return Err(ServerConfigError::Invalid(
                "limits.max_metadata_bytes is larger than 1 MiB".into(),
            ));
        }
        Ok(l)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    server_chain: PathBuf,
    server_key: PathBuf,
    client_roots: Vec<PathBuf>,
    person_cas: Vec<PathBuf>,
    function_cas: Vec<PathBuf>,
    crls: Vec<PathBuf>,
    #[serde(default)]
    allow_tls12: bool,
}

/// Validated server configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The vault's data directory.
    pub data_dir: PathBuf,
    /// Addresses to listen on (exactly these).
    pub listen: Vec<SocketAddr>,
    /// TLS material.
    pub tls: TlsSettings,
    /// Resource limits.
    pub limits: Limits,
    /// The background scrub.
    pub scrub: ScrubSettings,
    /// Syslog receivers of the audit events (`[[syslog]]`).
    pub syslog: Vec<crate::syslog::SyslogReceiver>,
    /// How often the server signs a checkpoint of a grown log and submits it to the
    /// witnesses (`[checkpoint] interval_secs`, default 300; 0 turns it off).
    pub checkpoint_interval: Option<Duration>,
}

impl ServerConfig {
    /// Reads and validates a configuration file; relative paths are relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ServerConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")), path)
    }

    /// Parses configuration text.
    pub fn parse(text: &str, base: &Path, file: &Path) -> Result<Self, ServerConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ServerConfigError::Syntax {
            path: file.to_owned(),
            message: e.to_string(),
        })?;
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        if raw.assignments.is_some() {
            return Err(ServerConfigError::Invalid(
                "assignments: the server no longer reads an assignment file; assignments live in the vault. Import the file once with `callvault assignments import --data-dir D FILE` (its assignments become requests for a privilege administrator to approve) and remove the key".into(),
            ));
        }
        if raw.listen.is_empty() {
            return Err(ServerConfigError::Invalid("listen names no address".into()));
        }
        let mut listen = Vec::new();
        for l in &raw.listen {
            let addr: SocketAddr = l.parse().map_err(|_| {
                ServerConfigError::Invalid(format!(
                    "listen address {l:?} is not IP:port (e.g. 127.0.0.1:8443)"
                ))
            })?;
            if addr.ip().is_unspecified() && !raw.allow_wildcard {
                return Err(ServerConfigError::Invalid(format!(
                    "listen address {l} is a wildcard; name the addresses to listen on, or set allow_wildcard = true"
                )));
            }
            listen.push(addr);
        }
        let t = raw.tls;
        for (what, list) in [
            ("tls.client_roots", &t.client_roots),
            ("tls.person_cas", &t.person_cas),
            ("tls.function_cas", &t.function_cas),
        ] {
            if list.is_empty() {
                return Err(ServerConfigError::Invalid(format!("{what} is empty")));
            }
        }
        if t.crls.is_empty() {
            return Err(ServerConfigError::Invalid(
                "tls.crls is empty; revocation must be checked (list the CRL of every CA)".into(),
            ));
        }
        let limits = raw.limits.validate()?;
        let d = ScrubSettings::default();
        if raw.scrub.bytes_per_sec == Some(0) || raw.scrub.interval_secs == Some(0) {
            return Err(ServerConfigError::Invalid(
                "scrub.bytes_per_sec and scrub.interval_secs must be greater than 0 (set scrub.enabled = false to turn the scrub off)".into(),
            ));
        }
        let scrub = ScrubSettings {
            enabled: raw.scrub.enabled.unwrap_or(d.enabled),
            bytes_per_sec: raw.scrub.bytes_per_sec.unwrap_or(d.bytes_per_sec),
            interval: raw
                .scrub
                .interval_secs
                .map_or(d.interval, Duration::from_secs),
        };
        let mut syslog: Vec<crate::syslog::SyslogReceiver> = Vec::new();
        for r in raw.syslog {
            let r = r.validate(&abs)?;
            if syslog.iter().any(|x| x.name == r.name) {
                return Err(ServerConfigError::Invalid(format!(
                    "syslog {:?} is configured twice",
                    r.name
                )));
            }
            syslog.push(r);
        }
        let checkpoint_interval = match raw.checkpoint.interval_secs {
            Some(0) => None,
            Some(s) if s > 86_400 => {
                return Err(ServerConfigError::Invalid(
                    "checkpoint.interval_secs is at most 86400 (a day), or 0 for off".into(),
                ));
            }
            Some(s) => Some(Duration::from_secs(s)),
            None => Some(Duration::from_secs(300)),
        };
        Ok(Self {
            limits,
            scrub,
            syslog,
            checkpoint_interval,
            data_dir: abs(&raw.data_dir),
            listen,
            tls: TlsSettings {
                server_chain: abs(&t.server_chain),
                server_key: abs(&t.server_key),
                client_roots: t.client_roots.iter().map(|p| abs(p)).collect(),
                person_cas: t.person_cas.iter().map(|p| abs(p)).collect(),
                function_cas: t.function_cas.iter().map(|p| abs(p)).collect(),
                crls: t.crls.iter().map(|p| abs(p)).collect(),
                allow_tls12: t.allow_tls12,
            },
        })
    }

    /// The configuration `callvault demo` writes next to its data directory.
    pub fn demo_toml(data_dir: &str, pki_dir: &str, listen: &str) -> String {
        format!(
            r#"# callvault access server (demo). Relative paths are relative to this file.
data_dir = "{data_dir}"
listen = ["{listen}"]

[tls]
server_chain = "{pki_dir}/server-chain.pem"
server_key = "{pki_dir}/server-key.pem"
client_roots = ["{pki_dir}/root-ca.pem"]
person_cas = ["{pki_dir}/person-ca.pem"]
function_cas = ["{pki_dir}/function-ca.pem"]
crls = ["{pki_dir}/root-ca.crl.pem", "{pki_dir}/person-ca.crl.pem", "{pki_dir}/function-ca.crl.pem"]
allow_tls12 = false

[limits]
max_metadata_bytes = 65536
max_audio_bytes = 1073741824
max_connections = 1024
max_audio_streams = 256
max_uploads = 64
min_upload_bytes_per_sec = 4096
handshake_timeout_secs = 10
header_timeout_secs = 10
idle_timeout_secs = 30
shutdown_grace_secs = 30

[scrub]
# Read every blob at every site, authenticate it, repair what is missing or damaged.
enabled = true
bytes_per_sec = 33554432
interval_secs = 86400
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<ServerConfig, ServerConfigError> {
        ServerConfig::parse(t, Path::new("/etc/cv"), Path::new("/etc/cv/server.toml"))
    }

    #[test]
    fn demo_config_parses_and_bad_ones_are_refused() {
        let base = ServerConfig::demo_toml("data", "pki", "127.0.0.1:8443");
        let c = parse(&base).expect("valid");
        assert_eq!(c.listen, vec!["127.0.0.1:8443".parse().expect("addr")]);
        assert_eq!(c.tls.crls.len(), 3);
        assert_eq!(c.data_dir, Path::new("/etc/cv/data"));
        let wild = base.replace("127.0.0.1:8443", "0.0.0.0:8443");
        assert!(
            parse(&wild)
                .expect_err("wildcard")
                .to_string()
                .contains("wildcard")
        );
        let wild_ok = format!("allow_wildcard = true\n{wild}");
        assert!(parse(&wild_ok).is_ok());
        let v6 = base.replace("127.0.0.1:8443", "[::]:8443");
        assert!(parse(&v6).is_err());
        let bad = base.replace("127.0.0.1:8443", "localhost");
        assert!(
            parse(&bad)
                .expect_err("addr")
                .to_string()
                .contains("IP:port")
        );
        let nocrl = base.replace(
            r#"crls = ["pki/root-ca.crl.pem", "pki/person-ca.crl.pem", "pki/function-ca.crl.pem"]"#,
            "crls = []",
        );
        assert!(
            parse(&nocrl)
                .expect_err("crl")
                .to_string()
                .contains("revocation must be checked")
        );
        assert!(c.syslog.is_empty());
        assert_eq!(c.checkpoint_interval, Some(Duration::from_secs(300)));
        let off = format!("{base}\n[checkpoint]\ninterval_secs = 0\n");
        assert_eq!(parse(&off).expect("off").checkpoint_interval, None);
        let long = format!("{base}\n[checkpoint]\ninterval_secs = 100000\n");
        assert!(
            parse(&long)
                .expect_err("long")
                .to_string()
                .contains("interval_secs")
        );
        let siem = format!(
            "{base}\n[[syslog]]\nname = \"siem\"\naddress = \"siem.region.example:6514\"\nca = \"pki/siem-ca.pem\"\nclient_chain = \"pki/node.pem\"\nclient_key = \"pki/node.key\"\ncare_providers = [\"SE2321000016-0001\"]\n"
        );
        let s = parse(&siem).expect("syslog");
        assert_eq!(s.syslog[0].server_name, "siem.region.example");
        assert_eq!(s.syslog[0].ca, Path::new("/etc/cv/pki/siem-ca.pem"));
        assert_eq!(
            s.syslog[0].patient_identifiers,
            callvault_reporting::fhir::PatientIdentifiers::Pseudonym
        );
        for (from, to, says) in [
            (
                "siem.region.example:6514",
                "siem.region.example",
                "host:port",
            ),
            ("name = \"siem\"", "name = \"SIEM 1\"", "name must be"),
            ("client_key = \"pki/node.key\"\n", "", "go together"),
            (
                "care_providers = [\"SE2321000016-0001\"]",
                "patient_identifiers = \"plain\"",
                "pseudonym or clear",
            ),
            (
                "care_providers = [\"SE2321000016-0001\"]",
                "care_providers = [\"region\"]",
                "care provider",
            ),
        ] {
            let bad = siem.replace(from, to);
            let e = parse(&bad).expect_err(says).to_string();
            assert!(e.contains(says), "{e}");
        }
        let twice = format!("{siem}{}", &siem[base.len()..]);
        assert!(
            parse(&twice)
                .expect_err("twice")
                .to_string()
                .contains("twice")
        );
        assert_eq!(c.limits, Limits::default());
        let zero = base.replace("max_audio_streams = 256", "max_audio_streams = 0");
        assert!(
            parse(&zero)
                .expect_err("zero")
                .to_string()
                .contains("limits.max_audio_streams must be greater than 0")
        );
        let small = base.replace("idle_timeout_secs = 30", "idle_timeout_secs = 5");
        assert_eq!(
            parse(&small).expect("valid").limits.idle_timeout,
            Duration::from_secs(5)
        );
        let no_limits = base.split("[limits]").next().expect("head").to_owned();
        assert_eq!(parse(&no_limits).expect("valid").limits, Limits::default());
        assert!(matches!(
            parse(&format!("{base}\nbogus = 1\n")),
            Err(ServerConfigError::Syntax { .. })
        ));
    }
}
