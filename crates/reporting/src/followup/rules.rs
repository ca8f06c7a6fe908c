//! The follow-up rules (HSLF-FS 2016:40 4 kap. 9 §: systematic and recurring checks of the
//! access logs), evaluated in one streaming pass over a care provider's audit events in a
//! period. Pure: what the rules need from the catalog comes through [`Lookup`].

use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};

use callvault_audit::event::{Action, AuditEvent, Outcome};
use callvault_types::{CareUnit, HsaId, RecordingId};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

use crate::clock::swedish_local;

/// Rule codes. Stable: stored with findings and shown in reports.
pub mod rule {
    /// Emergency access (nödåtkomst / spärrbrytning): always listed.
    pub const EMERGENCY: &str = "emergency-access";
    /// A recording of a care unit outside the assignment's units.
    pub const OUTSIDE_UNITS: &str = "outside-own-units";
    /// A patient marked as having protected identity.
    pub const PROTECTED: &str = "protected-identity";
    /// The user's own records.
    pub const OWN_RECORDS: &str = "own-records";
    /// More distinct patients within an hour than the threshold.
    pub const MANY_PATIENTS: &str = "many-patients";
    /// Outside the configured working hours.
    pub const OFF_HOURS: &str = "outside-working-hours";
    /// A burst of denied attempts.
    pub const DENIED_BURST: &str = "denied-burst";
    /// Random spot check.
    pub const SPOT_CHECK: &str = "spot-check";

    /// Every code, in report order.
    pub const ALL: [&str; 8] = [
        EMERGENCY,
        OUTSIDE_UNITS,
        PROTECTED,
        OWN_RECORDS,
        MANY_PATIENTS,
        OFF_HOURS,
        DENIED_BURST,
        SPOT_CHECK,
    ];

    /// Swedish name, for reports.
    pub fn swedish(code: &str) -> &'static str {
        match code {
            EMERGENCY => "Nödåtkomst",
            OUTSIDE_UNITS => "Åtkomst utanför egna vårdenheter",
            PROTECTED => "Patient med skyddad identitet",
            OWN_RECORDS => "Egen journal",
            MANY_PATIENTS => "Många patienter inom en timme",
            OFF_HOURS => "Åtkomst utanför arbetstid",
            DENIED_BURST => "Upprepade nekade försök",
            SPOT_CHECK => "Stickprov",
            _ => "Okänd regel",
        }
    }
}

/// Settings of the rules (`[follow_up]` in `callvault.toml`, or given with a run). The
/// emergency-access rule cannot be switched off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowUpSettings {
    /// List accesses to recordings of care units outside the assignment's units.
    pub outside_own_units: bool,
    /// List accesses to patients marked as having protected identity.
    pub protected_identity: bool,
    /// List accesses to the user's own records (needs the user's personal identity number
    /// in the user register).
    pub own_records: bool,
    /// List a user touching more than this many distinct patients within 60 minutes
    /// (0: off).
    pub max_patients_per_hour: u32,
    /// Working hours in Swedish local time, `HH:MM-HH:MM` (empty: rule off).
    pub working_hours: String,
    /// Working days (`mon`..`sun`).
    pub working_days: Vec<String>,
    /// Further days off (`YYYY-MM-DD`, e.g. public holidays).
    pub days_off: Vec<String>,
    /// List a user with at least this many denied attempts within `denied_window_minutes`
    /// (0: off).
    pub denied_burst: u32,
    /// The window of the denied-burst rule, in minutes.
    pub denied_window_minutes: u32,
    /// Size of the random spot check of granted accesses (0: none).
    pub spot_checks: u32,
}

impl Default for FollowUpSettings {
    fn default() -> Self {
        Self {
            outside_own_units: true,
            protected_identity: true,
            own_records: true,
            max_patients_per_hour: 20,
            working_hours: "07:00-18:00".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(str::to_owned)
                .to_vec(),
            days_off: Vec::new(),
            denied_burst: 5,
            denied_window_minutes: 10,
            spot_checks: 10,
        }
    }
}

/// Largest spot check.
pub const MAX_SPOT_CHECKS: u32 = 1000;

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn clock(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u8 = h.parse().ok()?;
    let m: u8 = m.parse().ok()?;
    if h == 24 && m == 0 {
        return Time::from_hms(23, 59, 59).ok();
    }
    Time::from_hms(h, m, 0).ok()
}

