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

mod audit;
mod deletions;
mod governance;
mod keys;
mod local;

use audit::*;
use deletions::*;
use governance::*;
use keys::*;
use local::*;

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
