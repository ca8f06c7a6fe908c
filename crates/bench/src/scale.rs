//! The scale figures: patient search and a patient's five-year log extract in a catalog of
//! many recordings and audit events, on SQLite and on PostgreSQL.
//!
//! `callvault-bench scale --engine sqlite|postgres --recordings N --events M` makes a vault
//! (key files, two site directories, the chosen catalog), generates a synthetic but valid
//! catalog straight into its database, reopens the vault and measures, through `Vault`, what
//! a nurse and a log reviewer do:
//!
//! * **search**: policy decision, the durable `search` audit event, then
//!   `search_patient` — the recordings of one patient at the care provider;
//! * **extract**: policy decision, then `log_extract` of one patient over five years (its
//!   durable `audit.extract` event first, then every event naming the patient, decoded and
//!   filtered).
//!
//! The generator writes what ingest and access would have written, at bulk speed:
//! recordings at a steady rate over ten years, each with a patient (sealed and blind-indexed
//! under the vault's own keys, as ingest does) and a caller; audit events at a steady rate
//! over the same ten years, each a nurse playing or viewing a recording made in the 30 days
//! before, with the patient sealed in the event as access does, encoded and hashed as the
//! writer does, at contiguous leaf indexes after the vault's own events. Secondary indexes
//! are dropped during the load and built again after it (and on PostgreSQL the
//! next-index guard is switched off during the load, which keeps indexes contiguous
//! itself); the row layout, the indexes and the queries are the product's.
//!
//! PostgreSQL needs `CALLVAULT_IT_PG` and `CALLVAULT_IT_PG_PASSWORD` (`scripts/postgres.sh
//! env`); the run uses a new database of its own and drops it at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use callvault_audit::event::{
    Action as EventAction, Actor, AuditEvent, RecordingRef, SealedPatient,
};
use callvault_audit::merkle::leaf_hash;
use callvault_auth::{
    AccessRequest, Action, AssignmentSet, AssignmentSpec, AuthenticatedPrincipal, Policy,
    PrincipalKind, Purpose, Resource,
};
use callvault_reporting::extract::ExtractFormat;
use callvault_types::{CareProvider, CareUnit, HsaId, PatientId, RecordingId};
use callvault_vault::Vault;
use callvault_vault::access::SearchFilter;
use callvault_vault::access::target::*;
use time::OffsetDateTime;

use crate::http::percentile;
use crate::row;

const CP: &str = "SE2321000016-0001";
const UNITS: u64 = 20;
const NURSES: u64 = 400;
const SPAN_DAYS: i64 = 3650;

/// What to generate and where.
pub struct ScaleArgs {
    pub engine: String,
    pub recordings: u64,
    pub events: u64,
    pub patients: Option<u64>,
    pub samples: usize,
    /// Empty the kernel's page cache before measuring (root only): every sample then reads
    /// what it needs from disk, as at a size no cache holds.
    pub cold: bool,
}

/// A valid personnummer for each `i` below 23,520,000, all different: year 1940–2009,
/// month, day 1–28, serial 000–999, Luhn check digit.
fn personnummer(i: u64) -> String {
    let serial = i % 1000;
    let day = 1 + (i / 1000) % 28;
    let month = 1 + (i / 28_000) % 12;
    let year = 1940 + (i / 336_000) % 70;
    let nine = format!("{:02}{month:02}{day:02}{serial:03}", year % 100);
    let check = callvault_types::check_digit(&nine).unwrap_or_default();
    format!("{year}{month:02}{day:02}-{serial:03}{check}")
}

fn unit(u: u64) -> String {
    format!("SE2321000016-{:04}", 1000 + u)
}

fn nurse(n: u64) -> String {
    format!("SE2321000016-N{:03}", n % 1000)
}

/// A small fast generator (xorshift64*), seeded: the same arguments generate the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        out
    }
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// One generated recording row (the columns of `recordings`).
struct Rec {
    id: RecordingId,
    unit: String,
    call: String,
    start: OffsetDateTime,
    patient: u64,
    patient_sealed: Vec<u8>,
    patient_bidx: [u8; 32],
    caller_sealed: Vec<u8>,
    caller_bidx: [u8; 32],
    nurse: String,
    hash: [u8; 32],
}

