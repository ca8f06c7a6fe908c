//! RTP media into recordings: [`rtp`] tells datagrams apart, [`srtp`] decrypts SRTP keyed
//! by SDES, [`g711`] converts between the laws, [`track`] places one stream on the call's timeline, [`stereo`] writes caller and
//! nurse side by side.

/// G.711, shared with the vault's demo archive (`callvault_types::g711`).
pub use callvault_types::g711;
pub mod rtp;
pub mod srtp;
pub mod stereo;
pub mod track;

#[cfg(test)]
mod tests;
