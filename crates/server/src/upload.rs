//! `POST /api/v1/recordings`: a recorder delivers a call recording.
//!
//! Multipart: a `metadata` part (JSON, by default at most 64 KiB) first, then an `audio` part (WAV),
//! streamed into the encryption as it arrives — never held whole in memory, never written
//! in plaintext. Idempotent: the same call id with the same audio answers with the
//! existing recording; with other audio, `409`. A bad upload leaves nothing behind.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use callvault_auth::{AccessRequest, Action, AuthenticatedPrincipal, Purpose, Resource};
use callvault_types::{CallId, CallerNumber, CareProvider, CareUnit, HsaId, PatientId};
use callvault_vault::{IngestEnd, IngestGrant, IngestStart, VaultError, wav};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::problem::Problem;

/// Bytes read for the WAV header check before streaming starts.
const HEADER_PEEK: usize = 64 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadMeta {
    care_provider: String,
    care_unit: String,
    call_id: String,
    started_at: String,
    /// Absent (or empty) for a call whose patient is not known yet: the nurse links it
    /// later (`POST /api/v1/recordings/{id}/patient`).
    #[serde(default)]
    patient_id: Option<String>,
    #[serde(default)]
    caller_number: Option<String>,
    #[serde(default)]
    nurse_hsa_id: Option<String>,
    /// Why the recording is incomplete (a call cut off by a crash, a stream missing): it
    /// is stored although shorter than its header says, flagged with this reason.
    #[serde(default)]
    incomplete: Option<String>,
}

/// The answer to an upload.
#[derive(Debug, Serialize)]
pub struct UploadBody {
    id: String,
    sha256: String,
    size: u64,
    duration_ms: u64,
    sites: Vec<String>,
    retention_until: String,
    audit_leaf_index: u64,
    existing: bool,
}

struct Validated {
    cp: CareProvider,
    unit: CareUnit,
    call_id: CallId,
    started_at: time::OffsetDateTime,
    patient: Option<PatientId>,
    caller: Option<CallerNumber>,
    nurse: Option<HsaId>,
    incomplete: Option<String>,
}

/// Parses and checks an upload's `metadata` part exactly as the route does, keeping nothing:
/// the entry point of the metadata fuzz target.
pub fn check_metadata(raw: &[u8]) -> Result<(), Problem> {
    validate(raw).map(drop)
}

fn validate(raw: &[u8]) -> Result<Validated, Problem> {
    let m: UploadMeta = serde_json::from_slice(raw).map_err(|e| {
        // serde_json names fields and types; values do not reach the message for strings,
        // and numbers are refused generically.
        let msg = e.to_string();
        let msg = msg.split(" at line").next().unwrap_or_default();
        if msg.starts_with("missing field") || msg.starts_with("unknown field") {
            // An unknown field may be named by anything, a personal number included.
            Problem::bad_request(format!(
                "metadata: {}",
                callvault_types::redact::parser_message(
                    msg.split(", expected").next().unwrap_or_default()
                )
            ))
        } else {
            Problem::bad_request("metadata must be a JSON object of strings: care_provider, care_unit, call_id, started_at, patient_id, caller_number, nurse_hsa_id")
        }
    })?;
    let bad = |field: &str, e: &dyn std::fmt::Display| {
        Problem::bad_request(format!("metadata {field}: {e}"))
    };
    let cp = CareProvider::parse(&m.care_provider).map_err(|e| bad("care_provider", &e))?;
    let unit = CareUnit::parse(&m.care_unit).map_err(|e| bad("care_unit", &e))?;
    if unit.hsa_id().organisation_number() != cp.hsa_id().organisation_number() {
        return Err(Problem::bad_request(format!(
            "metadata care_unit: {unit} does not belong to care provider {cp}"
        )));
    }
    Ok(Validated {
        call_id: CallId::parse(&m.call_id).map_err(|e| bad("call_id", &e))?,
        started_at: time::OffsetDateTime::parse(&m.started_at, &Rfc3339).map_err(|_| {
            Problem::bad_request("metadata started_at must be RFC 3339, e.g. 2026-10-01T08:15:00Z")
        })?,
        patient: match m.patient_id.as_deref() {
            None | Some("") => None,
            Some(p) => Some(PatientId::parse_any(p).map_err(|e| bad("patient_id", &e))?),
        },
        caller: match m.caller_number.as_deref() {
            None | Some("") => None,
            Some(c) => Some(CallerNumber::parse(c).map_err(|e| bad("caller_number", &e))?),
        },
        nurse: match m.nurse_hsa_id.as_deref() {
            None | Some("") => None,
            Some(n) => Some(HsaId::parse(n).map_err(|e| bad("nurse_hsa_id", &e))?),
        },
        incomplete: match m.incomplete {
            None => None,
            Some(why)
                if !why.trim().is_empty()
                    && why.chars().count() <= callvault_vault::ingest::MAX_INCOMPLETE_REASON
                    && !why.chars().any(char::is_control) =>
            {
                Some(why.trim().to_owned())
            }
            Some(_) => {
                return Err(Problem::bad_request(format!(
                    "metadata incomplete: one line of 1 to {} characters saying why the recording is incomplete",
                    callvault_vault::ingest::MAX_INCOMPLETE_REASON
                )));
            }
        },
        cp,
        unit,
    })
}