/// The database a generated catalog is written to, bypassing the catalog's writer.
enum Target {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

const REC_COLUMNS: &str = "id, care_provider, care_unit, call_id, started_at_us, ended_at_us,
    duration_ms, codec, sample_rate, channels, plaintext_size, plaintext_sha256,
    ciphertext_size, ciphertext_sha256, dek_id, wrapped_dek, kek_version, patient_sealed,
    patient_bidx, caller_sealed, caller_bidx, nurse_hsa_id, retention_until_us, source,
    created_at_us";
const EVENT_COLUMNS: &str =
    "idx, leaf_hash, event, time_us, action, recording_id, patient_bidx, assignment";
/// The secondary indexes (same names in both schemas), dropped for the load.
const INDEXES: &[&str] = &[
    "recordings_patient",
    "recordings_caller",
    "recordings_kek",
    "audit_patient",
    "audit_recording",
    "audit_assignment",
    "audit_time",
    "audit_action",
];

impl Target {
    /// Drops the secondary indexes; returns their definitions.
    fn drop_indexes(&mut self) -> Result<Vec<String>> {
        let mut defs = Vec::new();
        match self {
            Self::Sqlite(c) => {
                for name in INDEXES {
                    let sql: String = c.query_row(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                        [name],
                        |r| r.get(0),
                    )?;
                    defs.push(sql);
                    c.execute_batch(&format!("DROP INDEX {name}"))?;
                }
                c.execute_batch("PRAGMA synchronous = OFF")?;
            }
            Self::Postgres(c) => {
                for name in INDEXES {
                    let def: String = c
                        .query_one(
                            "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
                            &[name],
                        )?
                        .get(0);
                    defs.push(def);
                    c.batch_execute(&format!("DROP INDEX {name}"))?;
                }
                c.batch_execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_next")?;
            }
        }
        Ok(defs)
    }

    fn restore_indexes(&mut self, defs: &[String]) -> Result<()> {
        match self {
            Self::Sqlite(c) => {
                for d in defs {
                    c.execute_batch(d)?;
                }
                c.execute_batch("PRAGMA synchronous = FULL; ANALYZE;")?;
            }
            Self::Postgres(c) => {
                for d in defs {
                    c.batch_execute(d)?;
                }
                c.batch_execute(
                    "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_next; ANALYZE;",
                )?;
            }
        }
        Ok(())
    }

    fn insert_recordings(&mut self, rows: &[Rec]) -> Result<()> {
        let retention = |r: &Rec| micros(r.start + time::Duration::days(3653));
        match self {
            Self::Sqlite(c) => {
                let tx = c.transaction()?;
                {
                    let mut st = tx.prepare_cached(&format!(
                        "INSERT INTO recordings ({REC_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                         ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                         ?23, ?24, ?25)"
                    ))?;
                    for r in rows {
                        st.execute(rusqlite::params![
                            r.id.to_string(),
                            CP,
                            r.unit,
                            r.call,
                            micros(r.start),
                            micros(r.start) + 300_000_000,
                            300_000i64,
                            "pcm_alaw",
                            8000i64,
                            2i64,
                            4_800_044i64,
                            &r.hash[..],
                            4_804_000i64,
                            &r.hash[..],
                            &r.hash[..16],
                            &[7u8; 61][..],
                            1i64,
                            r.patient_sealed,
                            &r.patient_bidx[..],
                            r.caller_sealed,
                            &r.caller_bidx[..],
                            r.nurse,
                            retention(r),
                            "import",
                            micros(r.start),
                        ])?;
                    }
                }
                tx.commit()?;
            }
            Self::Postgres(c) => {
                use postgres::binary_copy::BinaryCopyInWriter;
                use postgres::types::Type;
                let sink = c.copy_in(&format!(
                    "COPY recordings ({REC_COLUMNS}) FROM STDIN (FORMAT binary)"
                ))?;
                let types = [
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                    Type::TEXT,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                    Type::BYTEA,
                    Type::INT8,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::INT8,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::TEXT,
                    Type::INT8,
                    Type::TEXT,
                    Type::INT8,
                ];
                let mut w = BinaryCopyInWriter::new(sink, &types);
                for r in rows {
                    let (id, start) = (r.id.to_string(), micros(r.start));
                    let wrapped = [7u8; 61];
                    w.write(&[
                        &id,
                        &CP,
                        &r.unit,
                        &r.call,
                        &start,
                        &(start + 300_000_000),
                        &300_000i64,
                        &"pcm_alaw",
                        &8000i64,
                        &2i64,
                        &4_800_044i64,
                        &&r.hash[..],
                        &4_804_000i64,
                        &&r.hash[..],
                        &&r.hash[..16],
                        &&wrapped[..],
                        &1i64,
                        &r.patient_sealed,
                        &&r.patient_bidx[..],
                        &r.caller_sealed,
                        &&r.caller_bidx[..],
                        &r.nurse,
                        &retention(r),
                        &"import",
                        &start,
                    ])?;
                }
                w.finish()?;
            }
        }
        Ok(())
    }

