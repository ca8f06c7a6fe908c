//! Scrub: read every blob at every site at a bounded rate, authenticate it, record what is
//! missing or damaged, repair it from a healthy copy, and report loudly what no site holds.
//!
//! A pass walks the catalog in recording-id order, one page at a time (no long read
//! transaction). For each recording it reads every site's copy, checks size and ciphertext
//! hash, unwraps the data key and decrypts and authenticates every segment against the
//! catalog's plaintext hash (`verify --deep` for one recording). A bad copy is marked (its
//! placement `missing` or `damaged`, a repair task opened, a `repair.task` event); after the
//! pass, open repair tasks are worked off from copies that are good. A recording with no
//! good copy anywhere is *lost*: a `recording.lost` event and a line in the report.
//!
//! The I/O budget (`bytes_per_sec`) paces the pass: after each recording the scrub sleeps
//! until its average read rate is within the budget, so a scrub never starves playback.
//! Progress is kept in `scrub-state.json` in the data directory (written atomically), so
//! `status` shows it and an interrupted pass resumes where it stopped.

use std::time::{Duration, Instant};

use callvault_audit::event::{Action, Actor, AuditEvent, RecordingRef};
use callvault_catalog::{Change, PlacementState};
use callvault_types::RecordingId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::verify::Problem;
use crate::{Vault, VaultError};

/// The progress file in the data directory.
pub const SCRUB_STATE_FILE: &str = "scrub-state.json";

/// How to scrub.
#[derive(Clone, Copy, Debug)]
pub struct ScrubOptions {
    /// Read at most this many bytes per second on average (all sites together); `None`:
    /// as fast as the disks go.
    pub bytes_per_sec: Option<u64>,
    /// Work off repair tasks after the pass.
    pub repair: bool,
}

/// Progress and findings of the current or last pass.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScrubState {
    /// When the pass started (RFC 3339).
    pub started_at: String,
    /// When it finished; `None` while running or interrupted.
    pub finished_at: Option<String>,
    /// The last recording checked (resume point).
    pub position: Option<String>,
    /// Recordings checked.
    pub recordings: u64,
    /// Site copies checked.
    pub copies: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Copies found missing or damaged in this pass.
    pub bad_copies: u64,
    /// Copies repaired after the pass.
    pub repaired: u64,
    /// Repair tasks still open after the pass.
    pub open_repair_tasks: u64,
    /// Recordings with no good copy at any site.
    pub lost: Vec<String>,
    /// The I/O budget of the pass, bytes per second.
    pub bytes_per_sec: Option<u64>,
}

