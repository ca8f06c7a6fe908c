//! What an audited access reads: the type of its receipt.
//!
//! Each target names the decisions it may be read under ([`Target::ACTIONS`]);
//! [`Vault::record_access`](crate::Vault::record_access) checks that once, before the access
//! event is written, and a decision for another action gets no event and no receipt. Each
//! data function takes the receipt of its own target only — `play` an `Audited<Audio>`,
//! `read_metadata` an `Audited<Metadata>` — so handing a search's or a metadata read's
//! receipt to `play` does not compile. The trait is sealed: the targets are these six.

use std::ops::Range;

use callvault_auth::Action;
use callvault_types::{CallId, CareUnit, PatientId, RecordingId};

use super::SearchFilter;

/// One recording's metadata (no audio).
#[derive(Clone, Debug)]
pub struct Metadata {
    /// The recording.
    pub id: RecordingId,
}

/// A byte range of one recording's audio, played or downloaded.
#[derive(Clone, Debug)]
pub struct Audio {
    /// The recording.
    pub id: RecordingId,
    /// The plaintext bytes that will be sent (half-open; may be empty).
    pub range: Range<u64>,
    /// What the request asked for, in HTTP notation (`bytes=0-65535`, `bytes=500-`,
    /// `bytes=-100`), rendered from the parsed request, never the client's text.
    pub asked: Option<String>,
}

/// A search for a patient's recordings.
#[derive(Clone, Debug)]
pub struct PatientSearch {
    /// The patient searched for (sealed before it is recorded).
    pub patient: PatientId,
    /// The other search parameters (recorded in the event too).
    pub filter: SearchFilter,
}

/// A search for one call by its care unit and telephony call id: how a recording not yet
/// linked to a patient is found (by the nurse who took it, to link it).
#[derive(Clone, Debug)]
pub struct CallSearch {
    /// The care unit that took the call.
    pub care_unit: CareUnit,
    /// The telephony call id.
    pub call_id: CallId,
}

/// The latest events of the audit log concerning a care provider (log review).
#[derive(Clone, Copy, Debug)]
pub struct AuditLog {
    /// How many events at most.
    pub limit: u64,
}

/// Every access to one patient's records at a care provider (log review).
#[derive(Clone, Debug)]
pub struct PatientAccessLog {
    /// The patient (sealed before it is recorded).
    pub patient: PatientId,
}

pub(crate) mod sealed {
    /// A target as the access event describes it. Public in a private module: nameable
    /// only inside the vault, so no other crate can add a target.
    #[derive(Debug)]
    pub enum View<'a> {
        Metadata(&'a super::Metadata),
        Audio(&'a super::Audio),
        PatientSearch(&'a super::PatientSearch),
        CallSearch(&'a super::CallSearch),
        AuditLog(&'a super::AuditLog),
        PatientAccessLog(&'a super::PatientAccessLog),
    }

    pub trait Sealed {
        fn view(&self) -> View<'_>;
    }
}

use sealed::View;

/// What an audited access reads (sealed: the six targets of this module).
pub trait Target: sealed::Sealed + std::fmt::Debug {
    /// The decisions' actions this target is read under.
    const ACTIONS: &'static [Action];
}

/// A target that is one recording.
pub trait OnRecording: Target {
    /// The recording.
    fn id(&self) -> &RecordingId;
}

macro_rules! targets {
    ($($t:ident => [$($a:ident),+];)*) => {$(
        impl sealed::Sealed for $t {
            fn view(&self) -> View<'_> {
                View::$t(self)
            }
        }
        impl Target for $t {
            const ACTIONS: &'static [Action] = &[$(Action::$a),+];
        }
    )*};
}

targets! {
    Metadata => [ViewMetadata];
    Audio => [Play, Download];
    PatientSearch => [Search];
    CallSearch => [Search];
    AuditLog => [ReadAudit];
    PatientAccessLog => [ReadAccessLog];
}

impl OnRecording for Metadata {
    fn id(&self) -> &RecordingId {
        &self.id
    }
}

impl OnRecording for Audio {
    fn id(&self) -> &RecordingId {
        &self.id
    }
}