fn idle_problem(idle: std::time::Duration) -> Problem {
    Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "Request timeout",
        format!(
            "the upload sent nothing for {} s; nothing was stored",
            idle.as_secs()
        ),
    )
}

/// Awaits one step of reading the body, failing with `408` if it makes no progress in time.
async fn stalled<T>(
    idle: std::time::Duration,
    step: impl std::future::Future<Output = T>,
) -> Result<T, Problem> {
    tokio::time::timeout(idle, step)
        .await
        .map_err(|_| idle_problem(idle))
}

fn multipart_problem(e: axum::extract::multipart::MultipartError) -> Problem {
    Problem::bad_request(format!("malformed multipart body: {}", e.body_text()))
}

/// The audio part, chunk by chunk, within the limits: an upload that sends nothing for the
/// idle timeout, stays slower than the minimum rate after it, or grows beyond the largest
/// size is refused (and the ingest it feeds is abandoned, so nothing is kept).
struct AudioPart<'a> {
    field: axum::extract::multipart::Field<'a>,
    limits: crate::config::Limits,
    total: u64,
    started: std::time::Instant,
}

impl AudioPart<'_> {
    async fn next(&mut self) -> Result<Option<Bytes>, Problem> {
        let idle = self.limits.idle_timeout;
        let elapsed = self.started.elapsed();
        if elapsed > idle
            && (self.total as f64 / elapsed.as_secs_f64())
                < self.limits.min_upload_bytes_per_sec as f64
        {
            return Err(Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "Request timeout",
                format!(
                    "the upload is slower than {} bytes/s; nothing was stored",
                    self.limits.min_upload_bytes_per_sec
                ),
            ));
        }
        let chunk = stalled(idle, self.field.chunk())
            .await?
            .map_err(|e| Problem::bad_request(format!("upload interrupted: {}", e.body_text())))?;
        if let Some(c) = &chunk {
            self.total += c.len() as u64;
            if self.total > self.limits.max_audio_bytes {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Payload too large",
                    format!(
                        "audio is larger than {} bytes; nothing was stored",
                        self.limits.max_audio_bytes
                    ),
                ));
            }
        }
        Ok(chunk)
    }
}

/// The upload route.
pub async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<UploadBody>), Problem> {
    let idle = state.limits.idle_timeout;
    // Each upload holds a thread while it streams into the encryption: bounded.
    let _slot = Arc::clone(&state.uploads)
        .try_acquire_owned()
        .map_err(|_| Problem::busy("every upload slot is in use; retry shortly"))?;
    let mut meta_field = stalled(idle, multipart.next_field())
        .await?
        .map_err(multipart_problem)?
        .ok_or_else(|| Problem::bad_request("the body has no parts; send metadata then audio"))?;
    if meta_field.name() != Some("metadata") {
        return Err(Problem::bad_request(
            "the first part must be named metadata (JSON)",
        ));
    }
    let limits = state.limits;
    let mut raw = Vec::new();
    while let Some(chunk) = stalled(idle, meta_field.chunk())
        .await?
        .map_err(multipart_problem)?
    {
        raw.extend_from_slice(&chunk);
        if raw.len() as u64 > limits.max_metadata_bytes {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
                format!(
                    "metadata is larger than {} bytes",
                    limits.max_metadata_bytes
                ),
            ));
        }
    }
    drop(meta_field);
    let v = validate(&raw)?;
    let audio = stalled(idle, multipart.next_field())
        .await?
        .map_err(multipart_problem)?
        .ok_or_else(|| Problem::bad_request("the audio part is missing"))?;
    if audio.name() != Some("audio") {
        return Err(Problem::bad_request(
            "the second part must be named audio (WAV)",
        ));
    }

    let part = AudioPart {
        field: audio,
        limits,
        total: 0,
        started: std::time::Instant::now(),
    };
    ingest(&state, &who, v, part).await
}