/// What a pass found.
#[derive(Clone, Debug, Default)]
pub struct ScrubReport {
    /// Final state.
    pub state: ScrubState,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

fn now_str() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// What [`Vault::recreate_site`] did.
#[derive(Clone, Debug)]
pub struct SiteRecreated {
    /// Copies found missing at the new site (and marked).
    pub marked_missing: u64,
    /// Copies written back from the other sites.
    pub repaired: u64,
    /// Repair tasks still open (no good copy elsewhere).
    pub open: u64,
}

impl Vault {
    /// Sets up a lost site again: the configured directory must be missing or empty (a
    /// directory with files but no site marker — say, an unmounted disk's mount point that
    /// was written to — is refused). Then opens the vault, records `site.recreate`, marks
    /// every copy of the site missing and copies it back from the other sites.
    pub fn recreate_site<'m>(
        data_dir: &std::path::Path,
        site: &str,
        by: impl Into<crate::Maintainer<'m>>,
    ) -> Result<(Vault, SiteRecreated), VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let config = crate::config::Config::load(data_dir)?;
        let s = config
            .sites
            .iter()
            .find(|s| s.name.as_str() == site)
            .ok_or_else(|| {
                VaultError::InvalidRequest(format!(
                    "no site {site:?} in the configuration (sites: {})",
                    config
                        .sites
                        .iter()
                        .map(|s| s.name.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        match crate::backends::probe_site(s)? {
            crate::backends::SiteProbe::Present => {
                return Err(VaultError::Refused(format!(
                    "site {site} at {} is present; nothing to recreate",
                    s.location()
                )));
            }
            crate::backends::SiteProbe::NotEmpty => {
                return Err(VaultError::Refused(format!(
                    "{} is not empty and has no site marker; refusing to turn it into site {site} (mount the site's disk, or empty the directory or bucket prefix)",
                    s.location()
                )));
            }
            crate::backends::SiteProbe::Absent => {}
        }
        crate::backends::create_site(s)?;
        let v = Vault::open(data_dir)?;
        let e = AuditEvent::new(actor.clone(), Action::SiteRecreate, "cli")
            .detail("site", site)
            .detail("path", s.location());
        v.catalog.commit(Change::new(e))?;
        let report = v.verify(false, |_| {})?;
        let marked_missing = report
            .problems
            .iter()
            .filter(|p| p.marked == Some(PlacementState::Missing))
            .count() as u64;
        let (repaired, open) = v.repair(by)?;
        Ok((
            v,
            SiteRecreated {
                marked_missing,
                repaired,
                open,
            },
        ))
    }

    /// The progress of the current or last scrub, if any ran.
    pub fn scrub_state(&self) -> Option<ScrubState> {
        let text = std::fs::read_to_string(self.config.data_dir.join(SCRUB_STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save_scrub_state(&self, s: &ScrubState) -> Result<(), VaultError> {
        let json = serde_json::to_vec_pretty(s).unwrap_or_default();
        crate::vault::write_durably(&self.config.data_dir.join(SCRUB_STATE_FILE), &json)
    }

    /// Runs one scrub pass (resuming an interrupted one). `progress` sees the state after
    /// every recording.
    pub fn scrub<'m>(
        &self,
        opts: ScrubOptions,
        by: impl Into<crate::Maintainer<'m>>,
        mut progress: impl FnMut(&ScrubState),
    ) -> Result<ScrubReport, VaultError> {
        let by: crate::Maintainer<'_> = by.into();
        let actor = &by.actor();
        let mut state = match self.scrub_state() {
            Some(s) if s.finished_at.is_none() => s,
            _ => ScrubState {
                started_at: now_str(),
                ..ScrubState::default()
            },
        };
        state.bytes_per_sec = opts.bytes_per_sec;
        let resumed = state.position.is_some();
        let e = AuditEvent::new(actor.clone(), Action::ScrubStart, "scrub")
            .detail("resumed", resumed)
            .detail(
                "bytes_per_sec",
                opts.bytes_per_sec
                    .map_or("unlimited".into(), |b| b.to_string()),
            );
        self.catalog.commit(Change::new(e))?;
        self.save_scrub_state(&state)?;
        let mut report = ScrubReport::default();
        let started = Instant::now();
        let mut read_this_run = 0u64;
        let mut after = state
            .position
            .as_deref()
            .and_then(|p| RecordingId::parse(p).ok());
        let mut last_save = Instant::now();
        loop {
            let page = self.catalog.recordings_page(after.as_ref(), 256)?;
            let Some(last) = page.last() else { break };
            after = Some(last.rec.id);
            for row in page {
                let mut copies = 0;
                let problems = self.check_recording(&row, true, &mut copies);
                // A recording destroyed by a deletion order while it was being read is
                // neither damaged nor lost.
                if !problems.is_empty() && self.catalog.recording(&row.rec.id)?.is_none() {
                    continue;
                }
                match self.mark_for_repair(&row, &problems) {
                    Err(callvault_catalog::CatalogError::UnknownRecording(_)) => continue,
                    other => other?,
                }
                let bad: Vec<&Problem> = problems.iter().filter(|p| p.marked.is_some()).collect();
                let bad_sites: std::collections::BTreeSet<&str> =
                    bad.iter().filter_map(|p| p.site.as_deref()).collect();
                // Copies read: the good ones in full (hash and decryption read each once
                // more; count the blob size once per good copy as the budget's measure).
                let good = copies.saturating_sub(bad_sites.len() as u64);
                let bytes = good * row.rec.ciphertext_size;
                state.recordings += 1;
                state.copies += copies;
                state.bytes_read += bytes;
                state.bad_copies += bad_sites.len() as u64;
                read_this_run += bytes;
                if bad_sites.len() == self.stores.len() {
                    let id = row.rec.id.to_string();
                    if !state.lost.contains(&id) {
                        let mut e = AuditEvent::new(Actor::Vault, Action::Lost, "scrub").detail(
                            "sites",
                            bad_sites.iter().copied().collect::<Vec<_>>().join(","),
                        );
                        e.recording = Some(RecordingRef {
                            id: row.rec.id,
                            plaintext_sha256: row.rec.plaintext_sha256,
                        });
                        e.care_provider = Some(row.rec.care_provider.clone());
                        e.outcome = callvault_audit::event::Outcome::Failed(
                            "no site holds a good copy".into(),
                        );
                        self.catalog.commit(Change::new(e))?;
                        state.lost.push(id);
                    }
                }
                report.problems.extend(problems);
                state.position = Some(row.rec.id.to_string());
                progress(&state);
                // Pace the pass to the I/O budget.
                if let Some(budget) = opts.bytes_per_sec.filter(|b| *b > 0) {
                    let due = Duration::from_secs_f64(read_this_run as f64 / budget as f64);
                    let spent = started.elapsed();
                    if due > spent {
                        std::thread::sleep(due - spent);
                    }
                }
                if last_save.elapsed() >= Duration::from_secs(1) {
                    self.save_scrub_state(&state)?;
                    last_save = Instant::now();
                }
            }
        }
        if opts.repair {
            let (repaired, _) = self.repair(by)?;
            state.repaired = repaired;
            // Blobs of destroyed recordings that reappeared (a site restored from a backup).
            self.delete_destroyed_blobs(by)?;
        }
        let open = self.catalog.open_repair_tasks()?;
        state.open_repair_tasks = open.len() as u64;
        // A lost recording whose copies were repaired after all is not lost.
        state.lost.retain(|id| {
            RecordingId::parse(id).is_ok_and(|rid| {
                self.catalog
                    .placements(&rid)
                    .map(|p| p.iter().all(|x| x.state != PlacementState::Ok))
                    .unwrap_or(true)
            })
        });
        state.finished_at = Some(now_str());
        self.save_scrub_state(&state)?;
        let e = AuditEvent::new(actor.clone(), Action::ScrubDone, "scrub")
            .detail("recordings", state.recordings)
            .detail("copies", state.copies)
            .detail("bytes_read", state.bytes_read)
            .detail("bad_copies", state.bad_copies)
            .detail("repaired", state.repaired)
            .detail("open_repair_tasks", state.open_repair_tasks)
            .detail("lost", state.lost.len());
        self.catalog.commit(Change::new(e))?;
        progress(&state);
        report.state = state;
        Ok(report)
    }
}
