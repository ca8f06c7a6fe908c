//! Turning parsed arguments into vault operations and plain-text reports.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use callvault_types::CareProvider;
use callvault_vault::import::{ImportSummary, RowOutcome};
use callvault_vault::verify::VerifyReport;
use callvault_vault::{StatusReport, Vault, demo};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{
    AssignmentsCommand, AuditCommand, CareProviderCommand, Cli, Command, DeletionCommand,
    GovernanceCommand, KeysCommand, PkiCommand, SiteCommand, WitnessCommand,
};

fn open(data_dir: &Path) -> Result<Vault> {
    if !data_dir.join("callvault.toml").is_file() {
        bail!(
            "{dir} is not a callvault data directory (it has no callvault.toml); create one with `callvault init --data-dir {dir}`, or try `callvault demo`",
            dir = data_dir.display()
        );
    }
    Vault::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))
}

/// [`open`] for the commands that look (status, verify, the audit log): beside a running
/// server they open the data directory without owning it, and say so.
fn open_for_reading(data_dir: &Path) -> Result<Vault> {
    match open(data_dir) {
        Err(e)
            if matches!(
                e.downcast_ref::<callvault_vault::VaultError>(),
                Some(callvault_vault::VaultError::InUse(_))
            ) =>
        {
            eprintln!(
                "note: a callvault server owns {}; reading beside it",
                data_dir.display()
            );
            Vault::open_beside(data_dir)
                .with_context(|| format!("opening data directory {}", data_dir.display()))
        }
        other => other,
    }
}

