//! Log follow-up's pure half: the rules (HSLF-FS 2016:40 4 kap. 9 §) evaluated in one pass
//! over audit events, and a run's report as JSON, CSV and a printable Swedish HTML page.
//! The vault runs them over its catalog and records runs and verdicts
//! (`callvault_vault::followup`).

mod report;
mod rules;

pub use report::{FindingView, FollowUpReport, RunView};
pub use rules::{Evaluator, FollowUpSettings, Lookup, MAX_SPOT_CHECKS, RawFinding, Rules, rule};