    /// Rows of `audit_log`: (idx, leaf hash, event, time, action, recording, bidx, assignment).
    #[allow(clippy::type_complexity)]
    fn insert_events(
        &mut self,
        rows: &[(
            i64,
            [u8; 32],
            Vec<u8>,
            i64,
            &'static str,
            String,
            [u8; 32],
            String,
        )],
    ) -> Result<()> {
        match self {
            Self::Sqlite(c) => {
                let tx = c.transaction()?;
                {
                    let mut st = tx.prepare_cached(&format!(
                        "INSERT INTO audit_log ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ))?;
                    for (idx, lh, ev, t, a, rid, b, asg) in rows {
                        st.execute(rusqlite::params![idx, &lh[..], ev, t, a, rid, &b[..], asg])?;
                    }
                }
                tx.commit()?;
            }
            Self::Postgres(c) => {
                use postgres::binary_copy::BinaryCopyInWriter;
                use postgres::types::Type;
                let sink = c.copy_in(&format!(
                    "COPY audit_log ({EVENT_COLUMNS}) FROM STDIN (FORMAT binary)"
                ))?;
                let types = [
                    Type::INT8,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::INT8,
                    Type::TEXT,
                    Type::TEXT,
                    Type::BYTEA,
                    Type::TEXT,
                ];
                let mut w = BinaryCopyInWriter::new(sink, &types);
                for (idx, lh, ev, t, a, rid, b, asg) in rows {
                    w.write(&[idx, &&lh[..], ev, t, a, rid, &&b[..], asg])?;
                }
                w.finish()?;
            }
        }
        Ok(())
    }

    fn size_bytes(&mut self, sqlite_path: &Path) -> Result<u64> {
        Ok(match self {
            Self::Sqlite(_) => {
                let mut n = 0;
                for suffix in ["", "-wal"] {
                    let p = PathBuf::from(format!("{}{suffix}", sqlite_path.display()));
                    n += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                }
                n
            }
            Self::Postgres(c) => {
                let n: i64 = c
                    .query_one("SELECT pg_database_size(current_database())", &[])?
                    .get(0);
                n as u64
            }
        })
    }
}

fn assignments() -> Result<AssignmentSet> {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let now = OffsetDateTime::now_utc();
    let (from, until) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::days(30)),
    );
    let units: Vec<String> = (0..UNITS).map(unit).collect();
    let unit_refs: Vec<&str> = units.iter().map(String::as_str).collect();
    let mut text = AssignmentSpec {
        id: "scale-nurse",
        holder: "SE2321000016-N999",
        care_provider: CP,
        care_units: &unit_refs,
        purpose: "vård och behandling",
        rights: &["search", "view-metadata", "play"],
        valid_from: &from,
        valid_until: &until,
    }
    .to_toml();
    text += &AssignmentSpec {
        id: "scale-reviewer",
        holder: "SE2321000016-L001",
        care_provider: CP,
        care_units: &[],
        purpose: "logguppföljning",
        rights: &["read-audit", "read-access-log"],
        valid_from: &from,
        valid_until: &until,
    }
    .to_toml();
    Ok(AssignmentSet::parse(&text)?)
}

fn person(h: &str) -> Result<AuthenticatedPrincipal> {
    Ok(AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(h)?,
        PrincipalKind::Person,
        [5; 32],
    ))
}

