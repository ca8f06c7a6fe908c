//! Domain types of callvault, validated once at the edge.
//!
//! Every identifier that arrives from outside (manifests, certificates, HTTP) is parsed into
//! one of these newtypes; code further in never re-validates and never handles raw strings.
//! Types that carry patient data ([`PatientId`], [`CallerNumber`]) redact themselves in
//! `Debug` and have no `Display`: the only way to see their value is the explicit
//! `expose_*` accessor, which is used where the value is encrypted or blind-indexed.

pub mod g711;
mod hsa;
mod patient;
mod phone;
mod recording;
pub mod redact;

pub use hsa::{CareProvider, CareUnit, HsaId, HsaIdError};
pub use patient::{PatientId, PatientIdError, PatientIdKind, check_digit};
pub use phone::{CallerNumber, CallerNumberError};
pub use recording::{CallId, CallIdError, RecordingId, RecordingIdError};