/// Authorizes the recorder, answers a re-delivery from the catalog, or streams the audio
/// into an ingest session: the WAV header checked on the first bytes, every chunk encrypted
/// and written to the sites as it arrives, the recording committed when the part ends.
async fn ingest(
    state: &AppState,
    who: &AuthenticatedPrincipal,
    v: Validated,
    mut part: AudioPart<'_>,
) -> Result<(StatusCode, Json<UploadBody>), Problem> {
    let req = AccessRequest {
        action: Action::Ingest,
        resource: Resource {
            care_provider: v.cp.clone(),
            care_unit: Some(v.unit.clone()),
        },
        purpose: Purpose::CareAndTreatment,
        assignment: None,
        emergency_reason: None,
        case_number: None,
    };
    // The decision is what entitles the ingest (`IngestGrant::Recorder`): without it the
    // vault starts none, and the event's actor is the decision's principal.
    let authz = crate::app::authorize_async(state, who, &req, None).await?;
    let t = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();

    // Idempotency: the same call id again is compared by content, not stored twice.
    if let Some(existing) = state
        .vault
        .catalog()
        .recording_by_call(&v.cp, &v.call_id)
        .map_err(|e| Problem::internal(&e))?
    {
        let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        while let Some(chunk) = part.next().await? {
            h.update(&chunk);
        }
        if h.finish().as_ref() != existing.rec.plaintext_sha256 {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                format!(
                    "call id {} already has a recording with other audio",
                    v.call_id
                ),
            ));
        }
        let vault = Arc::clone(&state.vault);
        let (leaf, sites, existing) = crate::app::vault_blocking(move || {
            let leaf = vault.record_redelivery(IngestGrant::Recorder(&authz), &existing)?;
            let sites = vault
                .catalog()
                .placements(&existing.rec.id)?
                .into_iter()
                .filter(|p| p.state == callvault_catalog::PlacementState::Ok)
                .map(|p| p.site)
                .collect::<Vec<_>>();
            Ok((leaf, sites, existing))
        })
        .await?;
        let r = existing.rec;
        return Ok((
            StatusCode::OK,
            Json(UploadBody {
                id: r.id.to_string(),
                sha256: hex(&r.plaintext_sha256),
                size: r.plaintext_size,
                duration_ms: r.duration_ms,
                sites,
                retention_until: t(r.retention_until),
                audit_leaf_index: leaf,
                existing: true,
            }),
        ));
    }

    // Check the WAV header on the first bytes, then stream them and the rest.
    let mut head = Vec::with_capacity(HEADER_PEEK);
    while head.len() < HEADER_PEEK {
        match part.next().await? {
            Some(c) => head.extend_from_slice(&c),
            None => break,
        }
    }
    let info = wav::check_header(&head[..], u64::MAX)
        .map_err(|e| Problem::bad_request(format!("audio: {e}")))?;
    let start = IngestStart {
        care_provider: v.cp,
        care_unit: v.unit,
        call_id: v.call_id,
        started_at: v.started_at,
        patient: v.patient,
        caller: v.caller,
        nurse: v.nurse,
        codec: info.codec.to_owned(),
        sample_rate: info.sample_rate,
        channels: info.channels,
    };
    let incomplete = v.incomplete.clone();
    let vault = Arc::clone(&state.vault);
    let mut session = crate::app::vault_blocking(move || {
        vault.begin_ingest(IngestGrant::Recorder(&authz), start)
    })
    .await?;
    // If this handler is dropped (client gone, server shutting down) or refuses the part,
    // the session goes with it unfinished, and nothing is acknowledged or kept.
    session
        .append_async(Bytes::from(head))
        .await
        .map_err(ingest_problem)?;
    while let Some(chunk) = part.next().await? {
        session.append_async(chunk).await.map_err(ingest_problem)?;
    }
    // The duration is known now: the header's, or — for a recording flagged incomplete — that
    // of the audio that arrived.
    let audio_received = part
        .total
        .saturating_sub(info.header_len)
        .min(info.data_len);
    let duration_ms = if info.data_len == 0 {
        0
    } else {
        u64::try_from(
            u128::from(info.duration_ms) * u128::from(audio_received) / u128::from(info.data_len),
        )
        .unwrap_or(info.duration_ms)
    };
    let end = IngestEnd {
        duration_ms,
        min_len: info.header_len + info.data_len,
        incomplete,
    };
    let vault = Arc::clone(&state.vault);
    let o = tokio::task::spawn_blocking(move || vault.finish_ingest(session, end))
        .await
        .map_err(|e| Problem::internal(&e))?
        .map_err(ingest_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(UploadBody {
            id: o.id.to_string(),
            sha256: hex(&o.plaintext_sha256),
            size: o.plaintext_size,
            duration_ms,
            sites: o.sites_ok,
            retention_until: t(o.retention_until),
            audit_leaf_index: o.leaf_index,
            existing: false,
        }),
    ))
}

/// An ingest's failure as the recorder sees it.
fn ingest_problem(e: VaultError) -> Problem {
    match e {
        VaultError::Truncated { .. } | VaultError::Crypto(_) => {
            Problem::bad_request(format!("audio: {e}"))
        }
        VaultError::Catalog(callvault_catalog::CatalogError::DuplicateCall { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflict",
            "the call id was delivered concurrently; retry to get its recording",
        ),
        other => Problem::from_vault(other),
    }
}

#[cfg(test)]
mod tests {
    use super::check_metadata;

    /// An unknown metadata field is named only if it looks like a key name: a field may be
    /// named by a personal number (the same finding as in the import manifests).
    #[test]
    fn unknown_metadata_fields_named_by_numbers_are_not_echoed() {
        let p = check_metadata(br#"{"191212121212":"x"}"#).expect_err("unknown");
        assert_eq!(p.detail, "metadata: unknown field `…`");
        let p = check_metadata(br#"{"colour":"x"}"#).expect_err("unknown");
        assert_eq!(p.detail, "metadata: unknown field `colour`");
    }
}
