//! The names people read beside HSA-IDs: `[[care_providers]] name` and its `units`
//! (`{ hsa_id, name }`). Display only: the policy, the audit log and every stored value keep
//! the HSA-ID; a name never decides anything.

use std::collections::BTreeMap;

use callvault_types::{CareProvider, CareUnit};
use serde::Deserialize;

use super::ConfigError;

/// Longest name, in characters.
pub const MAX_NAME: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUnit {
    hsa_id: String,
    name: String,
}

/// Care providers' and care units' names by HSA-ID.
#[derive(Debug, Clone, Default)]
pub struct Names {
    care_providers: BTreeMap<CareProvider, String>,
    units: BTreeMap<CareUnit, String>,
}

fn checked_name(name: &str, what: &dyn std::fmt::Display) -> Result<String, ConfigError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Invalid(format!("{what}: name is empty")));
    }
    if trimmed.chars().count() > MAX_NAME {
        return Err(ConfigError::Invalid(format!(
            "{what}: name is longer than {MAX_NAME} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ConfigError::Invalid(format!(
            "{what}: name holds a control character"
        )));
    }
    Ok(trimmed.to_owned())
}

impl Names {
    /// Adds a care provider's name and its units' names (from one `[[care_providers]]`
    /// table). A unit named twice, or under two care providers, is refused.
    pub(super) fn add(
        &mut self,
        cp: &CareProvider,
        name: Option<&str>,
        units: &[RawUnit],
    ) -> Result<(), ConfigError> {
        if let Some(n) = name {
            let n = checked_name(n, &format_args!("care provider {cp}"))?;
            self.care_providers.insert(cp.clone(), n);
        }
        for u in units {
            let unit = CareUnit::parse(&u.hsa_id).map_err(|e| {
                ConfigError::Invalid(format!("care provider {cp}: unit {:?}: {e}", u.hsa_id))
            })?;
            let n = checked_name(&u.name, &format_args!("care provider {cp}: unit {unit}"))?;
            if self.units.insert(unit.clone(), n).is_some() {
                return Err(ConfigError::Invalid(format!(
                    "care provider {cp}: unit {unit} is named twice"
                )));
            }
        }
        Ok(())
    }

    /// A care unit's name, if configured.
    pub fn unit(&self, u: &CareUnit) -> Option<&str> {
        self.units.get(u).map(String::as_str)
    }

    /// A care provider's name, if configured.
    pub fn care_provider(&self, cp: &CareProvider) -> Option<&str> {
        self.care_providers.get(cp).map(String::as_str)
    }
}
