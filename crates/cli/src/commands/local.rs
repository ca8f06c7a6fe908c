//! Commands on the local data directory: import, verify, status, the demo.

use super::*;

pub(super) fn import(v: &Vault, manifest: &Path) -> Result<ImportSummary> {
    let actor = callvault_vault::vault_operator();
    let mut pb: Option<ProgressBar> = None;
    let s = v
        .import_manifest(manifest, &actor, |done, total, outcome| {
            let pb = pb.get_or_insert_with(|| bar(total, "importing"));
            pb.set_position(done);
            if let RowOutcome::Failed(e) = outcome {
                pb.println(format!("line {}: {}", e.line, e.reason));
            }
        })
        .with_context(|| format!("reading manifest {}", manifest.display()))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    println!(
        "import: {} rows, {} imported ({}), {} already imported, {} failed, {} under-replicated",
        s.rows,
        s.imported,
        size(s.bytes),
        s.skipped,
        s.failures.len(),
        s.under_replicated
    );
    for f in &s.failures {
        println!("  line {}: {}", f.line, f.reason);
    }
    if s.under_replicated > 0 {
        println!(
            "  under-replicated recordings have repair tasks; run `callvault repair` when the site is back"
        );
    }
    Ok(s)
}

pub(super) fn verify(v: &Vault, deep: bool) -> Result<VerifyReport> {
    let total = v.catalog().stats()?.recordings;
    let pb = bar(
        total,
        if deep {
            "verifying (deep)"
        } else {
            "verifying"
        },
    );
    let r = v.verify(deep, |n| pb.set_position(n))?;
    pb.finish_and_clear();
    println!(
        "verify{}: {} recordings, {} site copies, {} audit events, {} signed checkpoints checked",
        if deep { " --deep" } else { "" },
        r.recordings,
        r.copies,
        r.audit_events,
        r.checkpoints
    );
    if r.is_clean() {
        println!("OK: no problems found");
    } else {
        println!("{} problem(s):", r.problems.len());
        for p in &r.problems {
            println!("  {p}");
        }
    }
    Ok(r)
}

pub(super) fn print_status(s: &StatusReport) {
    println!("recordings:        {}", s.stats.recordings);
    for (cp, n) in &s.stats.per_care_provider {
        println!("  {cp}: {n}");
    }
    println!("audio stored:      {}", size(s.stats.plaintext_bytes));
    println!("under-replicated:  {}", s.stats.under_replicated);
    println!("open repair tasks: {}", s.repair_tasks.len());
    for t in &s.repair_tasks {
        println!(
            "  #{} recording {} site {}: {}",
            t.id, t.recording_id, t.site, t.reason
        );
    }
    println!("sites:");
    for (name, path, n) in &s.sites {
        println!("  {name}: {} objects at {}", n, path);
    }
    println!("keys ({}):", s.key_backend);
    for k in &s.keks {
        let n = s
            .stats
            .per_kek_version
            .iter()
            .find(|(c, v, _)| c == k.care_provider.as_str() && *v == k.version.0)
            .map(|(_, _, n)| *n)
            .unwrap_or(0);
        println!(
            "  {} KEK v{}{}: wraps {n} data keys",
            k.care_provider,
            k.version.0,
            if k.current { " (current)" } else { "" }
        );
    }
    match &s.scrub {
        Some(sc) => {
            println!(
                "scrub:             {} since {}: {} recordings, {} copies, {} read, {} bad, {} repaired{}",
                if sc.finished_at.is_some() {
                    "finished"
                } else {
                    "running or interrupted"
                },
                sc.started_at,
                sc.recordings,
                sc.copies,
                size(sc.bytes_read),
                sc.bad_copies,
                sc.repaired,
                sc.finished_at
                    .as_deref()
                    .map(|f| format!(", done {f}"))
                    .unwrap_or_default()
            );
            for id in &sc.lost {
                println!("  LOST: recording {id} (no site holds a good copy)");
            }
        }
        None => println!("scrub:             never run"),
    }
    println!("audit events:      {}", s.stats.audit_events);
    match &s.latest_checkpoint {
        Some(c) => println!(
            "latest checkpoint: size {} root {} at {}",
            c.size,
            B64.encode(c.root_hash),
            c.created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| c.created_at.to_string())
        ),
        None => println!("latest checkpoint: none"),
    }
}

pub(super) fn run_demo(
    data_dir: &Path,
    recordings: usize,
    listen: &str,
    no_serve: bool,
) -> Result<ExitCode> {
    let fresh = !data_dir.join(callvault_vault::config::CONFIG_FILE).exists();
    let cps = demo::CARE_PROVIDERS
        .iter()
        .map(|(cp, _, _)| CareProvider::parse(cp))
        .collect::<Result<Vec<_>, _>>()?;
    let v = if fresh {
        let v = Vault::init_with_config(
            data_dir,
            &demo::config_toml("audit.callvault.demo.example"),
            &cps,
        )?;
        println!("created demo data directory {}", data_dir.display());
        v
    } else {
        println!("reusing demo data directory {}", data_dir.display());
        let v = open(data_dir)?;
        for cp in &cps {
            v.ensure_care_provider(cp, &callvault_vault::vault_operator())?;
        }
        v
    };
    let archive = data_dir.join("legacy-archive");
    let manifest =
        demo::write_archive(&archive, recordings, 20).context("writing the demo archive")?;
    println!(
        "generated {recordings} recordings for two care providers in {}",
        archive.display()
    );
    for (cp, _, name) in demo::CARE_PROVIDERS {
        println!("  {cp}  {name}");
    }
    let s = import(&v, &manifest)?;
    // The plaintext archive was only the demo's input; remove it so that the data directory
    // holds nothing readable without keys.
    std::fs::remove_dir_all(&archive).context("removing the demo archive")?;
    let r = verify(&v, true)?;
    let c = v.checkpoint()?;
    println!("signed checkpoint:");
    print!("{}", c.note);
    println!();
    print_status(&v.status()?);
    let ok = s.failures.is_empty() && r.is_clean();
    let config = crate::demo_serve::prepare(&v, data_dir, listen)?;
    if no_serve || !ok {
        return Ok(code(ok));
    }
    // The server opens the vault itself (one process, one owner of the data directory).
    drop(v);
    let c = callvault_server::ServerConfig::load(&config)?;
    callvault_server::run(c, |addrs| {
        for a in addrs {
            println!("listening on https://{a} (client certificate required); Ctrl-C stops");
        }
    })?;
    let _ = writeln!(std::io::stdout(), "stopped");
    Ok(ExitCode::SUCCESS)
}
