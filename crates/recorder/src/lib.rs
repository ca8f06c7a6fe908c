//! The recording server: what an SBC forks to it (RFC 7866) becomes one two-channel
//! recording per call.
//!
//! * [`media`] — RTP in (RFC 3550), G.711 µ-law and A-law, telephone-events (RFC 4733) and
//!   comfort noise (RFC 3389); a jitter buffer that reorders, drops duplicates and late
//!   packets, survives sequence and timestamp wrap-around and SSRC changes, and turns loss
//!   into silence of the right length with the gap recorded; two tracks aligned on RTP time
//!   into one stereo stream (caller left, nurse right).
//!
//! The layer is pure: the caller passes packets and the monotonic time they arrived, and
//! asks for the audio that is due. Sockets, SIP dialogs, the spool and delivery sit above
//! it.

pub mod media;
pub mod sealed_call;
pub mod srs;