/// A byte count as people read it: `512 B`, `97.7 KiB`, `1.2 MiB`, `3.4 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init {
            data_dir,
            origin,
            care_providers,
            config,
        } => {
            let cps = care_providers
                .iter()
                .map(|c| CareProvider::parse(c).with_context(|| format!("--care-provider {c:?}")))
                .collect::<Result<Vec<_>>>()?;
            let v = match config {
                None => Vault::init(&data_dir, &origin, &cps),
                Some(file) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    Vault::init_with_config(&data_dir, &text, &cps)
                }
            }
            .with_context(|| format!("initialising {}", data_dir.display()))?;
            println!("initialised {}", data_dir.display());
            println!("audit verifier key: {}", v.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { data_dir, manifest } => {
            let v = open(&data_dir)?;
            let s = import(&v, &manifest)?;
            Ok(code(s.failures.is_empty()))
        }
        Command::Verify { data_dir, deep } => {
            let v = open_for_reading(&data_dir)?;
            let r = verify(&v, deep)?;
            Ok(code(r.is_clean()))
        }
        Command::Repair {
            data_dir,
            remove_unacknowledged,
        } => {
            let v = open(&data_dir)?;
            let operator = callvault_vault::vault_operator();
            let recovered = v.recover(&operator, callvault_vault::Rotations::Finish)?;
            for id in &recovered.finished_deletions {
                println!("finished the interrupted deletion order {id}");
            }
            let mut unfinished = false;
            for r in &recovered.rotations {
                let (cp, pending) = (&r.care_provider, r.pending);
                match &r.outcome {
                    callvault_vault::RotationOutcome::Finished { version, rewrapped } => println!(
                        "finished the interrupted key rotation of {cp}: {rewrapped} of {pending} data keys re-wrapped under KEK v{version}"
                    ),
                    callvault_vault::RotationOutcome::Failed(e) => {
                        unfinished = true;
                        eprintln!(
                            "could not finish the interrupted key rotation of {cp} ({pending} data keys under older versions): {e}"
                        );
                    }
                    callvault_vault::RotationOutcome::Left => unfinished = true,
                }
            }
            let (done, open) = v.repair(&operator)?;
            println!("repaired {done} copies; {open} repair tasks still open");
            let gone = v.delete_destroyed_blobs(&operator)?;
            if gone > 0 {
                println!(
                    "deleted {gone} blobs of destroyed recordings that had reappeared at a site"
                );
            }
            if remove_unacknowledged {
                let orphans = v.remove_unacknowledged_objects(&operator)?;
                if orphans > 0 {
                    println!(
                        "deleted {orphans} objects of uploads or imports cut short before they were acknowledged"
                    );
                }
            } else {
                let found: usize = v
                    .unacknowledged_objects()?
                    .iter()
                    .map(|(_, keys)| keys.len())
                    .sum();
                if found > 0 {
                    println!(
                        "{found} objects at the sites were never acknowledged (uploads or imports cut short by a crash); \
                         `callvault repair --remove-unacknowledged` deletes them — not if the catalog was restored from a backup \
                         since, as the objects of recordings acknowledged after that backup look the same"
                    );
                }
            }
            Ok(code(open == 0 && !unfinished))
        }
        Command::Scrub {
            data_dir,
            bytes_per_sec,
            no_repair,
        } => {
            let v = open(&data_dir)?;
            if bytes_per_sec == Some(0) {
                bail!("--bytes-per-sec must be at least 1");
            }
            let r = v.scrub(
                callvault_vault::scrub::ScrubOptions {
                    bytes_per_sec,
                    repair: !no_repair,
                },
                &callvault_vault::vault_operator(),
                |_| {},
            )?;
            for p in &r.problems {
                println!("{p}");
            }
            let s = &r.state;
            println!(
                "scrub: {} recordings, {} site copies, {} read; {} bad copies, {} repaired, {} repair tasks open",
                s.recordings,
                s.copies,
                size(s.bytes_read),
                s.bad_copies,
                s.repaired,
                s.open_repair_tasks
            );
            for id in &s.lost {
                eprintln!(
                    "LOST: recording {id}: no site holds a good copy; restore it from a backup"
                );
            }
            Ok(code(s.lost.is_empty() && s.open_repair_tasks == 0))
        }
        Command::Site {
            command: SiteCommand::Recreate { data_dir, site },
        } => {
            let (_, r) =
                Vault::recreate_site(&data_dir, &site, &callvault_vault::vault_operator())?;
            println!(
                "site {site} set up again: {} copies were missing, {} copied back from the other sites, {} repair tasks still open",
                r.marked_missing, r.repaired, r.open
            );
            Ok(code(r.open == 0))
        }
        Command::Status { data_dir } => {
            let v = open_for_reading(&data_dir)?;
            print_status(&v.status()?);
            for (cp, pending) in v.interrupted_rotations()? {
                println!(
                    "key rotation of {cp} interrupted: {pending} data keys under older KEK versions; `callvault repair` finishes it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => audit(command),
        Command::Keys { command } => keys(command),
        Command::Assignments { command } => assignments(command),
        Command::Governance { command } => governance(command),
        Command::Admin { conn, command } => crate::remote::admin(conn, *command),
        Command::Records { conn, command } => crate::remote::records(conn, *command),
        Command::Review { conn, command } => crate::remote::review(conn, *command),
        Command::Deletion { command } => deletion(command),
        Command::Witness { command } => witness(command),
        Command::Serve { config } => {
            let c = callvault_server::ServerConfig::load(&config)?;
            callvault_server::run(c, |addrs| {
                for a in addrs {
                    println!("listening on https://{a} (client certificate required)");
                }
            })?;
            // Whoever started us may have closed our stdout by now: do not fail on it.
            let _ = writeln!(std::io::stdout(), "stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Pki {
            command: PkiCommand::Dev { out },
        } => {
            let pki = callvault_pki::generate(
                &out,
                &callvault_pki::demo_clients(),
                time::OffsetDateTime::now_utc(),
            )
            .with_context(|| format!("creating a development PKI in {}", out.display()))?;
            println!(
                "development PKI (NOT SITHS; for tests and demos) in {}",
                pki.dir.display()
            );
            println!("  trust anchor:   {}", pki.root_ca.display());
            println!(
                "  issuing CAs:    {} (persons), {} (systems)",
                pki.person_ca.display(),
                pki.function_ca.display()
            );
            println!(
                "  server:         {} + {}",
                pki.server_chain.display(),
                pki.server_key.display()
            );
            for c in &pki.crls {
                println!("  CRL:            {}", c.display());
            }
            for (name, chain, key, p12) in &pki.clients {
                println!(
                    "  {name:<15} {} {} {}",
                    chain.display(),
                    key.display(),
                    p12.display()
                );
            }
            println!("PKCS#12 password: {}", callvault_pki::DEV_P12_PASSWORD);
            Ok(ExitCode::SUCCESS)
        }
        Command::CareProvider {
            command: CareProviderCommand::Add { data_dir, hsa_id },
        } => {
            let cp =
                CareProvider::parse(&hsa_id).with_context(|| format!("--hsa-id {hsa_id:?}"))?;
            let v = open(&data_dir)?;
            v.ensure_care_provider(&cp, &callvault_vault::vault_operator())?;
            println!(
                "care provider {cp} registered: keys created, retention {} years",
                v.catalog()
                    .care_provider_retention(&cp)?
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            data_dir,
            recordings,
            listen,
            no_serve,
        } => run_demo(&data_dir, recordings, &listen, no_serve),
    }
}

fn import(v: &Vault, manifest: &Path) -> Result<ImportSummary> {
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

fn verify(v: &Vault, deep: bool) -> Result<VerifyReport> {
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

fn print_status(s: &StatusReport) {
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

fn audit(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Checkpoint { data_dir } => {
            let v = open(&data_dir)?;
            let c = v.checkpoint()?;
            print!("{}", c.note);
            Ok(code(report_witnesses(&v)))
        }
        AuditCommand::Witness { data_dir } => {
            let v = open(&data_dir)?;
            if v.witnesses().is_empty() {
                bail!(
                    "no [[witnesses]] in {}",
                    data_dir.join("callvault.toml").display()
                );
            }
            Ok(code(report_witnesses(&v)))
        }
        AuditCommand::Verify { data_dir } => {
            let v = open_for_reading(&data_dir)?;
            let r = v.verify_audit_log()?;
            println!(
                "audit: {} events, {} signed checkpoints checked",
                r.audit_events, r.checkpoints
            );
            for p in &r.problems {
                println!("  {p}");
            }
            if r.is_clean() {
                println!("OK: audit log matches every signed checkpoint");
            }
            Ok(code(r.is_clean()))
        }
        AuditCommand::Proof {
            data_dir,
            index,
            old_size,
        } => {
            let v = open_for_reading(&data_dir)?;
            let actor = callvault_vault::vault_operator();
            if let Some(i) = index {
                let p = v.inclusion_proof(i)?;
                v.record_audit_read(&actor, "inclusion proof")?;
                println!("inclusion proof");
                println!("index: {}", p.index);
                println!("tree_size: {}", p.checkpoint.size);
                println!("leaf_hash: {}", B64.encode(p.leaf_hash));
                for h in &p.proof {
                    println!("hash: {}", B64.encode(h));
                }
                println!("checkpoint:");
                print!("{}", p.checkpoint.note);
            } else if let Some(m) = old_size {
                let p = v.consistency_proof(m)?;
                v.record_audit_read(&actor, "consistency proof")?;
                println!("consistency proof");
                println!("old_size: {}", p.old.size);
                println!("new_size: {}", p.new.size);
                for h in &p.proof {
                    println!("hash: {}", B64.encode(h));
                }
                println!("old checkpoint:");
                print!("{}", p.old.note);
                println!("new checkpoint:");
                print!("{}", p.new.note);
            } else {
                bail!("give --index or --old-size");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Events { data_dir, last } => {
            let v = open_for_reading(&data_dir)?;
            let size = v.catalog().audit_size()?;
            let start = size.saturating_sub(last);
            let mut lines = Vec::new();
            v.catalog()
                .for_each_audit_leaf(start, size, &mut |idx, data, _| {
                    lines.push(match callvault_audit::event::AuditEvent::decode(data) {
                        _ if data.is_empty() => {
                            format!("{idx:>6}  <pruned: beyond the audit log's retention>")
                        }
                        Ok(e) => describe_event(idx, &e),
                        Err(err) => format!("{idx:>6}  <does not decode: {err}>"),
                    });
                    Ok(())
                })?;
            v.record_audit_read(&callvault_vault::vault_operator(), "latest events")?;
            for l in lines {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifierKey { data_dir } => {
            // Without the lock: the key is needed beside a running server too.
            println!("{}", Vault::read_verifier_key(&data_dir)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn assignments(cmd: AssignmentsCommand) -> Result<ExitCode> {
    match cmd {
        AssignmentsCommand::Import { data_dir, file } => {
            let v = open(&data_dir)
                .context("import while the server is stopped (it holds the data directory)")?;
            let done = v.import_assignments(&file, &callvault_vault::vault_operator())?;
            println!(
                "registered {} new users; requested {} assignments, each awaiting a privilege administrator's approval (sha256 {}, audit leaf {})",
                done.users_registered,
                done.requested.len(),
                done.sha256,
                done.leaf_index
            );
            for id in &done.requested {
                println!("  requested {id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AssignmentsCommand::List {
            data_dir,
            care_provider,
        } => {
            let v = open(&data_dir)?;
            let cp = care_provider
                .as_deref()
                .map(callvault_types::CareProvider::parse)
                .transpose()
                .context("--care-provider")?;
            let rows =
                v.list_assignments_as_operator(cp.as_ref(), &callvault_vault::vault_operator())?;
            let now = time::OffsetDateTime::now_utc();
            let day = |t: time::OffsetDateTime| t.date().to_string();
            for r in rows {
                let a = &r.assignment;
                let units: Vec<&str> = a.care_units.iter().map(|u| u.as_str()).collect();
                let in_force = r.state == callvault_vault::governance::AssignmentState::Approved
                    && a.valid_from <= now
                    && now < a.valid_until;
                println!(
                    "{}  {}  {}  units [{}]  {}  rights [{}]  {} .. {}  {}{}  requested by {}{}",
                    a.id,
                    a.holder,
                    a.care_provider,
                    units.join(", "),
                    a.purpose,
                    a.rights.join(", "),
                    day(a.valid_from),
                    day(a.valid_until),
                    r.state.as_str(),
                    if in_force { " (in force)" } else { "" },
                    a.requested_by,
                    r.decision
                        .as_ref()
                        .map(|d| format!(", decided by {}", d.by))
                        .unwrap_or_default(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn deletion(cmd: DeletionCommand) -> Result<ExitCode> {
    match cmd {
        DeletionCommand::VerifyCertificate { file, key } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let verifier = callvault_vault::records::verifier_from_key(&key)?;
            let v = callvault_vault::records::verify_certificate(&verifier, &json)?;
            println!(
                "OK: deletion certificate of order {} verifies: {} recordings destroyed, each shred event included in the signed checkpoint",
                v.order,
                v.recordings.len()
            );
            for r in &v.recordings {
                println!("  destroyed {r}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DeletionCommand::Resume { data_dir } => {
            let v = open(&data_dir)?;
            let done = v.resume_deletions(&callvault_vault::vault_operator())?;
            if done.is_empty() {
                println!("no interrupted deletion order");
            }
            for id in done {
                println!("finished the interrupted deletion order {id}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Submits the latest checkpoint to every configured witness and reports each outcome on
/// stderr; false if any refused or could not be reached.
fn report_witnesses(v: &Vault) -> bool {
    use callvault_server::witnessing::WitnessOutcome as O;
    let mut ok = true;
    for (name, outcome) in callvault_server::witnessing::submit_to_witnesses(v) {
        match outcome {
            O::Cosigned(t) => eprintln!("witness {name}: cosigned (time {t})"),
            O::UpToDate => eprintln!("witness {name}: had cosigned this checkpoint already"),
            O::Refused(status, m) => {
                ok = false;
                eprintln!(
                    "WITNESS REFUSED: {name} answered {status}: {m} — the log may have forked; investigate"
                );
            }
            O::Failed(m) => {
                ok = false;
                eprintln!(
                    "witness {name}: not cosigned ({m}); retry with `callvault audit witness`"
                );
            }
        }
    }
    ok
}

fn witness(cmd: WitnessCommand) -> Result<ExitCode> {
    match cmd {
        WitnessCommand::Keygen { name, out } => {
            let (cosigner, key) = callvault_audit::cosignature::Cosigner::generate(&name)
                .map_err(|e| anyhow::anyhow!("--name {name:?}: {e}"))?;
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                f.write_all(format!("{key}\n").as_bytes())
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            println!("{}", cosigner.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Serve { config } => {
            let cfg = callvault_server::witness::WitnessConfig::load(&config)?;
            let name = cfg.cosigner.name().to_owned();
            callvault_server::witness::run_witness(cfg, |addrs| {
                for a in addrs {
                    println!("callvault witness {name} listening on https://{a}/add-checkpoint");
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn governance(cmd: GovernanceCommand) -> Result<ExitCode> {
    match cmd {
        GovernanceCommand::Bootstrap {
            data_dir,
            care_provider,
            admins,
        } => {
            let cp =
                callvault_types::CareProvider::parse(&care_provider).context("--care-provider")?;
            if admins.len() != 6 {
                bail!("give --admin HSA-ID NAME TITLE exactly twice, for two different persons");
            }
            let mut users = Vec::new();
            for a in admins.chunks(3) {
                users.push(
                    callvault_auth::UserEntry::new(&a[0], &a[1], &a[2], cp.as_str())
                        .map_err(|e| anyhow::anyhow!("--admin {}: {e}", a[0]))?,
                );
            }
            let v = open(&data_dir)
                .context("bootstrap while the server is stopped (it holds the data directory)")?;
            let r = v.bootstrap_administrators(
                &cp,
                [&users[0], &users[1]],
                &callvault_vault::vault_operator(),
            )?;
            println!(
                "installed the first privilege administrators of {cp}: {} (assignments {}, audit leaf {})",
                users
                    .iter()
                    .map(|u| u.hsa_id.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                r.assignment.unwrap_or_default(),
                r.leaf_index
            );
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Review {
            data_dir,
            care_provider,
            format,
        } => {
            let cp =
                callvault_types::CareProvider::parse(&care_provider).context("--care-provider")?;
            if !matches!(format.as_str(), "text" | "csv" | "json") {
                bail!("--format {format:?} is not one of: text, csv, json");
            }
            let v = open(&data_dir)?;
            let review = v.access_review_as_operator(&cp, &callvault_vault::vault_operator())?;
            match format.as_str() {
                "csv" => print!("{}", review.to_csv()?),
                "json" => println!("{}", review.to_json()),
                _ => print!("{}", review.to_text()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keys(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Create {
            data_dir,
            care_provider,
        } => {
            let cp = CareProvider::parse(&care_provider)
                .with_context(|| format!("--care-provider {care_provider:?}"))?;
            let v = open(&data_dir)?;
            v.ensure_care_provider(&cp, &callvault_vault::vault_operator())?;
            let years = v
                .catalog()
                .care_provider_retention(&cp)?
                .unwrap_or_default();
            let s = v.status()?;
            println!(
                "{cp}: keys in {} (KEK v{} current); registered, retention {years} years",
                s.key_backend,
                s.keks
                    .iter()
                    .filter(|k| k.care_provider == cp && k.current)
                    .map(|k| k.version.0)
                    .next()
                    .unwrap_or(1)
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { data_dir } => {
            let s = open(&data_dir)?.status()?;
            println!("key backend: {}", s.key_backend);
            for k in &s.keks {
                println!(
                    "{} v{}{}",
                    k.care_provider,
                    k.version.0,
                    if k.current { " current" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate {
            data_dir,
            care_provider,
        } => {
            let cp = CareProvider::parse(&care_provider)
                .with_context(|| format!("--care-provider {care_provider:?}"))?;
            let v = open(&data_dir)?;
            let mut pb: Option<ProgressBar> = None;
            let (version, n) =
                v.rotate_keys(&cp, &callvault_vault::vault_operator(), |done, total| {
                    pb.get_or_insert_with(|| bar(total, "re-wrapping"))
                        .set_position(done);
                })?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            println!("{cp}: KEK v{version} is current; re-wrapped {n} data keys (audio untouched)");
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::DestroyRetired {
            data_dir,
            care_provider,
        } => {
            let cp = CareProvider::parse(&care_provider)
                .with_context(|| format!("--care-provider {care_provider:?}"))?;
            let v = open(&data_dir)?;
            let gone = v.destroy_retired_keys(&cp, &callvault_vault::vault_operator())?;
            if gone.is_empty() {
                println!("{cp}: no retired KEK version is free of data keys; nothing destroyed");
            }
            for version in gone {
                println!("{cp}: destroyed KEK v{version} (no data key used it)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_demo(data_dir: &Path, recordings: usize, listen: &str, no_serve: bool) -> Result<ExitCode> {
    let fresh = !data_dir.join(callvault_vault::config::CONFIG_FILE).exists();
    let cps = demo::CARE_PROVIDERS
        .iter()
        .map(|(cp, _, _)| CareProvider::parse(cp))
        .collect::<Result<Vec<_>, _>>()?;
    let v = if fresh {
        let v = Vault::init(data_dir, "audit.callvault.demo.example", &cps)?;
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

/// One line per event; patients appear only as a blind-index prefix, sealed values never.
fn describe_event(idx: u64, e: &callvault_audit::event::AuditEvent) -> String {
    use callvault_audit::event::Outcome;
    let time = e
        .time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let outcome = match &e.outcome {
        Outcome::Granted => "granted".to_owned(),
        Outcome::Denied(r) => format!("DENIED ({r})"),
        Outcome::Failed(r) => format!("failed ({r})"),
    };
    let mut parts = vec![format!(
        "{idx:>6}  {time}  {}  {}  {outcome}",
        e.actor,
        e.action.code()
    )];
    if let Some(r) = &e.recording {
        parts.push(format!("recording {}", r.id));
    }
    if let Some(p) = &e.purpose {
        parts.push(format!("purpose \"{p}\""));
    }
    if let Some(p) = &e.patient {
        let prefix: String = p.blind_index[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        parts.push(format!("patient #{prefix}"));
    }
    for (k, v) in &e.details {
        if !k.ends_with("_sealed") {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(100_000), "97.7 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }
}
