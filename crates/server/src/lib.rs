//! The access server: HTTPS with mandatory SITHS client certificates, the access policy,
//! and the audited routes. The only place that knows HTTP and TLS.
//!
//! * [`tls`] — rustls server configuration with client-certificate verification and CRLs;
//!   the principal a verified certificate names.
//! * [`app`] — the axum router (`app(state)`), testable in-process.
//! * [`serve`] — the accept loop with handshake and header timeouts.

pub mod app;
pub mod config;
pub mod metrics;
pub mod problem;
pub mod review;
pub mod serve;
pub mod tls;
pub mod upload;

pub use app::{AppState, app};
pub use config::{ServerConfig, ServerConfigError};
pub use serve::{StartError, run, serve};
pub use tls::{Identities, TlsSettings, server_config};
