//! The tamper-evident audit log's formats: events, the Merkle tree, signed checkpoints.
//!
//! * [`event`] — the audit event and its versioned canonical encoding (the Merkle leaf data).
//! * [`merkle`] — RFC 6962 Merkle tree hashing, inclusion and consistency proofs.
//! * [`note`] — C2SP `signed-note` and `tlog-checkpoint` with Ed25519.
//! * [`cosignature`] — C2SP `tlog-cosignature` v1 (Ed25519): witnesses' cosignatures.
//! * [`witness`] — the C2SP `tlog-witness` decision: what a witness cosigns and what it
//!   refuses, with the status codes the spec gives.
//!
//! Storage of events lives in the catalog; this crate is pure and knows no database, so
//! that an independent verifier can be built from it alone.

pub mod cosignature;
pub mod event;
pub mod merkle;
pub mod note;
pub mod witness;
