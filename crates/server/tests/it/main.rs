//! The access server over real TLS with real certificates (a development PKI made by
//! rcgen): handshake refusals, the policy through HTTP, audit events, Range.

mod abuse;
mod api;
mod followup;
mod governance;
mod incomplete;
mod limits;
mod link;
mod refusals;
mod syslog;
mod uploads;
mod web;
mod witness;
mod world;

pub(crate) use uploads::{
    assert_no_temporaries, multipart, stored, upload, upload_meta, upload_other_unit,
};
pub(crate) use world::*;
