//! The export of audit events as FHIR R4 `AuditEvent` resources following the IHE Basic Audit Log
//! Patterns (BALP): PatientRead, PatientQuery, PatientCreate, PatientUpdate and
//! PatientDelete for accesses to a patient's recordings, with the patient entity, the user
//! agent as `requestor`, the client and server agents, and the purpose of use; other events
//! as plain `AuditEvent`s.
//!
//! Export is a log reviewer's action (`read-audit`, purpose *logguppföljning*), itself
//! audited (`audit.export`). Patients are exported as a pseudonym (the care provider's
//! blind index) unless clear identifiers are asked for, which the export event records.

//!
//! The mappings themselves are `callvault_reporting::{fhir, atna}`; this module reads the
//! events, opens their patients as far as the export's capability covers, and audits the
//! export.

use std::collections::HashMap;

use callvault_audit::event::{Action as EventAction, AuditEvent};
use callvault_auth::{Action, Authorized};
use callvault_catalog::Change;
use callvault_reporting::atna::{AtnaMessage, to_atna};
use callvault_reporting::clock::rfc3339 as t;
use callvault_reporting::fhir::{
    ExportContext, MAX_EXPORT_DAYS, PatientIdentifiers, PatientRef, to_fhir,
};
use callvault_types::CareProvider;
use serde_json::Value;
use time::OffsetDateTime;

use crate::access::ExportOpening;
use crate::{Vault, VaultError};

impl Vault {
    /// The context of one event for export: its patient as asked for (opened only as far as
    /// `by` covers it), and the actor's name.
    pub(crate) fn export_context(
        &self,
        e: &AuditEvent,
        patients: PatientIdentifiers,
        by: ExportOpening<'_>,
        names: &HashMap<String, (String, String)>,
    ) -> Result<ExportContext, VaultError> {
        let patient = match &e.patient {
            None => None,
            Some(p) if patients == PatientIdentifiers::Pseudonym => Some(PatientRef::pseudonym(
                e.care_provider.as_ref(),
                &p.blind_index,
            )),
            Some(_) => self
                .open_event_patient(by, e)?
                .map(|id| PatientRef::clear(&id)),
        };
        Ok(ExportContext {
            origin: self.config.audit_origin.clone(),
            patient,
            actor_name: names.get(&e.actor.to_string()).cloned(),
        })
    }

    pub(crate) fn staff_names(&self) -> Result<HashMap<String, (String, String)>, VaultError> {
        Ok(self
            .catalog
            .users(None)?
            .into_iter()
            .map(|u| (format!("person:{}", u.hsa_id), (u.name, u.title)))
            .collect())
    }

