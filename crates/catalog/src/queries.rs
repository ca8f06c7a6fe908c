//! The catalog's statements, written once against [`Sql`] for both engines: applying a
//! change (its mutations and audit events) inside the writer's transaction, and the reads.

use callvault_audit::merkle::leaf_hash;
use callvault_types::{CallId, CareProvider, CareUnit, HsaId, RecordingId};
use time::OffsetDateTime;

use crate::error::corrupt;
use crate::sql::{Param, Row, Sql, SqlExt, p};
use crate::sqlite::{from_micros, micros};
use crate::{
    CatalogError, CatalogStats, Change, Committed, Mutation, NewRecording, Placement,
    PlacementState, RecordingRow, RecordingSource, RepairTask, SealedField, StoredCheckpoint,
};
use crate::{followup, governance, pruning, records};

fn now_us() -> i64 {
    micros(OffsetDateTime::now_utc())
}

fn arr<const N: usize>(v: Vec<u8>, what: &str) -> Result<[u8; N], CatalogError> {
    v.try_into().map_err(|_| corrupt(what))
}

/// The next audit leaf index (leaves are contiguous from 0).
pub(crate) fn next_index(c: &dyn Sql) -> Result<u64, CatalogError> {
    Ok(c.query_one(
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log",
        p![],
        |r| r.i64(0),
    )? as u64)
}

/// Applies one change inside the writer's transaction (and the caller's savepoint): its
/// mutations, then its audit events as the next leaves.
pub(crate) fn apply_change(
    tx: &dyn Sql,
    change: &Change,
    next: &mut u64,
) -> Result<Committed, CatalogError> {
    for m in &change.mutations {
        apply_mutation(tx, m)?;
    }
    let mut leaf_indexes = Vec::with_capacity(change.events.len());
    for e in &change.events {
        let enc = e.encode()?;
        let lh = leaf_hash(&enc);
        let rid = e.recording.as_ref().map(|r| r.id.to_string());
        tx.execute(
            "INSERT INTO audit_log (idx, leaf_hash, event, time_us, action, recording_id, patient_bidx,
               assignment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            p![
                *next as i64,
                &lh,
                &enc,
                micros(e.time),
                e.action.code(),
                rid.as_deref(),
                e.patient.as_ref().map(|p| &p.blind_index[..]),
                e.assignment.as_deref(),
            ],
        )?;
        leaf_indexes.push(*next);
        *next += 1;
    }
    Ok(Committed { leaf_indexes })
}

fn add_repair_task(
    tx: &dyn Sql,
    rid: &RecordingId,
    site: &str,
    reason: &str,
) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT INTO repair_tasks (recording_id, site, reason, created_at_us) VALUES (?1, ?2, ?3, ?4)",
        p![&rid.to_string(), site, reason, now_us()],
    )?;
    Ok(())
}