/// Working hours, checked.
#[derive(Clone, Debug)]
struct WorkingHours {
    start: Time,
    end: Time,
    days: BTreeSet<u8>,
    days_off: BTreeSet<Date>,
}

impl WorkingHours {
    fn contains(&self, local: PrimitiveDateTime) -> bool {
        self.days.contains(&local.weekday().number_from_monday())
            && !self.days_off.contains(&local.date())
            && local.time() >= self.start
            && local.time() < self.end
    }
}

/// Rule settings after validation.
#[derive(Clone, Debug)]
pub struct Rules {
    settings: FollowUpSettings,
    hours: Option<WorkingHours>,
}

impl FollowUpSettings {
    /// Validates the settings; the error says which one is wrong.
    pub fn check(self) -> Result<Rules, String> {
        let hours = if self.working_hours.trim().is_empty() {
            None
        } else {
            let (a, b) = self
                .working_hours
                .split_once('-')
                .ok_or("working_hours must be HH:MM-HH:MM, e.g. 07:00-18:00")?;
            let (start, end) = match (clock(a), clock(b)) {
                (Some(s), Some(e)) if s < e => (s, e),
                _ => {
                    return Err(format!(
                        "working_hours {:?} must be HH:MM-HH:MM with the start before the end",
                        self.working_hours
                    ));
                }
            };
            let mut days = BTreeSet::new();
            for d in &self.working_days {
                let w = weekday(d).ok_or_else(|| {
                    format!("working_days: {d:?} is not one of mon, tue, wed, thu, fri, sat, sun")
                })?;
                days.insert(w.number_from_monday());
            }
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            let mut days_off = BTreeSet::new();
            for d in &self.days_off {
                days_off.insert(
                    Date::parse(d.trim(), fmt)
                        .map_err(|_| format!("days_off: {d:?} is not a date YYYY-MM-DD"))?,
                );
            }
            Some(WorkingHours {
                start,
                end,
                days,
                days_off,
            })
        };
        if self.denied_burst > 0 && !(1..=1440).contains(&self.denied_window_minutes) {
            return Err(format!(
                "denied_window_minutes is {}; it must be between 1 and 1440",
                self.denied_window_minutes
            ));
        }
        if self.spot_checks > MAX_SPOT_CHECKS {
            return Err(format!(
                "spot_checks is {}; at most {MAX_SPOT_CHECKS}",
                self.spot_checks
            ));
        }
        Ok(Rules {
            settings: self,
            hours,
        })
    }
}

impl Rules {
    /// The settings these rules were made from.
    pub fn settings(&self) -> &FollowUpSettings {
        &self.settings
    }
}

/// What the rules need from the catalog.
pub trait Lookup {
    /// The care units of an assignment (`None` if unknown).
    fn assignment_units(&mut self, id: &str) -> Option<Vec<CareUnit>>;
    /// The care unit of a recording (`None` once destroyed).
    fn recording_unit(&mut self, id: &RecordingId) -> Option<CareUnit>;
    /// The blind index of the patient a recording is linked to now (`None` while it is
    /// unlinked, or once destroyed).
    fn recording_patient(&mut self, id: &RecordingId) -> Option<[u8; 32]>;
}

/// A finding before it is numbered and stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFinding {
    /// Rule code.
    pub rule: &'static str,
    /// Leaf index of the event.
    pub leaf_index: u64,
    /// Its time.
    pub time: OffsetDateTime,
    /// Its actor.
    pub actor: String,
    /// What the rule saw (no patient data).
    pub summary: String,
}

/// Actions that reveal patient data (searches, metadata, audio, a link to a patient).
fn is_patient_access(a: Action) -> bool {
    matches!(
        a,
        Action::Search
            | Action::View
            | Action::Play
            | Action::Download
            | Action::Export
            | Action::PatientLink
    )
}

fn is_emergency(e: &AuditEvent) -> bool {
    e.details
        .iter()
        .any(|(k, v)| k == "emergency_access" && v == "true")
}