    /// The audit events concerning the decision's care provider (as the resource's or the
    /// actor's) in `[from, to)` as FHIR AuditEvent NDJSON, one resource per line. The
    /// `audit.export` event is written first and is not part of the export.
    pub fn fhir_export(
        &self,
        authz: &Authorized,
        from: OffsetDateTime,
        to: OffsetDateTime,
        patients: PatientIdentifiers,
    ) -> Result<(String, u64), VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ReadAudit, &cp)?;
        if to <= from {
            return Err(VaultError::InvalidRequest(
                "the period's end must be after its start".into(),
            ));
        }
        if to - from > time::Duration::days(MAX_EXPORT_DAYS) {
            return Err(VaultError::InvalidRequest(format!(
                "an export covers at most {MAX_EXPORT_DAYS} days"
            )));
        }
        let event = Self::decided_event(authz, EventAction::AuditExport)
            .detail("format", "fhir-r4-ndjson")
            .detail("from", t(from))
            .detail("to", t(to))
            .detail("patient_identifiers", patients.as_str());
        let read = self.record_sealed_read(&cp, Change::new(event))?;
        let leaf = read.leaf_index();
        let names = self.staff_names()?;
        let mut out = String::new();
        let mut n = 0u64;
        let mut err = None;
        self.catalog
            .for_each_audit_leaf_in_time(from, to, &mut |idx, data, _| {
                if idx >= leaf || err.is_some() || data.is_empty() {
                    return Ok(());
                }
                let r = AuditEvent::decode(data)
                    .map_err(|source| VaultError::BadEvent { index: idx, source })
                    .and_then(|e| {
                        if e.care_provider.as_ref() != Some(&cp)
                            && e.actor_care_provider.as_ref() != Some(&cp)
                        {
                            return Ok(None);
                        }
                        let ctx =
                            self.export_context(&e, patients, ExportOpening::Read(&read), &names)?;
                        Ok(Some(to_fhir(idx, &e, &ctx)))
                    });
                match r {
                    Ok(Some(v)) => {
                        out.push_str(&v.to_string());
                        out.push('\n');
                        n += 1;
                    }
                    Ok(None) => {}
                    Err(e) => err = Some(e),
                }
                Ok(())
            })?;
        if let Some(e) = err {
            return Err(e);
        }
        Ok((out, n))
    }

    /// One audit event of the decision's care provider as a FHIR AuditEvent (audited as
    /// `audit.export`).
    pub fn fhir_event(
        &self,
        authz: &Authorized,
        idx: u64,
        patients: PatientIdentifiers,
    ) -> Result<Value, VaultError> {
        let cp = authz.resource().care_provider.clone();
        Self::check_decision(authz, Action::ReadAudit, &cp)?;
        let not_found = || VaultError::NoSuch(format!("audit event {idx} of care provider {cp}"));
        let data = self.catalog.audit_event(idx)?.ok_or_else(not_found)?;
        if data.is_empty() {
            return Err(VaultError::NoSuch(format!(
                "audit event {idx}: pruned, beyond the audit log's retention"
            )));
        }
        let e = AuditEvent::decode(&data)
            .map_err(|source| VaultError::BadEvent { index: idx, source })?;
        if e.care_provider.as_ref() != Some(&cp) && e.actor_care_provider.as_ref() != Some(&cp) {
            return Err(not_found());
        }
        let event = Self::decided_event(authz, EventAction::AuditExport)
            .detail("format", "fhir-r4")
            .detail("index", idx)
            .detail("patient_identifiers", patients.as_str());
        let read = self.record_sealed_read(&cp, Change::new(event))?;
        let ctx = self.export_context(
            &e,
            patients,
            ExportOpening::Read(&read),
            &self.staff_names()?,
        )?;
        Ok(to_fhir(idx, &e, &ctx))
    }
}

impl Vault {
    /// The audit messages of leaves `start..end` (those concerning one of `care_providers`
    /// as resource or actor care provider, or all when it is empty), for forwarding. Leaves
    /// of other care providers are skipped, not returned.
    pub fn atna_messages(
        &self,
        start: u64,
        end: u64,
        patients: PatientIdentifiers,
        care_providers: &[CareProvider],
    ) -> Result<Vec<AtnaMessage>, VaultError> {
        let names = self.staff_names()?;
        let mut out = Vec::new();
        let mut err = None;
        self.catalog
            .for_each_audit_leaf(start, end, &mut |idx, data, _| {
                if err.is_some() {
                    return Ok(());
                }
                let e = match AuditEvent::decode(data) {
                    Ok(e) => e,
                    Err(x) => {
                        err = Some(VaultError::BadEvent {
                            index: idx,
                            source: x,
                        });
                        return Ok(());
                    }
                };
                let ours = care_providers.is_empty()
                    || care_providers.iter().any(|cp| {
                        e.care_provider.as_ref() == Some(cp)
                            || e.actor_care_provider.as_ref() == Some(cp)
                    });
                if !ours {
                    return Ok(());
                }
                // The operator configured this forwarding, and with it which care providers'
                // events (and, if so, their patients in clear) it carries.
                let by = ExportOpening::Forwarding(care_providers);
                match self.export_context(&e, patients, by, &names) {
                    Ok(ctx) => out.push(AtnaMessage {
                        index: idx,
                        time: e.time,
                        xml: to_atna(idx, &e, &ctx),
                    }),
                    Err(x) => err = Some(x),
                }
                Ok(())
            })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