fn insert_recording(tx: &dyn Sql, r: &NewRecording) -> Result<(), CatalogError> {
    let id = r.id.to_string();
    let res = tx.execute(
        "INSERT INTO recordings (id, care_provider, care_unit, call_id, started_at_us, ended_at_us,
           duration_ms, codec, sample_rate, channels, plaintext_size, plaintext_sha256,
           ciphertext_size, ciphertext_sha256, dek_id, wrapped_dek, kek_version,
           patient_sealed, patient_bidx, caller_sealed, caller_bidx, nurse_hsa_id,
           retention_until_us, source, created_at_us, incomplete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
           ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
        p![
            &id,
            r.care_provider.as_str(),
            r.care_unit.as_str(),
            r.call_id.as_str(),
            micros(r.started_at),
            micros(r.ended_at),
            r.duration_ms as i64,
            &r.codec,
            i64::from(r.sample_rate),
            i64::from(r.channels),
            r.plaintext_size as i64,
            &r.plaintext_sha256,
            r.ciphertext_size as i64,
            &r.ciphertext_sha256,
            &r.dek_id,
            &r.wrapped_dek,
            i64::from(r.kek_version),
            r.patient.as_ref().map(|p| &p.0[..]),
            r.patient.as_ref().map(|p| &p.1[..]),
            r.caller.as_ref().map(|p| &p.0[..]),
            r.caller.as_ref().map(|p| &p.1[..]),
            r.nurse.as_ref().map(HsaId::as_str),
            micros(r.retention_until),
            r.source.as_str(),
            now_us(),
            r.incomplete.as_deref(),
        ],
    );
    match res {
        Err(e) if e.is_constraint_violation() => Err(CatalogError::DuplicateCall {
            care_provider: r.care_provider.to_string(),
            call_id: r.call_id.to_string(),
        }),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

fn apply_mutation(tx: &dyn Sql, m: &Mutation) -> Result<(), CatalogError> {
    match m {
        Mutation::InsertRecording {
            recording: r,
            placements,
            repair_reason,
        } => {
            insert_recording(tx, r)?;
            let id = r.id.to_string();
            for pl in placements {
                tx.execute(
                    "INSERT INTO placements (recording_id, site, state, updated_at_us) VALUES (?1, ?2, ?3, ?4)",
                    p![&id, &pl.site, pl.state.as_str(), now_us()],
                )?;
                if pl.state != PlacementState::Ok {
                    add_repair_task(tx, &r.id, &pl.site, repair_reason)?;
                }
            }
        }
        Mutation::SetPlacement {
            recording_id,
            placement,
            reason,
        } => {
            let rid = recording_id.to_string();
            let exists = tx
                .query_opt("SELECT id FROM recordings WHERE id = ?1", p![&rid], |_| {
                    Ok(())
                })?
                .is_some();
            if !exists {
                return Err(CatalogError::UnknownRecording(rid));
            }
            tx.execute(
                "INSERT INTO placements (recording_id, site, state, updated_at_us) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (recording_id, site) DO UPDATE SET state = excluded.state, updated_at_us = excluded.updated_at_us",
                p![&rid, &placement.site, placement.state.as_str(), now_us()],
            )?;
            if placement.state == PlacementState::Ok {
                tx.execute(
                    "UPDATE repair_tasks SET done_at_us = ?3 WHERE recording_id = ?1 AND site = ?2 AND done_at_us IS NULL",
                    p![&rid, &placement.site, now_us()],
                )?;
            } else {
                let open = tx
                    .query_opt(
                        "SELECT id FROM repair_tasks WHERE recording_id = ?1 AND site = ?2 AND done_at_us IS NULL",
                        p![&rid, &placement.site],
                        |_| Ok(()),
                    )?
                    .is_some();
                if !open {
                    add_repair_task(tx, recording_id, &placement.site, reason)?;
                }
            }
        }
        Mutation::Rewrap(items) => {
            for w in items {
                let n = tx.execute(
                    "UPDATE recordings SET wrapped_dek = ?2, kek_version = ?3 WHERE id = ?1",
                    p![
                        &w.recording_id.to_string(),
                        &w.wrapped_dek,
                        i64::from(w.kek_version)
                    ],
                )?;
                if n != 1 {
                    return Err(CatalogError::UnknownRecording(w.recording_id.to_string()));
                }
            }
        }
        Mutation::StoreCheckpoint(c) => {
            tx.execute(
                "INSERT INTO checkpoints (size, root_hash, note, created_at_us, compact_range)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                p![
                    c.size as i64,
                    &c.root_hash,
                    &c.note,
                    micros(c.created_at),
                    c.compact_range.as_deref()
                ],
            )?;
        }
        Mutation::RegisterUser(u) => governance::register_user(tx, u)?,
        Mutation::InsertAssignment {
            assignment,
            approved,
        } => governance::insert_assignment(tx, assignment, approved.as_ref())?,
        Mutation::DecideAssignment {
            id,
            approve,
            decision,
        } => governance::decide(tx, id, *approve, decision)?,
        Mutation::RevokeAssignment { id, revocation } => governance::revoke(tx, id, revocation)?,
        Mutation::SetLegalHold { hold, recordings } => records::set_hold(tx, hold, recordings)?,
        Mutation::ReleaseLegalHold {
            id,
            by,
            at,
            reason_sealed,
        } => records::release_hold(tx, id, by, *at, reason_sealed)?,
        Mutation::RegisterDeletion { order, recordings } => {
            records::register_order(tx, order, recordings)?
        }
        Mutation::DecideDeletion {
            id,
            approve,
            by,
            at,
            comment,
        } => records::decide_order(tx, id, *approve, by, *at, comment.as_deref())?,
        Mutation::StartDeletion { id, by } => records::start_order(tx, id, by)?,
        Mutation::ShredRecording {
            order_id,
            recording_id,
            at,
        } => records::shred(tx, order_id, recording_id, *at)?,
        Mutation::BlobsDeleted(rid) => records::blobs_deleted(tx, rid)?,
        Mutation::LinkPatient(link) => crate::links::link(tx, link)?,
        Mutation::FinishDeletion { id, at } => records::finish_order(tx, id, *at)?,
        Mutation::StoreCertificate { id, text } => records::store_certificate(tx, id, text)?,
        Mutation::StoreCosignature {
            size,
            witness,
            line,
            time,
        } => {
            tx.execute(
                "INSERT INTO cosignatures (size, witness, line, time_s) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                p![*size as i64, witness, line, *time as i64],
            )?;
        }
        Mutation::InsertFollowUp { run, findings } => followup::insert_run(tx, run, findings)?,
        Mutation::ReviewFinding { run_id, n, review } => followup::review(tx, run_id, *n, review)?,
        Mutation::MarkProtected {
            care_provider,
            patient_bidx,
            protected,
            reference,
            by,
            at,
        } => followup::mark_protected(
            tx,
            care_provider,
            patient_bidx,
            *protected,
            reference,
            by,
            *at,
        )?,
        Mutation::SetUserPersonalId {
            hsa_id,
            personal_id,
        } => followup::set_personal_id(tx, hsa_id, &personal_id.0, &personal_id.1)?,
        Mutation::RegisterAuditPrune(o) => pruning::register(tx, o)?,
        Mutation::ApproveAuditPrune {
            id,
            care_provider,
            by,
            at,
        } => pruning::approve(tx, id, care_provider, by, *at)?,
        Mutation::ExecuteAuditPrune { id, by, at } => {
            pruning::execute(tx, id, by, *at)?;
        }
        Mutation::AddCareProvider {
            care_provider,
            retention_years,
        } => {
            // The registered retention only ever grows.
            tx.execute(
                "INSERT INTO care_providers (hsa_id, retention_years, added_at_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hsa_id) DO UPDATE SET retention_years = CASE
                   WHEN excluded.retention_years > care_providers.retention_years
                   THEN excluded.retention_years ELSE care_providers.retention_years END",
                p![
                    care_provider.as_str(),
                    i64::from(*retention_years),
                    now_us()
                ],
            )?;
        }
    }
    Ok(())
}

const RECORDING_COLUMNS: &str = "id, care_provider, care_unit, call_id, started_at_us, ended_at_us,
    duration_ms, codec, sample_rate, channels, plaintext_size, plaintext_sha256, ciphertext_size,
    ciphertext_sha256, dek_id, wrapped_dek, kek_version, patient_sealed, patient_bidx,
    caller_sealed, caller_bidx, nurse_hsa_id, retention_until_us, source, legal_hold, state,
    created_at_us, incomplete";

fn sealed_pair(
    s: Option<Vec<u8>>,
    b: Option<Vec<u8>>,
    what: &str,
) -> Result<Option<SealedField>, CatalogError> {
    match (s, b) {
        (Some(s), Some(b)) => Ok(Some((s, arr(b, what)?))),
        (None, None) => Ok(None),
        _ => Err(corrupt(what)),
    }
}

fn small<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, CatalogError> {
    T::try_from(v).map_err(|_| corrupt(what))
}

fn recording_from_row(row: &Row) -> Result<RecordingRow, CatalogError> {
    let rec = NewRecording {
        id: RecordingId::parse(&row.text(0)?).map_err(|_| corrupt("recording id"))?,
        care_provider: CareProvider::parse(&row.text(1)?).map_err(|_| corrupt("care provider"))?,
        care_unit: CareUnit::parse(&row.text(2)?).map_err(|_| corrupt("care unit"))?,
        call_id: CallId::parse(&row.text(3)?).map_err(|_| corrupt("call id"))?,
        started_at: from_micros(row.i64(4)?)?,
        ended_at: from_micros(row.i64(5)?)?,
        duration_ms: row.i64(6)? as u64,
        codec: row.text(7)?,
        sample_rate: small(row.i64(8)?, "sample rate")?,
        channels: small(row.i64(9)?, "channels")?,
        plaintext_size: row.i64(10)? as u64,
        plaintext_sha256: arr(row.blob(11)?, "plaintext hash")?,
        ciphertext_size: row.i64(12)? as u64,
        ciphertext_sha256: arr(row.blob(13)?, "ciphertext hash")?,
        dek_id: arr(row.blob(14)?, "key id")?,
        wrapped_dek: row.blob(15)?,
        kek_version: small(row.i64(16)?, "KEK version")?,
        patient: sealed_pair(row.opt_blob(17)?, row.opt_blob(18)?, "patient")?,
        caller: sealed_pair(row.opt_blob(19)?, row.opt_blob(20)?, "caller")?,
        nurse: row
            .opt_text(21)?
            .map(|s| HsaId::parse(&s).map_err(|_| corrupt("nurse")))
            .transpose()?,
        retention_until: from_micros(row.i64(22)?)?,
        source: RecordingSource::parse(&row.text(23)?).ok_or_else(|| corrupt("source"))?,
        incomplete: row.opt_text(27)?,
    };
    Ok(RecordingRow {
        rec,
        legal_hold: row.i64(24)? != 0,
        state: row.text(25)?,
        created_at: from_micros(row.i64(26)?)?,
    })
}

/// Recordings matching a `WHERE …` (and `ORDER BY`/`LIMIT`) clause.
pub(crate) fn recordings(
    c: &dyn Sql,
    where_sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<RecordingRow>, CatalogError> {
    c.query_vec(
        &format!("SELECT {RECORDING_COLUMNS} FROM recordings {where_sql}"),
        params,
        recording_from_row,
    )
}

pub(crate) fn recording_events(
    c: &dyn Sql,
    id: &RecordingId,
    actions: &[&str],
) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
    let mut out = Vec::new();
    c.query_each(
        "SELECT idx, event, action FROM audit_log WHERE recording_id = ?1 ORDER BY idx",
        p![&id.to_string()],
        &mut |r| {
            if actions.is_empty() || actions.contains(&r.text(2)?.as_str()) {
                out.push((r.i64(0)? as u64, r.blob(1)?));
            }
            Ok(())
        },
    )?;
    Ok(out)
}

pub(crate) fn placements(c: &dyn Sql, id: &RecordingId) -> Result<Vec<Placement>, CatalogError> {
    // Sorted here: with ORDER BY, SQLite re-prepared this statement on every run.
    let mut out = c.query_vec(
        "SELECT site, state FROM placements WHERE recording_id = ?1",
        p![&id.to_string()],
        |r| {
            Ok(Placement {
                site: r.text(0)?,
                state: PlacementState::parse(&r.text(1)?)
                    .ok_or_else(|| corrupt("placement state"))?,
            })
        },
    )?;
    out.sort_by(|a, b| a.site.cmp(&b.site));
    Ok(out)
}

pub(crate) fn open_repair_tasks(c: &dyn Sql) -> Result<Vec<RepairTask>, CatalogError> {
    c.query_vec(
        "SELECT id, recording_id, site, reason, created_at_us FROM repair_tasks
         WHERE done_at_us IS NULL ORDER BY id",
        p![],
        |r| {
            Ok(RepairTask {
                id: r.i64(0)?,
                recording_id: RecordingId::parse(&r.text(1)?)
                    .map_err(|_| corrupt("repair task recording"))?,
                site: r.text(2)?,
                reason: r.text(3)?,
                created_at: from_micros(r.i64(4)?)?,
            })
        },
    )
}

pub(crate) fn audit_events_by_action(
    c: &dyn Sql,
    actions: &[&str],
) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
    let mut out = Vec::new();
    for a in actions {
        out.extend(c.query_vec(
            "SELECT idx, event FROM audit_log WHERE action = ?1 AND length(event) > 0 ORDER BY idx",
            p![*a],
            |r| Ok((r.i64(0)? as u64, r.blob(1)?)),
        )?);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

pub(crate) fn audit_event(c: &dyn Sql, idx: u64) -> Result<Option<Vec<u8>>, CatalogError> {
    c.query_opt(
        "SELECT event FROM audit_log WHERE idx = ?1",
        p![idx as i64],
        |r| r.blob(0),
    )
}

pub(crate) fn audit_events_by_patient(
    c: &dyn Sql,
    bidx: &[u8; 32],
) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
    c.query_vec(
        "SELECT idx, event FROM audit_log WHERE patient_bidx = ?1 ORDER BY idx",
        p![bidx],
        |r| Ok((r.i64(0)? as u64, r.blob(1)?)),
    )
}

pub(crate) fn checkpoints(c: &dyn Sql) -> Result<Vec<StoredCheckpoint>, CatalogError> {
    c.query_vec(
        "SELECT size, root_hash, note, created_at_us, compact_range FROM checkpoints ORDER BY size",
        p![],
        |r| {
            Ok(StoredCheckpoint {
                size: r.i64(0)? as u64,
                root_hash: arr(r.blob(1)?, "checkpoint root")?,
                note: r.text(2)?,
                created_at: from_micros(r.i64(3)?)?,
                compact_range: r.opt_blob(4)?,
            })
        },
    )
}

pub(crate) fn care_provider_retention(
    c: &dyn Sql,
    cp: &CareProvider,
) -> Result<Option<u32>, CatalogError> {
    c.query_opt(
        "SELECT retention_years FROM care_providers WHERE hsa_id = ?1",
        p![cp.as_str()],
        |r| small(r.i64(0)?, "retention years"),
    )
}

pub(crate) fn stats(c: &dyn Sql) -> Result<CatalogStats, CatalogError> {
    let count = |sql: &str| -> Result<u64, CatalogError> {
        Ok(c.query_one(sql, p![], |r| r.i64(0))? as u64)
    };
    let mut s = CatalogStats {
        recordings: count("SELECT COUNT(*) FROM recordings")?,
        under_replicated: count(
            "SELECT COUNT(DISTINCT recording_id) FROM placements WHERE state != 'ok'",
        )?,
        open_repair_tasks: count("SELECT COUNT(*) FROM repair_tasks WHERE done_at_us IS NULL")?,
        plaintext_bytes: count(
            "SELECT CAST(COALESCE(SUM(plaintext_size), 0) AS BIGINT) FROM recordings",
        )?,
        audit_events: count("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log")?,
        ..Default::default()
    };
    s.per_care_provider = c.query_vec(
        "SELECT care_provider, COUNT(*) FROM recordings GROUP BY care_provider ORDER BY care_provider",
        p![],
        |r| Ok((r.text(0)?, r.i64(1)? as u64)),
    )?;
    s.per_kek_version = c.query_vec(
        "SELECT care_provider, kek_version, COUNT(*) FROM recordings
         GROUP BY care_provider, kek_version ORDER BY 1, 2",
        p![],
        |r| {
            Ok((
                r.text(0)?,
                small(r.i64(1)?, "KEK version")?,
                r.i64(2)? as u64,
            ))
        },
    )?;
    Ok(s)
}

pub(crate) fn cosignatures(c: &dyn Sql, size: u64) -> Result<Vec<(String, String)>, CatalogError> {
    c.query_vec(
        "SELECT witness, line FROM cosignatures WHERE size = ?1 ORDER BY witness",
        p![size as i64],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )
}

pub(crate) fn witness_size(c: &dyn Sql, witness: &str) -> Result<Option<u64>, CatalogError> {
    Ok(c.query_one(
        "SELECT MAX(size) FROM cosignatures WHERE witness = ?1",
        p![witness],
        |r| r.opt_i64(0),
    )?
    .map(|x| x as u64))
}