/// A weekday in Swedish.
fn weekday_sv(d: time::Weekday) -> &'static str {
    use time::Weekday::*;
    match d {
        Monday => "måndag",
        Tuesday => "tisdag",
        Wednesday => "onsdag",
        Thursday => "torsdag",
        Friday => "fredag",
        Saturday => "lördag",
        Sunday => "söndag",
    }
}

/// What an event did, in the Swedish of the report (the stable code beside it).
fn what(e: &AuditEvent) -> String {
    match &e.recording {
        Some(r) => format!(
            "{} ({}), inspelning {}",
            e.action.label_sv(),
            e.action.code(),
            r.id
        ),
        None => format!("{} ({})", e.action.label_sv(), e.action.code()),
    }
}

/// Per-actor state of a sliding-window rule.
#[derive(Default)]
struct Window {
    items: VecDeque<(OffsetDateTime, [u8; 32])>,
    /// No new finding for this actor before this time (one finding per episode).
    quiet_until: Option<OffsetDateTime>,
}

/// The streaming evaluator: feed every event of the care provider in the period, in log
/// order, then [`Evaluator::finish`].
pub struct Evaluator<'a> {
    rules: &'a Rules,
    protected: HashSet<[u8; 32]>,
    personal: HashMap<HsaId, [u8; 32]>,
    seed: [u8; 32],
    findings: Vec<RawFinding>,
    patients: HashMap<String, Window>,
    denied: HashMap<String, Window>,
    sample: BinaryHeap<([u8; 32], u64, i128, String, String)>,
    checked: u64,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("checked", &self.checked)
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator with the care provider's protected patients, its employees' personal
    /// identity blind indexes, and the spot check's seed.
    pub fn new(
        rules: &'a Rules,
        protected: HashSet<[u8; 32]>,
        personal: HashMap<HsaId, [u8; 32]>,
        seed: [u8; 32],
    ) -> Self {
        Self {
            rules,
            protected,
            personal,
            seed,
            findings: Vec::new(),
            patients: HashMap::new(),
            denied: HashMap::new(),
            sample: BinaryHeap::new(),
            checked: 0,
        }
    }

    /// Events fed so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    fn find(&mut self, rule: &'static str, idx: u64, e: &AuditEvent, summary: String) {
        self.findings.push(RawFinding {
            rule,
            leaf_index: idx,
            time: e.time,
            actor: e.actor.to_string(),
            summary,
        });
    }

    /// Looks at one event.
    pub fn feed(&mut self, idx: u64, e: &AuditEvent, lookup: &mut dyn Lookup) {
        self.checked += 1;
        let s = &self.rules.settings;
        let actor = e.actor.to_string();
        if let Outcome::Denied(reason) = &e.outcome {
            if s.denied_burst > 0 {
                let window = Duration::minutes(i64::from(s.denied_window_minutes));
                let w = self.denied.entry(actor.clone()).or_default();
                w.items.push_back((e.time, [0; 32]));
                while w.items.front().is_some_and(|(t, _)| *t <= e.time - window) {
                    w.items.pop_front();
                }
                let n = w.items.len() as u32;
                if n >= s.denied_burst && w.quiet_until.is_none_or(|q| e.time >= q) {
                    w.quiet_until = Some(e.time + window);
                    let summary = format!(
                        "{n} nekade försök inom {} minuter (gräns {}); senast: {} ({reason})",
                        s.denied_window_minutes,
                        s.denied_burst,
                        e.action.label_sv()
                    );
                    self.find(rule::DENIED_BURST, idx, e, summary);
                }
            }
            return;
        }
        if e.outcome != Outcome::Granted || !is_patient_access(e.action) {
            return;
        }
        let emergency = is_emergency(e);
        if emergency {
            let summary = format!("nödåtkomst: {}", what(e));
            self.find(rule::EMERGENCY, idx, e, summary);
        }
        // An assignment without units covers the whole care provider. One the register
        // does not know is compared with the care unit recorded in the event.
        if s.outside_own_units
            && !emergency
            && let Some(r) = &e.recording
            && let Some(unit) = lookup.recording_unit(&r.id)
            && let Some(units) = e
                .assignment
                .as_deref()
                .and_then(|a| lookup.assignment_units(a))
                .or_else(|| e.actor_care_unit.clone().map(|u| vec![u]))
            && !units.is_empty()
            && !units.contains(&unit)
        {
            let asg = e.assignment.as_deref().unwrap_or("(inget)");
            let own: Vec<String> = units.iter().map(ToString::to_string).collect();
            let summary = format!(
                "{} vid vårdenhet {unit}; uppdraget {asg} omfattar {}",
                what(e),
                own.join(", ")
            );
            self.find(rule::OUTSIDE_UNITS, idx, e, summary);
        }
        // An access made while the recording had no patient yet is an access to the patient
        // it is linked to now.
        let patient = e.patient.as_ref().map(|p| p.blind_index).or_else(|| {
            e.recording
                .as_ref()
                .and_then(|r| lookup.recording_patient(&r.id))
        });
        if s.protected_identity
            && let Some(p) = patient
            && self.protected.contains(&p)
        {
            let summary = format!("{} – patient med skyddad identitet", what(e));
            self.find(rule::PROTECTED, idx, e, summary);
        }
        if s.own_records
            && let (Some(p), callvault_audit::event::Actor::Person(h)) = (patient, &e.actor)
            && self.personal.get(h) == Some(&p)
        {
            let summary = format!("{} – användarens egna uppgifter", what(e));
            self.find(rule::OWN_RECORDS, idx, e, summary);
        }
        if s.max_patients_per_hour > 0
            && let Some(p) = patient
        {
            let hour = Duration::hours(1);
            let w = self.patients.entry(actor.clone()).or_default();
            w.items.push_back((e.time, p));
            while w.items.front().is_some_and(|(t, _)| *t <= e.time - hour) {
                w.items.pop_front();
            }
            let distinct = w.items.iter().map(|(_, p)| p).collect::<HashSet<_>>().len() as u32;
            if distinct > s.max_patients_per_hour && w.quiet_until.is_none_or(|q| e.time >= q) {
                w.quiet_until = Some(e.time + hour);
                let summary = format!(
                    "{distinct} olika patienter inom 60 minuter (gräns {})",
                    s.max_patients_per_hour
                );
                self.find(rule::MANY_PATIENTS, idx, e, summary);
            }
        }
        if let Some(h) = &self.rules.hours {
            let local = swedish_local(e.time);
            if !h.contains(local) {
                let summary = format!(
                    "{} {} svensk tid ({})",
                    what(e),
                    local
                        .format(time::macros::format_description!(
                            "[year]-[month]-[day] [hour]:[minute]"
                        ))
                        .unwrap_or_default(),
                    weekday_sv(local.weekday())
                );
                self.find(rule::OFF_HOURS, idx, e, summary);
            }
        }
        if s.spot_checks > 0 {
            // Rank = SHA-256(seed ‖ leaf index): anyone with the seed and the log can redo
            // the draw; keep the smallest ranks.
            let mut input = Vec::with_capacity(40);
            input.extend_from_slice(&self.seed);
            input.extend_from_slice(&idx.to_be_bytes());
            let rank = callvault_crypto::sha256(&input);
            self.sample.push((
                rank,
                idx,
                e.time.unix_timestamp_nanos(),
                actor,
                format!("stickprov: {}", what(e)),
            ));
            if self.sample.len() > s.spot_checks as usize {
                self.sample.pop();
            }
        }
    }

    /// The findings, ordered by time, then rule, then leaf index.
    pub fn finish(mut self) -> Vec<RawFinding> {
        for (_, idx, nanos, actor, summary) in std::mem::take(&mut self.sample) {
            self.findings.push(RawFinding {
                rule: rule::SPOT_CHECK,
                leaf_index: idx,
                time: OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                actor,
                summary,
            });
        }
        let order = |r: &str| rule::ALL.iter().position(|x| *x == r).unwrap_or(usize::MAX);
        self.findings.sort_by(|a, b| {
            (a.time, order(a.rule), a.leaf_index).cmp(&(b.time, order(b.rule), b.leaf_index))
        });
        self.findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callvault_audit::event::{Actor, RecordingRef, SealedPatient};
    use time::macros::datetime;

    const NURSE: &str = "SE2321000016-1003";
    const UNIT_A: &str = "SE2321000016-E001";
    const UNIT_B: &str = "SE2321000016-E002";

    struct Fixed {
        units: HashMap<RecordingId, CareUnit>,
    }
    impl Lookup for Fixed {
        fn assignment_units(&mut self, id: &str) -> Option<Vec<CareUnit>> {
            (id == "asg-1").then(|| vec![CareUnit::parse(UNIT_A).expect("unit")])
        }
        fn recording_unit(&mut self, id: &RecordingId) -> Option<CareUnit> {
            self.units.get(id).cloned()
        }
        // Recording 3 was ingested without a patient and is linked to patient 9 now.
        fn recording_patient(&mut self, id: &RecordingId) -> Option<[u8; 32]> {
            (*id == rec(3)).then_some([9; 32])
        }
    }

    fn rec(n: u8) -> RecordingId {
        RecordingId::from_bytes([n; 16])
    }

    fn lookup() -> Fixed {
        let mut units = HashMap::new();
        units.insert(rec(1), CareUnit::parse(UNIT_A).expect("unit"));
        units.insert(rec(2), CareUnit::parse(UNIT_B).expect("unit"));
        units.insert(rec(3), CareUnit::parse(UNIT_A).expect("unit"));
        Fixed { units }
    }

    fn access(at: OffsetDateTime, action: Action, recording: u8, patient: u8) -> AuditEvent {
        let mut e = AuditEvent::new(
            Actor::Person(HsaId::parse(NURSE).expect("hsa")),
            action,
            "test",
        );
        e.time = at;
        e.assignment = Some("asg-1".into());
        e.recording = Some(RecordingRef {
            id: rec(recording),
            plaintext_sha256: [0; 32],
        });
        e.patient = Some(SealedPatient {
            sealed: vec![],
            blind_index: [patient; 32],
        });
        e
    }

    fn quiet() -> FollowUpSettings {
        FollowUpSettings {
            outside_own_units: false,
            protected_identity: false,
            own_records: false,
            max_patients_per_hour: 0,
            working_hours: String::new(),
            working_days: vec![],
            days_off: vec![],
            denied_burst: 0,
            denied_window_minutes: 10,
            spot_checks: 0,
        }
    }

    fn run(settings: FollowUpSettings, events: &[AuditEvent]) -> Vec<RawFinding> {
        run_with(settings, events, HashSet::new(), HashMap::new(), [7; 32])
    }

    fn run_with(
        settings: FollowUpSettings,
        events: &[AuditEvent],
        protected: HashSet<[u8; 32]>,
        personal: HashMap<HsaId, [u8; 32]>,
        seed: [u8; 32],
    ) -> Vec<RawFinding> {
        let rules = settings.check().expect("settings");
        let mut ev = Evaluator::new(&rules, protected, personal, seed);
        let mut l = lookup();
        for (i, e) in events.iter().enumerate() {
            ev.feed(i as u64, e, &mut l);
        }
        ev.finish()
    }

    fn rules_of(f: &[RawFinding]) -> Vec<&'static str> {
        f.iter().map(|f| f.rule).collect()
    }

    const NOON: OffsetDateTime = datetime!(2026-11-04 11:00 UTC); // a Wednesday, 12:00 CET

    #[test]
    fn swedish_time_follows_the_eu_summer_time_rule() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let l = |t| swedish_local(t).to_string();
        assert_eq!(
            l(datetime!(2026-03-29 00:59:59 UTC)),
            "2026-03-29 1:59:59.0"
        );
        assert_eq!(l(datetime!(2026-03-29 01:00 UTC)), "2026-03-29 3:00:00.0");
        assert_eq!(
            l(datetime!(2026-10-25 00:59:59 UTC)),
            "2026-10-25 2:59:59.0"
        );
        assert_eq!(l(datetime!(2026-10-25 01:00 UTC)), "2026-10-25 2:00:00.0");
        assert_eq!(l(datetime!(2026-07-01 22:30 UTC)), "2026-07-02 0:30:00.0");
        assert_eq!(l(datetime!(2027-03-28 01:00 UTC)), "2027-03-28 3:00:00.0");
    }

    #[test]
    fn emergency_access_is_always_listed() {
        let e = access(NOON, Action::Play, 2, 1).detail("emergency_access", true);
        let plain = access(NOON, Action::Play, 1, 1);
        let f = run(quiet(), &[e, plain]);
        assert_eq!(rules_of(&f), [rule::EMERGENCY]);
        assert_eq!(f[0].leaf_index, 0);
        // The summary is in the report's Swedish, with the stable code beside the words.
        assert!(
            f[0].summary
                .starts_with("nödåtkomst: Inspelning uppspelad (recording.play), inspelning "),
            "{}",
            f[0].summary
        );
        assert_eq!(f[0].actor, format!("person:{NURSE}"));
    }

    #[test]
    fn access_outside_the_assignments_units_is_listed() {
        let s = FollowUpSettings {
            outside_own_units: true,
            ..quiet()
        };
        let inside = access(NOON, Action::View, 1, 1);
        let outside = access(NOON, Action::View, 2, 1);
        let f = run(s.clone(), &[inside, outside.clone()]);
        assert_eq!(rules_of(&f), [rule::OUTSIDE_UNITS]);
        assert_eq!(f[0].leaf_index, 1);
        assert!(f[0].summary.contains(UNIT_B), "{}", f[0].summary);
        // An emergency access is listed by its own rule, not twice.
        let f = run(s, &[outside.detail("emergency_access", true)]);
        assert_eq!(rules_of(&f), [rule::EMERGENCY]);
    }

    #[test]
    fn protected_identity_and_own_records_are_listed() {
        let s = FollowUpSettings {
            protected_identity: true,
            own_records: true,
            ..quiet()
        };
        let events = [
            access(NOON, Action::View, 1, 1),
            access(NOON, Action::Search, 1, 9),
            access(NOON, Action::Play, 1, 5),
        ];
        let protected = HashSet::from([[9u8; 32]]);
        let personal = HashMap::from([(HsaId::parse(NURSE).expect("hsa"), [5u8; 32])]);
        let f = run_with(s, &events, protected, personal, [0; 32]);
        assert_eq!(rules_of(&f), [rule::PROTECTED, rule::OWN_RECORDS]);
        assert_eq!((f[0].leaf_index, f[1].leaf_index), (1, 2));
    }

    /// An access made before the recording was linked carries no patient; it is an access
    /// to the patient the recording is linked to now. An unlinked recording's accesses
    /// count for no patient.
    #[test]
    fn accesses_before_a_link_count_for_the_linked_patient() {
        let s = FollowUpSettings {
            protected_identity: true,
            own_records: true,
            ..quiet()
        };
        let mut before_link = access(NOON, Action::Play, 3, 0);
        before_link.patient = None;
        let mut unlinked = access(NOON, Action::Play, 1, 0);
        unlinked.patient = None;
        let protected = HashSet::from([[9u8; 32]]);
        let f = run_with(
            s,
            &[unlinked, before_link],
            protected,
            HashMap::new(),
            [0; 32],
        );
        assert_eq!(rules_of(&f), [rule::PROTECTED]);
        assert_eq!(f[0].leaf_index, 1);
    }

    #[test]
    fn many_distinct_patients_within_an_hour_is_one_finding_per_episode() {
        let s = FollowUpSettings {
            max_patients_per_hour: 3,
            ..quiet()
        };
        let mut events = Vec::new();
        // Four distinct patients in 40 minutes (the same patient twice does not count twice),
        // then more within the hour: one finding; two hours later again: a second one.
        for (i, p) in [1u8, 1, 2, 3, 4, 5, 6].into_iter().enumerate() {
            events.push(access(
                NOON + Duration::minutes(8 * i as i64),
                Action::View,
                1,
                p,
            ));
        }
        for (i, p) in [11u8, 12, 13, 14].into_iter().enumerate() {
            events.push(access(
                NOON + Duration::hours(3) + Duration::minutes(i as i64),
                Action::View,
                1,
                p,
            ));
        }
        let f = run(s.clone(), &events);
        assert_eq!(rules_of(&f), [rule::MANY_PATIENTS, rule::MANY_PATIENTS]);
        assert_eq!((f[0].leaf_index, f[1].leaf_index), (4, 10));
        // Spread over more than an hour: nothing.
        let slow: Vec<_> = (0..6)
            .map(|i| access(NOON + Duration::minutes(25 * i), Action::View, 1, i as u8))
            .collect();
        assert!(run(s, &slow).is_empty());
    }

    #[test]
    fn access_outside_working_hours_is_listed() {
        let s = FollowUpSettings {
            working_hours: "07:00-18:00".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(str::to_owned)
                .to_vec(),
            days_off: vec!["2026-12-24".into()],
            ..quiet()
        };
        let events = [
            access(NOON, Action::View, 1, 1), // Wed 12:00
            access(datetime!(2026-11-04 05:59 UTC), Action::View, 1, 1), // Wed 06:59 CET
            access(datetime!(2026-11-04 06:00 UTC), Action::View, 1, 1), // Wed 07:00
            access(datetime!(2026-11-04 17:00 UTC), Action::View, 1, 1), // Wed 18:00
            access(datetime!(2026-11-07 11:00 UTC), Action::View, 1, 1), // Saturday
            access(datetime!(2026-12-24 11:00 UTC), Action::View, 1, 1), // day off
            access(datetime!(2026-07-01 04:30 UTC), Action::View, 1, 1), // Wed 06:30 CEST
        ];
        let f = run(s, &events);
        let mut idx: Vec<u64> = f.iter().map(|f| f.leaf_index).collect();
        idx.sort();
        assert_eq!(idx, [1, 3, 4, 5, 6]);
        assert!(f.iter().all(|f| f.rule == rule::OFF_HOURS));
    }

    #[test]
    fn a_burst_of_denied_attempts_is_listed_once() {
        let s = FollowUpSettings {
            denied_burst: 3,
            denied_window_minutes: 10,
            ..quiet()
        };
        let denied = |m: i64| {
            let mut e = access(NOON + Duration::minutes(m), Action::Play, 2, 1);
            e.outcome = Outcome::Denied("outside the assignment".into());
            e
        };
        let f = run(
            s.clone(),
            &[denied(0), denied(1), denied(2), denied(3), denied(4)],
        );
        assert_eq!(rules_of(&f), [rule::DENIED_BURST]);
        assert_eq!(f[0].leaf_index, 2);
        // Three attempts spread over more than the window: nothing.
        assert!(run(s, &[denied(0), denied(6), denied(12)]).is_empty());
    }

    #[test]
    fn the_spot_check_is_reproducible_from_its_seed() {
        let s = FollowUpSettings {
            spot_checks: 5,
            ..quiet()
        };
        let events: Vec<_> = (0..200)
            .map(|i| access(NOON + Duration::seconds(i), Action::View, 1, 1))
            .collect();
        let a = run_with(s.clone(), &events, HashSet::new(), HashMap::new(), [1; 32]);
        let b = run_with(s.clone(), &events, HashSet::new(), HashMap::new(), [1; 32]);
        let c = run_with(s, &events, HashSet::new(), HashMap::new(), [2; 32]);
        assert_eq!(a.len(), 5);
        assert!(a.iter().all(|f| f.rule == rule::SPOT_CHECK));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // The draw is the five smallest SHA-256(seed ‖ index).
        let mut ranks: Vec<([u8; 32], u64)> = (0..200u64)
            .map(|i| {
                let mut input = vec![1u8; 32];
                input.extend_from_slice(&i.to_be_bytes());
                (callvault_crypto::sha256(&input), i)
            })
            .collect();
        ranks.sort();
        let mut want: Vec<u64> = ranks[..5].iter().map(|r| r.1).collect();
        want.sort();
        let got: Vec<u64> = a.iter().map(|f| f.leaf_index).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        let bad = |s: FollowUpSettings| s.check().expect_err("refused");
        assert!(
            bad(FollowUpSettings {
                working_hours: "7-18".into(),
                ..Default::default()
            })
            .contains("working_hours")
        );
        assert!(
            bad(FollowUpSettings {
                working_hours: "18:00-07:00".into(),
                ..Default::default()
            })
            .contains("working_hours")
        );
        assert!(
            bad(FollowUpSettings {
                working_days: vec!["monday".into()],
                ..Default::default()
            })
            .contains("working_days")
        );
        assert!(
            bad(FollowUpSettings {
                days_off: vec!["24/12".into()],
                ..Default::default()
            })
            .contains("days_off")
        );
        assert!(
            bad(FollowUpSettings {
                denied_window_minutes: 0,
                ..Default::default()
            })
            .contains("denied_window_minutes")
        );
        assert!(
            bad(FollowUpSettings {
                spot_checks: 5000,
                ..Default::default()
            })
            .contains("spot_checks")
        );
        assert!(FollowUpSettings::default().check().is_ok());
    }
}
