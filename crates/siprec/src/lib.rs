//! SIPREC for the recording server: what a session border controller sends, read into one
//! normalised recording session.
//!
//! * [`sip`] — one SIP message off the wire (RFC 3261).
//! * [`multipart`] — the parts of a `multipart/mixed` body (RFC 2046 §5.1), tolerant of the
//!   missing closing delimiter some SBCs send.
//! * [`sdp`] — the media offer (RFC 4566, labels RFC 4574, SDES crypto RFC 4568) and the
//!   SRS's answer: one `recvonly` m-line per offered label (RFC 7866 §8.1.1).
//! * [`metadata`] — recording metadata (RFC 7865), in its three namespaces, prefixed or not,
//!   with `id=` or `*_id=` attributes; vendor extension data kept whole.
//! * [`session`] — an INVITE or UPDATE read into a [`session::RecordingSession`], or refused
//!   with the SIP status and reason to answer.
//!
//! Pure: no sockets, no files, no clock. Every parser refuses bad input with a message that
//! names what was wrong and never echoes a participant's address.

pub mod metadata;
pub mod multipart;
pub mod sdp;
pub mod session;
pub mod sip;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SiprecError {
    /// The SIP message itself is malformed.
    #[error("SIP message: {0}")]
    BadMessage(String),
    /// The body's parts cannot be told apart.
    #[error("multipart body: {0}")]
    BadMultipart(String),
    /// The SDP cannot be read or offers nothing to record.
    #[error("SDP: {0}")]
    BadSdp(String),
    /// The recording metadata cannot be read.
    #[error("recording metadata: {0}")]
    BadMetadata(String),
}
