//! The vault: the operations of callvault over keys, sites, catalog and audit log.
//!
//! [`Vault`] ties the layers together. It is the only place where a data key meets a blob:
//! ingest encrypts while streaming to every site at once, and catalogs the recording in the
//! same transaction as its audit event; `verify` checks both sites, the catalog and the
//! audit tree; key rotation re-wraps data keys without touching audio.

pub mod access;
pub mod audit_retention;
mod backends;
pub mod config;
pub mod demo;
mod error;
pub mod export;
pub mod extract;
pub mod followup;
pub mod governance;
pub mod import;
pub mod ingest;
pub mod link;
mod maintenance;
pub mod manifest;
pub mod operations;
pub mod records_management;
pub mod scrub;
mod steps;
mod vault;
pub mod verify;
pub mod wav;
pub mod witnessing;

pub use error::VaultError;
pub use ingest::{IngestEnd, IngestGrant, IngestOutcome, IngestSession, IngestStart};
pub use maintenance::{
    MAX_UNACKNOWLEDGED_PER_SITE, Recovery, RotationOutcome, RotationRecovery, Rotations,
    SiteObjects,
};
pub use vault::{
    AuditReader, Maintainer, Operator, StatusReport, Vault, blob_key, operator as vault_operator,
    write_durably,
};
