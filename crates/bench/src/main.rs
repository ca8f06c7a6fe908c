//! `callvault-bench`: the performance figures of BENCHMARKS.md, each printed beside its
//! baseline measured in the same run on the same machine.
//!
//! ```text
//! cargo run --release -p callvault-bench -- [import|audit|verify|reads|play|all] [--gib N]
//!     [--events N] [--writers N] [--rounds N] [--clients N] [--seconds S] [--mib N] [--dir DIR]
//! ```
//!
//! * import: `callvault import` of WAV files vs copying the same files into two directories
//!   with fsync (target ≥ 0.8× the copy's throughput).
//! * audit: durable audit appends from many concurrent writers with group commit vs one
//!   transaction per event (target ≥ 10,000 events/s).
//! * verify: full audit verification (decode, leaf hash, tree roots, checkpoint) vs only
//!   reading the rows (target ≥ 2,000,000 entries/s).
//! * reads: audited metadata reads over mutual TLS by many concurrent clients vs `/healthz`
//!   on the same connections (target ≥ 10,000 requests/s, p99 < 5 ms).
//! * play: 64 concurrent whole-recording audio streams vs nginx serving the same plaintext
//!   file over TLS (target ≥ 0.7× nginx's throughput, time to first byte p99 < 10 ms).
//! * engines (not in `all`; `scripts/bench-engines.sh`): import and audited playback on two
//!   Garage S3 sites with keys in SoftHSM2 vs the embedded default (`--recordings N --mib N`).
//! * scale (not in `all`): patient search and a five-year log extract in a generated
//!   catalog (`--engine sqlite|postgres --recordings N --events M [--patients P]
//!   [--samples S] [--cold]`; targets p99 < 20 ms and < 100 ms; `--cold` empties the page
//!   cache before measuring).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use callvault_audit::event::{Action, Actor, AuditEvent};
use callvault_catalog::{Catalog, CatalogRead, Change, SqliteCatalog};
use callvault_vault::Vault;
use callvault_vault::manifest::FIELDS;
use callvault_vault::wav;

mod engines;
mod http;
mod scale;

