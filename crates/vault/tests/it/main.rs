//! Integration tests of the vault over real files, real SQLite and real fsync.

mod access;
mod breach;
mod common;
mod faults;
mod followup;
mod governance;
mod hsm;
mod import;
mod ingest;
mod keys;
mod link;
mod records;
mod registry;
mod scale_out;
mod scrub;
mod sites;
mod tamper;
