//! Opening sealed values outside a recording's own access — report comments, hold
//! reasons, decision documents, patients in exports — each behind the proof that the read
//! is recorded.

use super::*;

/// Proof, inside the vault, that the event recording a read of sealed values at one care
/// provider (a follow-up report, an export, records) is durable: what opening a sealed value
/// outside a recording's own access takes. Only [`Vault::record_sealed_read`] builds one.
#[derive(Debug)]
pub(crate) struct ReadRecorded {
    care_provider: CareProvider,
    leaf_index: u64,
}

impl ReadRecorded {
    /// The leaf index of the read's event.
    pub(crate) fn leaf_index(&self) -> u64 {
        self.leaf_index
    }
}

/// What entitles opening the patient an audit event carries for an export.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ExportOpening<'a> {
    /// A log reviewer's export, recorded (`audit.export`) at its care provider.
    Read(&'a ReadRecorded),
    /// The forwarding of the audit log to an audit repository that the operator configured
    /// with clear identifiers, for the care providers it forwards.
    Forwarding(&'a [CareProvider]),
}

/// Opening sealed values outside a recording's own access: every such opening is here, and
/// takes the proof that the read is recorded (`sealed_values_are_opened_only_in_the_access_layer`
/// holds the rest of the crate to it).
impl Vault {
    /// Commits the event of a read at a care provider and returns the proof that it is
    /// durable.
    pub(crate) fn record_sealed_read(
        &self,
        cp: &CareProvider,
        change: Change,
    ) -> Result<ReadRecorded, VaultError> {
        let leaf_index = self.commit_step(change)?;
        Ok(ReadRecorded {
            care_provider: cp.clone(),
            leaf_index,
        })
    }

    /// Opens a sealed free text of the read's care provider (a hold's reason, a reviewer's
    /// comment, a decision document), sealed under `context`.
    pub(crate) fn open_recorded_text(
        &self,
        read: &ReadRecorded,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        Ok(self
            .keys
            .open_field(&read.care_provider, FieldKind::FreeText, context, sealed)?)
    }

    /// The patient an audit event carries, opened for an export: only for an event of a care
    /// provider the opening covers (never another care provider's patient, e.g. in a refused
    /// attempt across care providers that the actor's reviewer exports); `None` otherwise.
    pub(crate) fn open_event_patient(
        &self,
        by: ExportOpening<'_>,
        e: &AuditEvent,
    ) -> Result<Option<PatientId>, VaultError> {
        let (Some(p), Some(cp)) = (&e.patient, &e.care_provider) else {
            return Ok(None);
        };
        let covered = match by {
            ExportOpening::Read(r) => r.care_provider == *cp,
            ExportOpening::Forwarding(cps) => cps.is_empty() || cps.contains(cp),
        };
        if !covered {
            return Ok(None);
        }
        let b = zeroize::Zeroizing::new(self.keys.open_field(
            cp,
            FieldKind::PatientId,
            AUDIT_SEAL_CONTEXT,
            &p.sealed,
        )?);
        let canon = std::str::from_utf8(&b).map_err(|_| VaultError::DamagedSealedValue {
            what: "patient",
            why: "not UTF-8".into(),
        })?;
        PatientId::from_canonical(canon)
            .map(Some)
            .map_err(|e| VaultError::DamagedSealedValue {
                what: "patient",
                why: e.to_string(),
            })
    }
}
