//! `callvault audit …` and `callvault witness …`: the audit log, its proofs and its witnesses.

use super::*;

pub(super) fn audit(cmd: AuditCommand) -> Result<ExitCode> {
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

/// Submits the latest checkpoint to every configured witness and reports each outcome on
/// stderr; false if any refused or could not be reached.
pub(super) fn report_witnesses(v: &Vault) -> bool {
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

pub(super) fn witness(cmd: WitnessCommand) -> Result<ExitCode> {
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

/// One line per event; patients appear only as a blind-index prefix, sealed values never.
pub(super) fn describe_event(idx: u64, e: &callvault_audit::event::AuditEvent) -> String {
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
