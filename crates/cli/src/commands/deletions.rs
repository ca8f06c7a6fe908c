//! `callvault deletion …`: resuming deletion orders and checking deletion certificates.

use super::*;

pub(super) fn deletion(cmd: DeletionCommand) -> Result<ExitCode> {
    match cmd {
        DeletionCommand::VerifyCertificate { file, key } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let verifier = callvault_vault::records_management::verifier_from_key(&key)?;
            let v = callvault_vault::records_management::verify_certificate(&verifier, &json)?;
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
