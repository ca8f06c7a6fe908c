//! `callvault assignments …` and `callvault governance …`: users and assignments from the
//! operator's side (bootstrap, file import, listings).

use super::*;

pub(super) fn assignments(cmd: AssignmentsCommand) -> Result<ExitCode> {
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

pub(super) fn governance(cmd: GovernanceCommand) -> Result<ExitCode> {
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