/// Generates, loads and measures.
pub fn bench_scale(base: &Path, a: &ScaleArgs) -> Result<()> {
    let patients = a.patients.unwrap_or((a.recordings / 15).max(1));
    if patients > 23_520_000 {
        bail!("at most 23,520,000 distinct patients");
    }
    let cp = CareProvider::parse(CP)?;
    let data = base.join("scale-vault");
    let (vault, mut target, sqlite_path, pg_db) = match a.engine.as_str() {
        "sqlite" => {
            let v = Vault::init(&data, "audit.bench.example", std::slice::from_ref(&cp))?;
            let path = data.join("catalog/catalog.sqlite3");
            let t = Target::Sqlite(callvault_catalog::raw_connection(&path)?);
            (v, t, path, None)
        }
        "postgres" => {
            let server = std::env::var("CALLVAULT_IT_PG")
                .context("CALLVAULT_IT_PG is not set (eval \"$(scripts/postgres.sh env)\")")?;
            let password = std::env::var("CALLVAULT_IT_PG_PASSWORD")
                .context("CALLVAULT_IT_PG_PASSWORD is not set")?;
            let name = format!("cv_scale_{}", std::process::id());
            let client = |conninfo: &str| -> Result<postgres::Client> {
                let mut c: postgres::Config = conninfo.parse()?;
                c.password(&password);
                Ok(c.connect(postgres::NoTls)?)
            };
            client(&server)?.batch_execute(&format!("CREATE DATABASE {name}"))?;
            let conninfo = format!("{server} dbname={name}");
            std::fs::create_dir_all(base)?;
            let pw = base.join("pg.password");
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&pw)?;
                writeln!(f, "{password}")?;
            }
            let text = callvault_vault::config::Config::default_toml("audit.bench.example")
                .replace(
                    "[catalog]\nbackend = \"sqlite\"\npath = \"catalog/catalog.sqlite3\"\n",
                    &format!(
                        "[catalog]\nbackend = \"postgres\"\nconninfo = \"{conninfo}\"\npassword_file = \"{}\"\n",
                        pw.display()
                    ),
                );
            let v = Vault::init_with_config(&data, &text, std::slice::from_ref(&cp))?;
            let t = Target::Postgres(client(&conninfo)?);
            (v, t, PathBuf::new(), Some((server, password, name)))
        }
        other => bail!("--engine {other:?}: use sqlite or postgres"),
    };
    let first_idx = vault.catalog().audit_size()?;

    // The generated rows, at a steady rate over ten years ending now.
    let now = OffsetDateTime::now_utc();
    let t0 = now - time::Duration::days(SPAN_DAYS);
    let span_us = SPAN_DAYS * 86_400_000_000;
    let rec_start =
        |j: u64| t0 + time::Duration::microseconds(span_us / a.recordings as i64 * j as i64);
    let defs = target.drop_indexes()?;
    let started = Instant::now();
    let mut rng = Rng(0x5EED_CA11_u64);
    const BATCH: u64 = 20_000;
    // Recordings.
    let mut ids: Vec<(RecordingId, u64, [u8; 32])> = Vec::with_capacity(a.recordings as usize);
    let mut j = 0;
    while j < a.recordings {
        let mut rows = Vec::with_capacity(BATCH as usize);
        for k in j..(j + BATCH).min(a.recordings) {
            let id = RecordingId::from_bytes(rng.bytes::<16>());
            let patient = rng.below(patients);
            let pid = PatientId::parse(&personnummer(patient))?;
            let (patient_sealed, patient_bidx) =
                vault.seal_patient_for_bulk_load(&cp, &pid, Some(&id))?;
            let caller_bidx = rng.bytes::<32>();
            let hash = rng.bytes::<32>();
            rows.push(Rec {
                id,
                unit: unit(rng.below(UNITS)),
                call: format!("scale-{k}"),
                start: rec_start(k),
                patient,
                patient_sealed,
                patient_bidx,
                caller_sealed: rng.bytes::<45>().to_vec(),
                caller_bidx,
                nurse: nurse(rng.below(NURSES)),
                hash,
            });
        }
        target.insert_recordings(&rows)?;
        ids.extend(rows.iter().map(|r| (r.id, r.patient, r.hash)));
        j += BATCH;
    }
    let rec_secs = started.elapsed().as_secs_f64();
    // Audit events: a nurse plays or views a recording made in the 30 days before.
    let window = (a.recordings * 30 / SPAN_DAYS as u64).max(1);
    let mut sealed_cache: std::collections::HashMap<u64, (Vec<u8>, [u8; 32])> =
        std::collections::HashMap::new();
    let started_events = Instant::now();
    let mut i = 0;
    while i < a.events {
        let mut rows = Vec::with_capacity(BATCH as usize);
        for k in i..(i + BATCH).min(a.events) {
            let at = t0 + time::Duration::microseconds(span_us / a.events as i64 * k as i64);
            let newest = ((k as u128 * a.recordings as u128) / a.events as u128) as u64;
            let r = newest
                .saturating_sub(rng.below(window))
                .min(a.recordings - 1);
            let (rid, patient, hash) = ids[r as usize];
            if sealed_cache.len() > 2_000_000 {
                sealed_cache.clear();
            }
            let (sealed, bidx) = match sealed_cache.get(&patient) {
                Some(v) => v.clone(),
                None => {
                    let pid = PatientId::parse(&personnummer(patient))?;
                    let v = vault.seal_patient_for_bulk_load(&cp, &pid, None)?;
                    sealed_cache.insert(patient, v.clone());
                    v
                }
            };
            let who = nurse(rng.below(NURSES));
            let action = if rng.below(4) == 0 {
                EventAction::View
            } else {
                EventAction::Play
            };
            let mut e = AuditEvent::new(Actor::Person(HsaId::parse(&who)?), action, "api");
            e.time = at;
            e.actor_care_provider = Some(cp.clone());
            e.actor_care_unit = Some(CareUnit::parse(&unit(rng.below(UNITS)))?);
            e.assignment = Some(format!("nurse-{}", &who[who.len() - 3..]));
            e.recording = Some(RecordingRef {
                id: rid,
                plaintext_sha256: hash,
            });
            e.care_provider = Some(cp.clone());
            e.patient = Some(SealedPatient {
                sealed,
                blind_index: bidx,
            });
            e.purpose = Some("vård och behandling".into());
            let e = if action == EventAction::Play {
                e.detail("sent", "0-4800042")
            } else {
                e
            };
            let enc = e.encode()?;
            let lh = leaf_hash(&enc);
            rows.push((
                (first_idx + k) as i64,
                lh,
                enc,
                micros(at),
                action.code(),
                rid.to_string(),
                bidx,
                e.assignment.clone().unwrap_or_default(),
            ));
        }
        target.insert_events(&rows)?;
        i += BATCH;
    }
    let ev_secs = started_events.elapsed().as_secs_f64();
    let t = Instant::now();
    target.restore_indexes(&defs)?;
    let idx_secs = t.elapsed().as_secs_f64();
    let bytes = target.size_bytes(&sqlite_path)?;
    drop(target);
    println!(
        "  generated {} recordings ({} patients) in {rec_secs:.0} s, {} events in {ev_secs:.0} s, indexes in {idx_secs:.0} s; catalog {:.1} GiB ({:.0} B per row)",
        a.recordings,
        patients,
        a.events,
        bytes as f64 / f64::from(1u32 << 30),
        bytes as f64 / (a.recordings + a.events) as f64
    );

    // Reopen: the vault's writer learns the log's new size, its readers the new indexes.
    drop(vault);
    if a.cold {
        let synced = std::process::Command::new("sync").status()?;
        if !synced.success() {
            bail!("sync failed");
        }
        std::fs::write("/proc/sys/vm/drop_caches", "3\n").context(
            "--cold empties the page cache through /proc/sys/vm/drop_caches (root only)",
        )?;
    }
    let vault = Vault::open(&data)?;

    // Measure through the vault, as the nurse and the log reviewer.
    let policy = Policy::new(assignments()?);
    let nurse_p = person("SE2321000016-N999")?;
    let reviewer = person("SE2321000016-L001")?;
    let resource = Resource {
        care_provider: cp.clone(),
        care_unit: None,
    };
    let mut sample = Rng(0xC0FF_EE00);
    let (mut search, mut extract) = (Vec::new(), Vec::new());
    let (mut hits, mut entries) = (0usize, 0usize);
    for _ in 0..a.samples {
        let pid = PatientId::parse(&personnummer(sample.below(patients)))?;
        let start = Instant::now();
        let authz = policy
            .decide(
                &nurse_p,
                &AccessRequest {
                    action: Action::Search,
                    resource: resource.clone(),
                    purpose: Purpose::CareAndTreatment,
                    assignment: None,
                    emergency_reason: None,
                    case_number: None,
                },
                OffsetDateTime::now_utc(),
            )
            .map_err(|d| anyhow::anyhow!("denied: {d:?}"))?;
        let receipt = vault.record_access(
            authz.clone(),
            PatientSearch {
                patient: pid.clone(),
                filter: SearchFilter::default(),
            },
        )?;
        hits += vault.search_patient(&receipt)?.len();
        search.push(start.elapsed());

        let start = Instant::now();
        let authz = policy
            .decide(
                &reviewer,
                &AccessRequest {
                    action: Action::ReadAccessLog,
                    resource: resource.clone(),
                    purpose: Purpose::LogReview,
                    assignment: None,
                    emergency_reason: None,
                    case_number: None,
                },
                OffsetDateTime::now_utc(),
            )
            .map_err(|d| anyhow::anyhow!("denied: {d:?}"))?;
        let x = vault.log_extract(
            &authz,
            &pid,
            Some(now - time::Duration::days(5 * 365 + 1)),
            Some(now + time::Duration::minutes(1)),
            ExtractFormat::Json,
        )?;
        entries += x.entries.len();
        extract.push(start.elapsed());
    }
    let label = format!(
        "{} rec, {} events, {}{}",
        human(a.recordings),
        human(a.events),
        a.engine,
        if a.cold { ", cold" } else { "" }
    );
    let p = |v: &mut Vec<Duration>, q| percentile(v, q);
    row(
        &format!("patient search p99 ({label})"),
        p(&mut search, 0.99),
        20.0,
        "ms",
        "< 20 ms",
    );
    row("  p50", p(&mut search, 0.5), 20.0, "ms", "");
    row(
        &format!("5-year log extract p99 ({label})"),
        p(&mut extract, 0.99),
        100.0,
        "ms",
        "< 100 ms",
    );
    row("  p50", p(&mut extract, 0.5), 100.0, "ms", "");
    println!(
        "  {} samples: {:.1} recordings and {:.1} extract entries per patient on average (the baseline column is the target)",
        a.samples,
        hits as f64 / a.samples as f64,
        entries as f64 / a.samples as f64
    );
    drop(vault);
    if let Some((server, password, name)) = pg_db {
        let mut c: postgres::Config = server.parse()?;
        c.password(&password);
        c.connect(postgres::NoTls)?
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))?;
    }
    std::fs::remove_dir_all(&data).ok();
    Ok(())
}

fn human(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}
