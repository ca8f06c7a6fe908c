//! Links of recordings to patients (migration 10). A live call has no personnummer when it
//! starts; the nurse links the recording to the patient during or after the call. Every
//! link is a row, numbered per recording from 1; a wrong link is corrected by the next one,
//! never overwritten. The recording's own patient columns hold the latest link (what search
//! and every access event read), written in the same transaction.

use callvault_types::RecordingId;
use time::OffsetDateTime;

use crate::error::corrupt;
use crate::sql::{Sql, p};
use crate::sqlite::{from_micros, micros};
use crate::{CatalogError, SealedField};

/// One link of a recording to a patient, as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PatientLinkRow {
    /// The recording.
    pub recording_id: RecordingId,
    /// 1 for the first link, then one more for each correction.
    pub n: u32,
    /// The patient, sealed under the care provider's field key (context: the recording id,
    /// as the recording's own patient field) and blind-indexed.
    pub patient: SealedField,
    /// Who linked (audit actor).
    pub linked_by: String,
    /// When.
    pub linked_at: OffsetDateTime,
    /// Why the previous link was wrong (sealed free text); `None` only for the first.
    pub reason_sealed: Option<Vec<u8>>,
}

/// Inserts the next link and makes it the recording's patient.
pub(crate) fn link(tx: &dyn Sql, l: &PatientLinkRow) -> Result<(), CatalogError> {
    let id = l.recording_id.to_string();
    tx.execute(
        "INSERT INTO patient_links (recording_id, n, patient_sealed, patient_bidx, linked_by,
           linked_at_us, reason_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![
            &id,
            i64::from(l.n),
            &l.patient.0,
            &l.patient.1,
            &l.linked_by,
            micros(l.linked_at),
            l.reason_sealed.as_deref(),
        ],
    )
    .map_err(|e| match e.refusal() {
        // Another link was made first (two nurses at once): the caller reads again.
        Some(m) => CatalogError::Conflict(format!("recording {id}: {m}")),
        None => e,
    })?;
    let n = tx.execute(
        "UPDATE recordings SET patient_sealed = ?2, patient_bidx = ?3 WHERE id = ?1",
        p![&id, &l.patient.0, &l.patient.1],
    )?;
    if n != 1 {
        return Err(CatalogError::UnknownRecording(id));
    }
    Ok(())
}

/// A recording's links, oldest first.
pub(crate) fn links(c: &dyn Sql, id: &RecordingId) -> Result<Vec<PatientLinkRow>, CatalogError> {
    let mut out = Vec::new();
    c.query_each(
        "SELECT n, patient_sealed, patient_bidx, linked_by, linked_at_us, reason_sealed
         FROM patient_links WHERE recording_id = ?1 ORDER BY n",
        p![&id.to_string()],
        &mut |r| {
            out.push(PatientLinkRow {
                recording_id: *id,
                n: u32::try_from(r.i64(0)?).map_err(|_| corrupt("patient link number"))?,
                patient: (
                    r.blob(1)?,
                    r.blob(2)?
                        .try_into()
                        .map_err(|_| corrupt("patient link blind index"))?,
                ),
                linked_by: r.text(3)?,
                linked_at: from_micros(r.i64(4)?)?,
                reason_sealed: r.opt_blob(5)?,
            });
            Ok(())
        },
    )?;
    Ok(out)
}

/// Removes a destroyed recording's links (after its row: the trigger allows nothing else).
pub(crate) fn delete_with_recording(tx: &dyn Sql, id: &RecordingId) -> Result<(), CatalogError> {
    tx.execute(
        "DELETE FROM patient_links WHERE recording_id = ?1",
        p![&id.to_string()],
    )?;
    Ok(())
}
