//! The log reviewer's reads of the audit log: the latest events of a care provider, a
//! patient's access log, and the events about a patient that the log extract shares.

use super::*;

impl Vault {
    /// The latest audit events that concern the decision's care provider (as the resource's
    /// or the actor's care provider), newest last. Log review only.
    pub fn read_audit_events(
        &self,
        receipt: &Audited<target::AuditLog>,
    ) -> Result<Vec<(u64, AuditEvent)>, VaultError> {
        let authz = receipt.decision();
        let target::AuditLog { limit } = *receipt.target();
        let cp = &authz.resource().care_provider;
        let size = self.catalog.audit_size()?;
        // Walk back in windows until enough events of this care provider are found.
        let mut out = Vec::new();
        let mut end = size;
        while end > 0 && (out.len() as u64) < limit {
            let start = end.saturating_sub(4096);
            let mut window = Vec::new();
            self.catalog
                .for_each_audit_leaf(start, end, &mut |idx, data, _| {
                    if let Ok(e) = AuditEvent::decode(data)
                        && (e.care_provider.as_ref() == Some(cp)
                            || e.actor_care_provider.as_ref() == Some(cp))
                    {
                        window.push((idx, e));
                    }
                    Ok(())
                })?;
            window.reverse();
            for (idx, mut ev) in window {
                if (out.len() as u64) >= limit {
                    break;
                }
                self.reveal_case_number(&mut ev)?;
                out.push((idx, ev));
            }
            end = start;
        }
        out.reverse();
        Ok(out)
    }

    /// Opens an event's sealed case number for the log reviewer who reads it (the callers
    /// hold a log-review decision and its receipt): the sealed detail becomes
    /// `case_number` in clear, in the copy handed out; the log keeps it sealed.
    fn reveal_case_number(&self, e: &mut AuditEvent) -> Result<(), VaultError> {
        let Some(cp) = e.care_provider.clone() else {
            return Ok(());
        };
        for (k, v) in &mut e.details {
            if k != CASE_NUMBER_SEALED {
                continue;
            }
            let sealed = hex::decode(v.as_bytes()).map_err(|_| VaultError::DamagedSealedValue {
                what: "case number",
                why: "not hex".into(),
            })?;
            let case =
                self.keys
                    .open_field(&cp, FieldKind::FreeText, AUDIT_SEAL_CONTEXT, &sealed)?;
            *k = "case_number".to_owned();
            *v = String::from_utf8_lossy(&case).into_owned();
        }
        Ok(())
    }

    /// Every audit event about one patient at the decision's care provider, oldest first:
    /// the basis of a log extract. Log review only.
    pub fn patient_access_log(
        &self,
        receipt: &Audited<target::PatientAccessLog>,
    ) -> Result<Vec<(u64, AuditEvent)>, VaultError> {
        let authz = receipt.decision();
        let target::PatientAccessLog { patient } = receipt.target();
        let cp = &authz.resource().care_provider;
        let canon = zeroize::Zeroizing::new(patient.canonical());
        let bidx = self
            .keys
            .blind_index(cp, FieldKind::PatientId, canon.as_bytes())?;
        let mut out = self.events_about_patient(cp, &bidx.0)?;
        for (_, e) in &mut out {
            self.reveal_case_number(e)?;
        }
        Ok(out)
    }

    /// Every audit event about one patient at a care provider, oldest first: the events
    /// that carry the patient, and every event on a recording now linked to the patient
    /// (the call was theirs all along, also while it was unlinked or wrongly linked) except
    /// another patient's own link and unlink events. What the log reviewer's access log and
    /// the patient's log extract both read.
    pub(crate) fn events_about_patient(
        &self,
        cp: &CareProvider,
        bidx: &[u8; 32],
    ) -> Result<Vec<(u64, AuditEvent)>, VaultError> {
        let mut out = std::collections::BTreeMap::new();
        let decode = |idx: u64, data: &[u8]| {
            AuditEvent::decode(data).map_err(|source| VaultError::BadEvent { index: idx, source })
        };
        for (idx, data) in self.catalog.audit_events_by_patient(bidx)? {
            let e = decode(idx, &data)?;
            // The column only finds candidates; the event's own bytes decide.
            if e.patient.as_ref().is_some_and(|p| p.blind_index == *bidx)
                && e.care_provider.as_ref() == Some(cp)
            {
                out.insert(idx, e);
            }
        }
        for row in self.catalog.recordings_by_patient(cp, bidx)? {
            for (idx, data) in self.catalog.recording_events(&row.rec.id, &[])? {
                if out.contains_key(&idx) {
                    continue;
                }
                let e = decode(idx, &data)?;
                let someone_elses_link = matches!(
                    e.action,
                    EventAction::PatientLink | EventAction::PatientUnlink
                );
                if e.recording.as_ref().is_some_and(|r| r.id == row.rec.id)
                    && e.care_provider.as_ref() == Some(cp)
                    && !someone_elses_link
                {
                    out.insert(idx, e);
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}
