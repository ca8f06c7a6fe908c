//! `GET /api/v1/recordings/{id}/audio`: the audited byte range of a recording, streamed.
//!
//! The decision and the access event (naming the exact byte range) come first; then a
//! blocking task decrypts only the segments that hold the range and hands each decrypted
//! chunk to the response body through a small bounded channel. At most a few chunks are in
//! memory per stream, whatever the recording's size. If the client goes away, the channel
//! closes and decryption stops. If decryption fails after the headers went out, the body
//! ends with an error, so the client sees a response shorter than its `Content-Length`
//! (never bytes from another source spliced in).

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_auth::{Action, AuthenticatedPrincipal};
use callvault_vault::VaultError;
use callvault_vault::access::target::Audio;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::AppState;
use crate::app::{PurposeParams, decide, recording_id};
use crate::problem::Problem;

/// Decrypted chunks buffered per stream (each one segment, at most 64 KiB).
const CHANNEL_CHUNKS: usize = 4;

/// A parsed `Range: bytes=` header (RFC 9110 §14.1.2).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ByteRange {
    /// `a-b` (inclusive end, as written).
    FromTo(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a Range header; `Ok(None)` for none, `Err` for a malformed one. Several ranges
/// are answered with the first one only (allowed by RFC 9110).
pub fn parse_range(h: Option<&HeaderValue>) -> Result<Option<ByteRange>, Problem> {
    let Some(h) = h else { return Ok(None) };
    let s = h
        .to_str()
        .map_err(|_| Problem::bad_request("Range header is not ASCII"))?;
    let spec = s
        .strip_prefix("bytes=")
        .ok_or_else(|| Problem::bad_request("Range must be in bytes, e.g. Range: bytes=0-1023"))?;
    let first = spec.split(',').next().unwrap_or_default().trim();
    // The header is the client's; a long one (thousands of ranges) is not echoed whole.
    let shown: String = s.chars().take(64).collect();
    let more = if shown.len() < s.len() { "…" } else { "" };
    let bad = || Problem::bad_request(format!("Range {shown:?}{more} is malformed"));
    let (a, b) = first.split_once('-').ok_or_else(bad)?;
    let num = |x: &str| x.parse::<u64>().map_err(|_| bad());
    Ok(Some(match (a.is_empty(), b.is_empty()) {
        (true, false) => ByteRange::Suffix(num(b)?),
        (false, true) => ByteRange::From(num(a)?),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad());
            }
            ByteRange::FromTo(a, b)
        }
        (true, true) => return Err(bad()),
    }))
}

impl std::fmt::Display for ByteRange {
    /// The range in the Range header's own notation (RFC 9110 §14.1.2).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::FromTo(a, b) => write!(f, "bytes={a}-{b}"),
            Self::From(a) => write!(f, "bytes={a}-"),
            Self::Suffix(n) => write!(f, "bytes=-{n}"),
        }
    }
}

/// The half-open byte range to serve, or `None` if unsatisfiable.
pub fn resolve(r: &ByteRange, len: u64) -> Option<Range<u64>> {
    match *r {
        ByteRange::FromTo(a, b) if a < len => Some(a..b.saturating_add(1).min(len)),
        ByteRange::From(a) if a < len => Some(a..len),
        ByteRange::Suffix(n) if n > 0 && len > 0 => Some(len - n.min(len)..len),
        _ => None,
    }
}

/// The response body: chunks from the decrypting task, with the exact length known up front.
struct StreamBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    remaining: u64,
}

