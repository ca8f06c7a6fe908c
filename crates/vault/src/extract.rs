//! A patient's log extract (loggutdrag, PDL 8 kap. 4 §): every access to the patient's
//! recordings and their metadata at one care provider in a period — when, which care
//! provider and care unit, who (name and title as far as the care provider's policy
//! allows), for which purpose, what was done — as a Swedish PDF, CSV or JSON.
//!
//! The vault's half: gathering the entries. Their form and rendering are
//! `callvault_reporting::extract`. Only a log reviewer (right `read-access-log`, purpose *logguppföljning*) produces one,
//! and producing it is itself audited (`audit.extract`, the patient sealed) before any
//! entry is read.

use std::collections::HashMap;

use callvault_audit::event::{Action as EventAction, Outcome, SealedPatient};
use callvault_auth::{Action, Authorized};
use callvault_catalog::Change;
use callvault_reporting::clock::{local_seconds as local, rfc3339 as t};
use callvault_reporting::extract::{
    ExtractEntry, ExtractFormat, LogExtract, StaffDisclosure, action_sv,
};
use callvault_types::PatientId;
use time::OffsetDateTime;

use crate::vault::AUDIT_SEAL_CONTEXT;
use crate::{Vault, VaultError};

impl Vault {
    /// Produces a patient's log extract at the decision's care provider. The
    /// `audit.extract` event (patient sealed, period, format) is written before any entry
    /// is read; a failure to write it returns nothing.
    pub fn log_extract(
        &self,
        authz: &Authorized,
        patient: &PatientId,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        format: ExtractFormat,
    ) -> Result<LogExtract, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ReadAccessLog, &cp)?;
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(VaultError::InvalidRequest(
                "the period's end must be after its start".into(),
            ));
        }
        let (sealed, bidx) = self.seal_patient(&cp, patient, AUDIT_SEAL_CONTEXT)?;
        let mut event =
            Self::decided_event(authz, EventAction::LogExtract).detail("format", format.as_str());
        if let Some(f) = from {
            event = event.detail("from", t(f));
        }
        if let Some(x) = to {
            event = event.detail("to", t(x));
        }
        event.patient = Some(SealedPatient {
            sealed,
            blind_index: bidx,
        });
        let generated_by = event.actor.to_string();
        let generated_at = event.time;
        let leaf = self.commit_step(Change::new(event))?;
        let disclosure = self.config.log_extract_staff(&cp);
        let mut staff: HashMap<String, (String, String)> = HashMap::new();
        for u in self.catalog.users(None)? {
            staff.insert(format!("person:{}", u.hsa_id), (u.name, u.title));
        }
        let mut entries = Vec::new();
        for (idx, e) in self.events_about_patient(&cp, &bidx)? {
            if idx >= leaf {
                break;
            }
            if e.outcome != Outcome::Granted
                || from.is_some_and(|f| e.time < f)
                || to.is_some_and(|x| e.time >= x)
            {
                continue;
            }
            let Some(action) = action_sv(e.action) else {
                continue;
            };
            let who = staff.get(&e.actor.to_string());
            entries.push(ExtractEntry {
                time: t(e.time),
                local_time: local(e.time),
                care_provider: e.actor_care_provider.as_ref().unwrap_or(&cp).to_string(),
                care_unit: e.actor_care_unit.as_ref().map(ToString::to_string),
                user_name: match disclosure {
                    StaffDisclosure::NameAndTitle => who.map(|w| w.0.clone()),
                    _ => None,
                },
                user_title: match disclosure {
                    StaffDisclosure::None => None,
                    _ => who.map(|w| w.1.clone()),
                },
                purpose: e.purpose.clone(),
                action,
                action_code: e.action.code(),
                emergency_access: e
                    .details
                    .iter()
                    .any(|(k, v)| k == "emergency_access" && v == "true"),
                recording: e.recording.map(|r| r.id.to_string()),
                leaf_index: idx,
            });
        }
        Ok(LogExtract {
            care_provider: cp.to_string(),
            patient: patient.expose_display(),
            from: from.map(t),
            to: to.map(t),
            generated_at: t(generated_at),
            generated_by,
            staff_disclosure: disclosure,
            extract_leaf_index: leaf,
            entries,
        })
    }
}
