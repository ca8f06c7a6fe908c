//! The access server: HTTPS with mandatory SITHS client certificates, the access policy,
//! and the audited routes. The only place that knows HTTP and TLS.
//!
//! * [`tls`] — rustls server configuration with client-certificate verification and CRLs;
//!   the principal a verified certificate names.
//! * [`app`] — the axum router (`app(state)`), testable in-process.
//! * [`audio`] — the audited, streamed audio route with HTTP Range.
//! * [`governance`] — users, assignment requests, four-eyes decisions, revocation, access
//!   review.
//! * [`client`] — a small mutual-TLS client of the API, for the command line.
//! * [`records`] — legal holds, retention report, deletion orders and certificates.
//! * [`witness`] — `callvault witness serve`: a C2SP tlog-witness (cosigns checkpoints,
//!   refuses forks), with durable per-log state.
//! * [`refusals`] — every refusal on a protected route is an audit event.
//! * [`serve`] — the accept loop: connection limit, handshake and header timeouts, graceful
//!   shutdown.

pub mod app;
pub mod audio;
pub mod client;
pub mod config;
pub mod followup;
pub mod governance;
pub mod link;
pub mod log_review;
pub mod metrics;
pub mod problem;
pub mod records_management;
pub mod refusals;
pub mod serve;
pub mod syslog;
pub mod tls;
pub mod upload;
pub mod web;
pub mod wire;
pub mod witness;
pub mod witnessing;

pub use app::{AppState, app};
pub use config::{Limits, ScrubSettings, ServerConfig, ServerConfigError};
pub use serve::{StartError, run, serve};
pub use tls::{Identities, TlsSettings, server_config};
