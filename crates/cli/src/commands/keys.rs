//! `callvault keys …`: key rotation, retired-key destruction, key listings.

use super::*;

pub(super) fn keys(cmd: KeysCommand) -> Result<ExitCode> {
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