struct Args {
    what: String,
    gib: f64,
    events: u64,
    writers: usize,
    rounds: usize,
    clients: Option<usize>,
    seconds: f64,
    mib: u32,
    dir: Option<PathBuf>,
    recordings: usize,
    engine: String,
    patients: Option<u64>,
    samples: usize,
    events_given: bool,
    cold: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        what: "all".into(),
        gib: 1.0,
        events: 2_000_000,
        writers: 64,
        rounds: 3,
        clients: None,
        seconds: 10.0,
        mib: 4,
        dir: None,
        recordings: 40,
        engine: "sqlite".into(),
        patients: None,
        samples: 200,
        events_given: false,
        cold: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "import" | "audit" | "verify" | "reads" | "play" | "engines" | "scale" | "all" => {
                a.what = arg
            }
            "--engine" => a.engine = val("--engine")?,
            "--cold" => a.cold = true,
            "--patients" => a.patients = Some(val("--patients")?.parse().context("--patients")?),
            "--samples" => a.samples = val("--samples")?.parse().context("--samples")?,
            "--recordings" => {
                a.recordings = val("--recordings")?.parse().context("--recordings")?
            }
            "--clients" => a.clients = Some(val("--clients")?.parse().context("--clients")?),
            "--seconds" => a.seconds = val("--seconds")?.parse().context("--seconds")?,
            "--mib" => a.mib = val("--mib")?.parse().context("--mib")?,
            "--gib" => a.gib = val("--gib")?.parse().context("--gib")?,
            "--events" => {
                a.events = val("--events")?.parse().context("--events")?;
                a.events_given = true;
            }
            "--writers" => a.writers = val("--writers")?.parse().context("--writers")?,
            "--dir" => a.dir = Some(PathBuf::from(val("--dir")?)),
            "--rounds" => a.rounds = val("--rounds")?.parse().context("--rounds")?,
            "-h" | "--help" => {
                println!(
                    "usage: callvault-bench [import|audit|verify|reads|play|engines|scale|all] [--engine sqlite|postgres] [--cold] [--patients N] [--samples N] [--recordings N] [--gib N] [--events N] [--writers N] [--rounds N] [--clients N] [--seconds S] [--mib N] [--dir DIR]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let base = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir_in(".")?,
    };
    println!(
        "callvault-bench on {} cores; scratch {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        base.path().display()
    );
    println!(
        "{:<44} {:>16} {:>16} {:>8} {:>10}",
        "figure", "callvault", "baseline", "ratio", "target"
    );
    if matches!(args.what.as_str(), "import" | "all") {
        bench_import(base.path(), args.gib, args.rounds)?;
    }
    if matches!(args.what.as_str(), "audit" | "all") {
        bench_audit(base.path(), args.writers)?;
    }
    if matches!(args.what.as_str(), "verify" | "all") {
        bench_verify(base.path(), args.events)?;
    }
    if matches!(args.what.as_str(), "reads" | "all") {
        http::bench_reads(
            &base.path().join("reads"),
            args.clients.unwrap_or(64),
            args.seconds,
        )?;
    }
    if matches!(args.what.as_str(), "play" | "all") {
        http::bench_play(
            &base.path().join("play"),
            args.clients.unwrap_or(64),
            args.seconds,
            args.mib,
        )?;
    }
    // Not in `all`: it needs the servers and token of scripts/bench-engines.sh.
    if args.what == "engines" {
        engines::bench_engines(base.path(), args.recordings, args.mib)?;
    }
    // Not in `all`: it generates a catalog of the size asked for (tens of GB at full scale).
    if args.what == "scale" {
        if !args.events_given {
            bail!("scale needs --recordings N and --events M");
        }
        scale::bench_scale(
            base.path(),
            &scale::ScaleArgs {
                engine: args.engine.clone(),
                recordings: args.recordings as u64,
                events: args.events,
                patients: args.patients,
                samples: args.samples,
                cold: args.cold,
            },
        )?;
    }
    Ok(())
}

pub(crate) fn row(figure: &str, ours: f64, base: f64, unit: &str, target: &str) {
    println!(
        "{:<50} {:>10.1} {unit:<5} {:>10.1} {unit:<5} {:>7.2}x {:>10}",
        figure,
        ours,
        base,
        ours / base,
        target
    );
}

/// Writes `n` WAV files (PCM 16-bit stereo 8 kHz, `mib` MiB of samples each) and their
/// import manifest (calls `bench-0`, `bench-1`, …).
pub(crate) fn make_archive(dir: &Path, n: usize, mib: u32) -> Result<(PathBuf, Vec<PathBuf>, u64)> {
    std::fs::create_dir_all(dir)?;
    let per_file: u32 = mib << 20;
    let mut files = Vec::new();
    let mut manifest = FIELDS.join(",") + "\n";
    let mut total = 0u64;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..n {
        let name = format!("call-{i:05}.wav");
        let path = dir.join(&name);
        let mut f = File::create(&path)?;
        let header = wav::header(1, 2, 8000, 16, per_file);
        f.write_all(&header)?;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..(per_file >> 20) {
            for chunk in buf.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            f.write_all(&buf)?;
        }
        f.sync_all()?;
        total += u64::from(per_file) + header.len() as u64;
        let pnr = callvault_vault::demo::personnummer(i as u64);
        manifest.push_str(&format!(
            "{name},bench-{i},SE2321000016-0001,SE2321000016-1177,2026-01-01T00:00:00Z,{pnr},+46701234567,\n"
        ));
        files.push(path);
    }
    let m = dir.join("manifest.csv");
    std::fs::write(&m, manifest)?;
    Ok((m, files, total))
}

fn copy_fsync(src: &Path, dst: &Path) -> Result<()> {
    let mut input = File::open(src)?;
    let mut out = File::create(dst)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    File::open(dst.parent().context("parent")?)?.sync_all()?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_import(base: &Path, gib: f64, rounds: usize) -> Result<()> {
    let n = (gib * 1024.0 / 16.0).ceil() as usize;
    let (manifest, files, total) = make_archive(&base.join("archive"), n, 16)?;
    let mib = total as f64 / f64::from(1u32 << 20);
    let (d1, d2) = (base.join("copy-a"), base.join("copy-b"));
    let (mut seq, mut par, mut imp) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let _ = std::process::Command::new("sync").status();
        // Baseline 1: copy each file into two directories one after the other, fsync each
        // copy and its directory.
        std::fs::create_dir_all(&d1)?;
        std::fs::create_dir_all(&d2)?;
        let t = Instant::now();
        for f in &files {
            let name = f.file_name().context("name")?;
            copy_fsync(f, &d1.join(name))?;
            copy_fsync(f, &d2.join(name))?;
        }
        seq.push(mib / t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&d1)?;
        std::fs::remove_dir_all(&d2)?;

        // Baseline 2: the two copies of each file written concurrently, as callvault does.
        std::fs::create_dir_all(&d1)?;
        std::fs::create_dir_all(&d2)?;
        let t = Instant::now();
        for f in &files {
            let name = f.file_name().context("name")?;
            std::thread::scope(|s| -> Result<()> {
                let a = s.spawn(|| copy_fsync(f, &d1.join(name)));
                let b = s.spawn(|| copy_fsync(f, &d2.join(name)));
                a.join().map_err(|_| anyhow::anyhow!("copy panicked"))??;
                b.join().map_err(|_| anyhow::anyhow!("copy panicked"))??;
                Ok(())
            })?;
        }
        par.push(mib / t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&d1)?;
        std::fs::remove_dir_all(&d2)?;

        // callvault import: encrypt, write both sites, catalog, audit.
        let vdir = base.join(format!("vault-{round}"));
        let vault = Vault::init(
            &vdir,
            "audit.bench.example",
            &[callvault_types::CareProvider::parse("SE2321000016-0001")?],
        )?;
        let t = Instant::now();
        let s =
            vault.import_manifest(&manifest, &callvault_vault::vault_operator(), |_, _, _| {})?;
        imp.push(mib / t.elapsed().as_secs_f64());
        if !s.failures.is_empty() || s.imported != files.len() as u64 {
            bail!("import failed: {:?}", s.failures);
        }
        drop(vault);
        std::fs::remove_dir_all(&vdir)?;
    }
    println!(
        "  import rounds (MiB/s): callvault {:?}; sequential copy {:?}; concurrent copy {:?}",
        imp.iter().map(|x| x.round()).collect::<Vec<_>>(),
        seq.iter().map(|x| x.round()).collect::<Vec<_>>(),
        par.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    let (imp, seq, par) = (median(imp), median(seq), median(par));
    row(
        &format!(
            "import {:.2} GiB WAV, 2 sites, median of {rounds}",
            mib / 1024.0
        ),
        imp,
        seq,
        "MiB/s",
        ">= 0.80x",
    );
    row(
        "  same, vs concurrent copy to both dirs",
        imp,
        par,
        "MiB/s",
        "",
    );
    std::fs::remove_dir_all(base.join("archive"))?;
    Ok(())
}

fn event(i: u64) -> AuditEvent {
    let mut e = AuditEvent::new(Actor::Vault, Action::View, "bench");
    e.care_provider = callvault_types::CareProvider::parse("SE2321000016-0001").ok();
    e.detail("n", i)
}

fn bench_audit(base: &Path, writers: usize) -> Result<()> {
    // Baseline: one writer, one transaction (one fsync) per event.
    let cat = Arc::new(SqliteCatalog::open(&base.join("audit-serial.sqlite3"))?);
    let n_serial = 300u64;
    let t = Instant::now();
    for i in 0..n_serial {
        cat.commit(Change::new(event(i)))?;
    }
    let serial = n_serial as f64 / t.elapsed().as_secs_f64();
    drop(cat);

    // Many concurrent writers, each waiting for its own durable commit.
    let cat = Arc::new(SqliteCatalog::open(&base.join("audit-group.sqlite3"))?);
    let per_writer = 400u64;
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let cat = Arc::clone(&cat);
                s.spawn(move || -> Result<()> {
                    for i in 0..per_writer {
                        cat.commit(Change::new(event(w as u64 * per_writer + i)))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })?;
    let grouped = (writers as u64 * per_writer) as f64 / t.elapsed().as_secs_f64();
    if cat.audit_size()? != writers as u64 * per_writer {
        bail!("lost events");
    }
    row(
        &format!("durable audit appends, {writers} writers (ev/s)"),
        grouped,
        serial,
        "ev/s",
        ">= 10000",
    );
    Ok(())
}

fn bench_verify(base: &Path, events: u64) -> Result<()> {
    let dir = base.join("verify-vault");
    let vault = Vault::init(&dir, "audit.bench.example", &[])?;
    let batch = 10_000u64;
    let mut i = 0;
    while vault.catalog().audit_size()? < events {
        let mut c = Change::new(event(i));
        for j in 1..batch {
            c = c.and_event(event(i + j));
        }
        vault.catalog_writer().commit(c)?;
        i += batch;
    }
    vault.checkpoint()?;
    let size = vault.catalog().audit_size()?;

    // Median of three rounds each; dirty pages from earlier benchmarks are flushed first so
    // that background writeback does not land in these timings.
    let _ = std::process::Command::new("sync").status();
    let (mut reads, mut verifies) = (Vec::new(), Vec::new());
    let mut bytes = 0u64;
    for _ in 0..3 {
        // Baseline: only read every row.
        let t = Instant::now();
        bytes = 0;
        vault
            .catalog()
            .for_each_audit_leaf(0, size, &mut |_, e, _| {
                bytes += e.len() as u64;
                Ok(())
            })?;
        reads.push(size as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        let r = vault.verify_audit_log()?;
        verifies.push(r.audit_events as f64 / t.elapsed().as_secs_f64());
        if !r.is_clean() {
            bail!("verification found problems: {:?}", r.problems);
        }
    }
    println!(
        "  verification rounds (M entries/s): {:?}; plain reads {:?}",
        verifies
            .iter()
            .map(|x| (x / 1e4).round() / 100.0)
            .collect::<Vec<_>>(),
        reads
            .iter()
            .map(|x| (x / 1e4).round() / 100.0)
            .collect::<Vec<_>>()
    );
    let (verify_rate, read_rate) = (median(verifies), median(reads));
    row(
        &format!("full audit verification, {size} entries, median of 3"),
        verify_rate,
        read_rate,
        "ent/s",
        ">= 3e6",
    );
    println!(
        "  (baseline: reading the same {size} rows, {} MiB, without checking)",
        bytes >> 20
    );

    // A checkpoint costs what is new: 1,000 new events, then a checkpoint (extended from the
    // last one's compact range), against a full verification of the same log.
    let (mut extended, mut full) = (Vec::new(), Vec::new());
    for round in 0..3u64 {
        let mut c = Change::new(event(i + round * 1000));
        for j in 1..1000 {
            c = c.and_event(event(i + round * 1000 + j));
        }
        vault.catalog_writer().commit(c)?;
        let t = Instant::now();
        vault.checkpoint()?;
        extended.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let r = vault.verify_audit_log()?;
        full.push(t.elapsed().as_secs_f64() * 1e3);
        if !r.is_clean() {
            bail!("verification found problems: {:?}", r.problems);
        }
    }
    println!(
        "  checkpoint rounds (ms): {:?}; full verification of the same log (ms): {:?}",
        extended.iter().map(|x| x.round()).collect::<Vec<_>>(),
        full.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    row(
        &format!("checkpoint after 1,000 new events, {size} log"),
        median(extended),
        median(full),
        "ms",
        "O(new)",
    );
    Ok(())
}
