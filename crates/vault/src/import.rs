//! Bulk import of a legacy archive from a manifest.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use crate::ingest::{IngestEnd, IngestGrant, IngestStart};
use crate::manifest::{self, ManifestError, ManifestRow, RowError};
use crate::{Operator, Vault, VaultError, wav};

/// What happened to one manifest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// Imported now.
    Imported {
        /// Sites that failed (repair tasks recorded).
        failed_sites: Vec<String>,
    },
    /// Imported by an earlier run with identical content.
    AlreadyImported,
    /// Refused, with the reason.
    Failed(RowError),
}

/// Summary of an import run.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Rows in the manifest.
    pub rows: u64,
    /// Imported now.
    pub imported: u64,
    /// Skipped as already imported.
    pub skipped: u64,
    /// Imported but under-replicated.
    pub under_replicated: u64,
    /// Failed rows with reasons.
    pub failures: Vec<RowError>,
    /// Plaintext bytes imported now.
    pub bytes: u64,
}

fn hash_file(path: &Path) -> Result<[u8; 32], std::io::Error> {
    let mut f = File::open(path)?;
    let mut h = callvault_crypto::Sha256::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

impl Vault {
    /// Imports one manifest row.
    pub fn import_row(&self, row: &ManifestRow, operator: &Operator) -> RowOutcome {
        let fail = |reason: String| {
            RowOutcome::Failed(RowError {
                line: row.line,
                reason,
            })
        };
        // Legacy archives may name files after a personnummer or phone number: such a name is
        // never shown (reasons say "the file" and the line number identifies it); any other
        // path is.
        let shown = row.path.display().to_string();
        let file_name = if callvault_types::redact::holds_long_number(&shown) {
            "the file (its name holds a long number and is not shown)".to_owned()
        } else {
            shown
        };
        // Resumability: the same call id again is skipped if the content is identical.
        match self
            .catalog
            .recording_by_call(&row.care_provider, &row.call_id)
        {
            Ok(Some(existing)) => {
                return match hash_file(&row.path) {
                    Ok(h) if h == existing.rec.plaintext_sha256 => RowOutcome::AlreadyImported,
                    Ok(_) => fail(format!(
                        "call id {} is already imported with different content (recording {})",
                        row.call_id, existing.rec.id
                    )),
                    Err(e) => fail(format!("cannot read {file_name}: {e}")),
                };
            }
            Ok(None) => {}
            Err(e) => return fail(format!("catalog: {e}")),
        }
        let mut file = match File::open(&row.path) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot open {file_name}: {e}")),
        };
        let len = match file.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return fail(format!("{file_name} is not a regular file")),
            Err(e) => return fail(format!("cannot read {file_name}: {e}")),
        };
        let info = match wav::check_header(BufReader::new(&mut file), len) {
            Ok(i) => i,
            Err(e) => return fail(format!("{file_name}: {e}")),
        };
        if let Err(e) = file.seek(SeekFrom::Start(0)) {
            return fail(format!("cannot read {file_name}: {e}"));
        }
        let start = IngestStart {
            care_provider: row.care_provider.clone(),
            care_unit: row.care_unit.clone(),
            call_id: row.call_id.clone(),
            started_at: row.started_at,
            patient: Some(row.patient.clone()),
            caller: row.caller.clone(),
            nurse: row.nurse.clone(),
            codec: info.codec.to_owned(),
            sample_rate: info.sample_rate,
            channels: info.channels,
        };
        let end = IngestEnd {
            duration_ms: info.duration_ms,
            min_len: info.header_len + info.data_len,
            incomplete: None,
        };
        match self.ingest_from(IngestGrant::Operator(operator), start, end, file) {
            Ok(o) => RowOutcome::Imported {
                failed_sites: o.sites_failed.into_iter().map(|(s, _)| s).collect(),
            },
            Err(VaultError::Catalog(callvault_catalog::CatalogError::DuplicateCall { .. })) => {
                fail(format!("call id {} was imported concurrently", row.call_id))
            }
            Err(e) => fail(e.to_string()),
        }
    }

    /// Imports every row of a manifest. `progress(row_index, total, bytes_so_far)` is called
    /// after each row. Bad rows are collected; good rows go on.
    pub fn import_manifest(
        &self,
        manifest_path: &Path,
        operator: &Operator,
        mut progress: impl FnMut(u64, u64, &RowOutcome),
    ) -> Result<ImportSummary, ManifestError> {
        let rows = manifest::read(manifest_path)?;
        let total = rows.len() as u64;
        let mut s = ImportSummary {
            rows: total,
            ..Default::default()
        };
        for (i, row) in rows.into_iter().enumerate() {
            let outcome = match row {
                Ok(row) => {
                    let size = std::fs::metadata(&row.path).map(|m| m.len()).unwrap_or(0);
                    let o = self.import_row(&row, operator);
                    if matches!(o, RowOutcome::Imported { .. }) {
                        s.bytes += size;
                    }
                    o
                }
                Err(e) => RowOutcome::Failed(e),
            };
            match &outcome {
                RowOutcome::Imported { failed_sites } => {
                    s.imported += 1;
                    if !failed_sites.is_empty() {
                        s.under_replicated += 1;
                    }
                }
                RowOutcome::AlreadyImported => s.skipped += 1,
                RowOutcome::Failed(e) => s.failures.push(e.clone()),
            }
            progress(i as u64 + 1, total, &outcome);
        }
        Ok(s)
    }
}
