//! A SIPREC request read into one normalised recording session, or refused with the SIP
//! status and reason the SRS answers (RFC 7866, RFC 3261 §21).
//!
//! An initial INVITE is a recording session if it says so: the `siprec` option tag, the
//! Contact's `+sip.src` feature tag (RFC 7866 §6.1.1; some SBCs write `src`), or an
//! `rs-metadata` part. It must carry the offer (an SRS does not answer a delayed offer with
//! its own). Re-INVITEs and UPDATEs inside the dialog may carry only SDP (pause, resume, new
//! ports) or only metadata (RFC 7866 §9.2.2).

use crate::SiprecError;
use crate::metadata::{self, Metadata};
use crate::multipart::{self, Part};
use crate::sdp::{self, Offer};
use crate::sip::SipMessage;

/// Option tags this SRS supports (RFC 3261 §8.2.2.3; `siprec` RFC 7866 §6.1.1, `timer`
/// RFC 4028).
pub const SUPPORTED: &[&str] = &["siprec", "timer"];

/// The SRS's answer to a request it does not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// SIP status (4xx).
    pub status: u16,
    /// Why, for the log and the `Warning` header. Never holds a participant's address.
    pub reason: String,
    /// For a 420: the option tags not supported (the `Unsupported` header).
    pub unsupported: Vec<String>,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            unsupported: Vec::new(),
        }
    }
}

impl From<SiprecError> for Refusal {
    fn from(e: SiprecError) -> Self {
        Self::new(400, e.to_string())
    }
}

/// A recorded stream: an offered media line, its label, and who sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledStream {
    /// The offered line's position.
    pub index: usize,
    /// Its label (`a=label`), if the SRC gave one.
    pub label: Option<String>,
    /// The metadata's stream id for that label.
    pub stream_id: Option<String>,
    /// The participant who sends it (its metadata id).
    pub participant: Option<String>,
}

/// What one request says about a recording session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingSession {
    /// `Call-ID` of the recording dialog (SRC ↔ SRS).
    pub call_id: String,
    /// The media offer, if the request carries SDP.
    pub offer: Option<Offer>,
    /// The metadata, if the request carries it.
    pub metadata: Option<Metadata>,
    /// The audio streams with their labels and senders (empty without an offer).
    pub streams: Vec<LabelledStream>,
}

impl RecordingSession {
    /// Maps the offer's audio lines to the metadata's streams and senders.
    pub fn map_streams(offer: &Offer, metadata: Option<&Metadata>) -> Vec<LabelledStream> {
        offer
            .streams
            .iter()
            .filter(|s| s.media == "audio")
            .map(|s| {
                let meta_stream = s.label.as_deref().and_then(|l| {
                    metadata.and_then(|m| m.streams.iter().find(|x| x.label.as_deref() == Some(l)))
                });
                let participant = meta_stream.and_then(|ms| {
                    metadata.and_then(|m| {
                        m.participants
                            .iter()
                            .find(|p| p.send.contains(&ms.id))
                            .map(|p| p.id.clone())
                    })
                });
                LabelledStream {
                    index: s.index,
                    label: s.label.clone(),
                    stream_id: meta_stream.map(|m| m.id.clone()),
                    participant,
                }
            })
            .collect()
    }
}

fn is_metadata(p: &Part) -> bool {
    matches!(
        p.content_type.as_str(),
        "application/rs-metadata+xml" | "application/rs-metadata"
    )
}

/// Which request is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The INVITE that opens a recording session.
    Initial,
    /// A re-INVITE or UPDATE inside the recording dialog.
    InDialog,
}

/// Reads an INVITE, re-INVITE or UPDATE of a recording session.
pub fn read(msg: &SipMessage, kind: Kind) -> Result<RecordingSession, Refusal> {
    let call_id = msg.call_id()?;
    let mut unsupported: Vec<String> = msg
        .tokens(&ezk_sip_types::Name::REQUIRE)
        .into_iter()
        .filter(|t| !SUPPORTED.contains(&t.as_str()))
        .collect();
    unsupported.dedup();
    if !unsupported.is_empty() {
        return Err(Refusal {
            status: 420,
            reason: format!(
                "unsupported option tags required: {}",
                unsupported.join(", ")
            ),
            unsupported,
        });
    }
    let parts = match msg.content_type() {
        Some(ct) if !msg.body.is_empty() => multipart::split(&ct, &msg.body)?,
        _ => Vec::new(),
    };
    let sdps: Vec<&Part> = parts
        .iter()
        .filter(|p| p.content_type == "application/sdp")
        .collect();
    let metas: Vec<&Part> = parts.iter().filter(|p| is_metadata(p)).collect();
    if sdps.len() > 1 || metas.len() > 1 {
        return Err(Refusal::new(400, "more than one SDP or metadata part"));
    }
    if let Some(p) = parts
        .iter()
        .find(|p| p.required && p.content_type != "application/sdp" && !is_metadata(p))
    {
        return Err(Refusal::new(
            415,
            format!(
                "a required body part of an unsupported type ({})",
                p.content_type
            ),
        ));
    }
    if kind == Kind::Initial {
        // Requests in the dialog (the SRS's BYE) go to the Contact.
        msg.contact_target()?;
        let declared = msg
            .tokens(&ezk_sip_types::Name::REQUIRE)
            .iter()
            .chain(msg.tokens(&ezk_sip_types::Name::SUPPORTED).iter())
            .any(|t| t == "siprec")
            || msg.contact_is_src()
            || contact_has_src(msg);
        if !declared && metas.is_empty() {
            return Err(Refusal::new(
                488,
                "not a SIPREC session: no siprec option tag, no +sip.src Contact, no recording metadata",
            ));
        }
        if sdps.is_empty() {
            return Err(Refusal::new(
                488,
                "a recording session's INVITE must carry the SDP offer",
            ));
        }
    } else if sdps.is_empty()
        && metas.is_empty()
        && msg.method() != Some(&ezk_sip_types::Method::UPDATE)
    {
        // An UPDATE without a body is a session-timer refresh (RFC 4028 §7.4); a re-INVITE
        // without an offer would ask the SRS to offer, which it does not.
        return Err(Refusal::new(
            400,
            "the request carries neither SDP nor recording metadata",
        ));
    }
    let offer = sdps
        .first()
        .map(|p| sdp::parse_offer(&p.body))
        .transpose()?;
    if let Some(o) = &offer
        && !o.streams.iter().any(|s| s.media == "audio")
    {
        return Err(Refusal::new(488, "the offer has no audio stream"));
    }
    let metadata = metas
        .first()
        .map(|p| metadata::parse(&p.body))
        .transpose()?;
    let streams = offer
        .as_ref()
        .map(|o| RecordingSession::map_streams(o, metadata.as_ref()))
        .unwrap_or_default();
    Ok(RecordingSession {
        call_id,
        offer,
        metadata,
        streams,
    })
}

/// The `src` Contact parameter some SBCs write instead of `+sip.src`.
fn contact_has_src(msg: &SipMessage) -> bool {
    msg.raw(&ezk_sip_types::Name::CONTACT).any(|c| {
        c.split(';')
            .skip(1)
            .any(|p| p.trim().eq_ignore_ascii_case("src"))
    })
}
