//! The `[keys]` section: key files in a directory, or a PKCS#11 token (an HSM).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub(super) backend: String,
    pub(super) dir: Option<PathBuf>,
    pub(super) module: Option<PathBuf>,
    pub(super) token_label: Option<String>,
    pub(super) pin_file: Option<PathBuf>,
    pub(super) pin_env: Option<String>,
    pub(super) label_prefix: Option<String>,
    pub(super) max_sessions: Option<usize>,
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
    pub(super) fn validate(
        self,
        abs: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<KeysConfig, ConfigError> {
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
