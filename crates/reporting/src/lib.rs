//! What people and other systems read of the audit log, and nothing else: the follow-up
//! rules and their report, the patient's log extract, and the FHIR and ATNA forms of an
//! audit event.
//!
//! Pure functions over decoded audit events and catalog rows: this crate holds no key,
//! opens no sealed value and reads no catalog. The vault gathers what it renders, under an
//! audited decision (`callvault_vault::{followup, extract, export}`), and passes in the
//! patient identifiers it was allowed to open.

pub mod access_review;
pub mod atna;
pub mod clock;
pub mod extract;
pub mod fhir;
pub mod followup;
mod tables;

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The CSV writer failed.
    #[error("writing CSV: {0}")]
    Csv(String),
}
