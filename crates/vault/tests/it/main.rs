//! Integration tests of the vault over real files, real SQLite and real fsync.

mod breach;
mod common;
mod import;
mod keys;
mod sites;
mod tamper;