impl http_body::Body for StreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            // The task ended without delivering every byte: fail the body, never pad it.
            Poll::Ready(None) => {
                Poll::Ready(Some(Err(std::io::Error::other("audio stream ended early"))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Takes a stream slot, or answers `503` when every slot is in use.
pub(crate) fn stream_slot(streams: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, Problem> {
    Arc::clone(streams)
        .try_acquire_owned()
        .map_err(|_| Problem::busy("every audio stream slot is in use; retry shortly"))
}

/// The audio route.
pub(crate) async fn audio(
    State(state): State<AppState>,
    Extension(who): Extension<AuthenticatedPrincipal>,
    Path(id): Path<String>,
    Query(params): Query<PurposeParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let id = recording_id(&id)?;
    let params = params.with_headers(&headers)?;
    stream_audio(state, who, id, params, &headers).await
}

/// Decides, audits the byte range and streams it: the API route's body, shared with the web
/// UI's player (which brings the purpose, and for emergency access the reason, from its own
/// grant instead of the query).
pub(crate) async fn stream_audio(
    state: AppState,
    who: AuthenticatedPrincipal,
    id: callvault_types::RecordingId,
    params: PurposeParams,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let requested = parse_range(headers.get(header::RANGE))?;
    let partial = requested.is_some();
    let slot = stream_slot(&state.audio_streams)?;
    let vault = Arc::clone(&state.vault);
    let state_limits = state.limits;
    // Decision and audit event on the async worker (short reads; the commit is awaited), so
    // that the first byte is not queued behind a thread hand-off.
    let authz = decide(&state, &who, Action::Play, &id, &params).await?;
    let len = state
        .vault
        .recording_audio_len(&id)
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(|| Problem::not_found(format!("no recording {id}")))?;
    let range = match &requested {
        None => 0..len,
        Some(r) => resolve(r, len).ok_or(Problem::range_not_satisfiable(len))?,
    };
    let receipt = state
        .vault
        .record_access_async(
            authz,
            Audio {
                id,
                range: range.clone(),
                asked: requested.map(|r| r.to_string()),
            },
        )
        .await?;
    let leaf = receipt.leaf_index();
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let idle = state_limits.idle_timeout;
    let rt = tokio::runtime::Handle::current();
    let policy = Arc::clone(&state.policy);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let (asg, holder) = (
            receipt.decision().assignment().id.clone(),
            receipt.decision().principal().hsa_id().clone(),
        );
        let result = vault.play(&receipt, |chunk| {
            // A revoked or expired assignment stops its open streams at the next chunk.
            if !policy
                .current()
                .in_force(&asg, &holder, time::OffsetDateTime::now_utc())
            {
                return Err(VaultError::Refused(format!(
                    "assignment {asg} is no longer in force; the stream was stopped"
                )));
            }
            // A client that stops reading gives up its slot after the idle timeout.
            rt.block_on(tokio::time::timeout(
                idle,
                tx.send(Ok(Bytes::copy_from_slice(chunk))),
            ))
            .map_err(|_| VaultError::SinkClosed)?
            .map_err(|_| VaultError::SinkClosed)
        });
        // On any failure just drop the sender: the body then ends short of its
        // Content-Length ("ended early"). Never wait on a reader that stopped reading.
        if let Err(e) = result
            && !matches!(e, VaultError::SinkClosed)
        {
            tracing::warn!("audio of {id}: {e}");
        }
        drop(tx);
    });
    let body = StreamBody {
        rx,
        remaining: range.end - range.start,
    };
    let mut resp = (
        if partial {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::ACCEPT_RANGES, "bytes"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::new(body),
    )
        .into_response();
    let h = resp.headers_mut();
    if partial
        && let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", range.start, range.end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    h.insert("x-callvault-audit-leaf", HeaderValue::from(leaf));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Result<Option<ByteRange>, Problem> {
        parse_range(Some(&HeaderValue::from_str(s).expect("header")))
    }

    #[test]
    fn range_shapes() {
        let len = 1000;
        let res = |s: &str| r(s).expect("parse").and_then(|b| resolve(&b, len));
        assert_eq!(res("bytes=0-0"), Some(0..1));
        assert_eq!(res("bytes=0-999"), Some(0..1000));
        assert_eq!(res("bytes=500-"), Some(500..1000));
        assert_eq!(res("bytes=-100"), Some(900..1000));
        assert_eq!(res("bytes=-5000"), Some(0..1000));
        assert_eq!(res("bytes=990-5000"), Some(990..1000));
        assert_eq!(res("bytes=0-9, 20-29"), Some(0..10));
        assert_eq!(res(&format!("bytes=0-{}", u64::MAX)), Some(0..1000));
        assert_eq!(res("bytes=1000-"), None);
        assert_eq!(res("bytes=-0"), None);
        assert!(r("bytes=9-1").is_err());
        assert!(r("items=0-1").is_err());
        assert!(r("bytes=a-b").is_err());
        assert!(r("bytes=-").is_err());
        assert_eq!(parse_range(None).expect("none"), None);
    }
}
