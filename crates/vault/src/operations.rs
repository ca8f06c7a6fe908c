//! The operator's overview: the vault's status (sites, repair and scrub progress, key
//! versions, the latest checkpoint and its cosignatures) and the volume of ingest and of
//! accesses per day, from the audit log. Counts only, never patient data; reading it is a
//! decision for the right `operate` and is audited (`status.read`).

use std::collections::BTreeMap;

use callvault_audit::event::{Action as EventAction, AuditEvent};
use callvault_auth::{Action, Authorized};
use callvault_catalog::Change;
use time::{Duration, OffsetDateTime};

use crate::{StatusReport, Vault, VaultError};

/// One day's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayVolume {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Recordings ingested or imported.
    pub ingested: u64,
    /// Accesses to recordings (searches, metadata, plays, downloads).
    pub accessed: u64,
    /// Refused attempts.
    pub denied: u64,
}

/// What the operator sees.
#[derive(Debug)]
pub struct Operations {
    /// Sites, repair tasks, key versions, checkpoint, scrub.
    pub status: StatusReport,
    /// Cosignatures of the latest checkpoint, by witness.
    pub cosignatures: Vec<String>,
    /// Volumes per day, oldest first (every day of the period, zero included).
    pub volumes: Vec<DayVolume>,
}

fn day(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

impl Vault {
    /// The overview for the last `days` days (1 to 366).
    pub fn operations(&self, authz: &Authorized, days: u32) -> Result<Operations, VaultError> {
        Self::check_decision(authz, Action::Operate, &authz.resource().care_provider)?;
        let days = days.clamp(1, 366);
        let e = Self::decided_event(authz, EventAction::StatusRead).detail("days", days);
        self.commit_step(Change::new(e))?;
        let status = self.status()?;
        let cosignatures = match &status.latest_checkpoint {
            Some(c) => self
                .catalog
                .cosignatures(c.size)?
                .into_iter()
                .map(|(w, _)| w)
                .collect(),
            None => Vec::new(),
        };
        let now = OffsetDateTime::now_utc();
        let start = (now - Duration::days(i64::from(days) - 1))
            .date()
            .midnight()
            .assume_utc();
        let mut volumes: BTreeMap<String, DayVolume> = BTreeMap::new();
        let mut d = start;
        while d <= now {
            volumes.insert(
                day(d),
                DayVolume {
                    day: day(d),
                    ingested: 0,
                    accessed: 0,
                    denied: 0,
                },
            );
            d += Duration::days(1);
        }
        self.catalog.for_each_audit_leaf_in_time(
            start,
            now + Duration::seconds(1),
            &mut |_, data, _| {
                let Ok(e) = AuditEvent::decode(data) else {
                    return Ok(()); // pruned or reported by verify
                };
                let Some(v) = volumes.get_mut(&day(e.time)) else {
                    return Ok(());
                };
                let denied = matches!(e.outcome, callvault_audit::event::Outcome::Denied(_));
                match e.action {
                    _ if denied => v.denied += 1,
                    EventAction::Ingest | EventAction::Import => v.ingested += 1,
                    EventAction::Search
                    | EventAction::View
                    | EventAction::Play
                    | EventAction::Download => v.accessed += 1,
                    _ => {}
                }
                Ok(())
            },
        )?;
        Ok(Operations {
            status,
            cosignatures,
            volumes: volumes.into_values().collect(),
        })
    }
}
