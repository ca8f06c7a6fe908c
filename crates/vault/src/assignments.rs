//! Assignments (medarbetaruppdrag) installed into the data directory: `callvault
//! assignments import` validates a file, records an audited `assignments.import` event that
//! fixes the file's SHA-256, and only then puts it in place as `assignments.toml` (atomic
//! rename). The server reads that file at start and on SIGHUP and records which one it
//! applied (`assignments.load`), so the audit log tells which privileges were in force when.
//!
//! Until the governance issue adds the four-eyes workflow, this is the import path.

use std::path::{Path, PathBuf};

use callvault_audit::event::{Action, Actor, AuditEvent};
use callvault_auth::AssignmentSet;
use callvault_catalog::Change;

use crate::vault::io;
use crate::{Vault, VaultError};

/// The file in the data directory that holds the imported assignments.
pub const ASSIGNMENTS_FILE: &str = "assignments.toml";

/// What an import installed.
#[derive(Clone, Debug)]
pub struct AssignmentsImported {
    /// Where the assignments now live.
    pub path: PathBuf,
    /// Number of assignments.
    pub count: usize,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Leaf index of the import event.
    pub leaf_index: u64,
}

/// Hex SHA-256 of assignment file bytes (as recorded in the audit events).
pub fn file_sha256(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Vault {
    /// Path of the installed assignment file.
    pub fn assignments_path(&self) -> PathBuf {
        self.config.data_dir.join(ASSIGNMENTS_FILE)
    }

    /// Validates `source` in full (syntax, HSA-IDs, purposes, rights, validity) and that
    /// every assignment names a registered care provider; records the import; installs it.
    /// A refused file changes nothing.
    pub fn import_assignments(
        &self,
        source: &Path,
        actor: &Actor,
    ) -> Result<AssignmentsImported, VaultError> {
        let bytes = std::fs::read(source).map_err(|e| VaultError::Input {
            path: source.to_owned(),
            source: e,
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| VaultError::Assignments(format!("{} is not UTF-8", source.display())))?;
        let set = AssignmentSet::parse(text)
            .map_err(|e| VaultError::Assignments(format!("{}: {e}", source.display())))?;
        for a in set.all() {
            if self
                .catalog
                .care_provider_retention(&a.care_provider)?
                .is_none()
            {
                return Err(VaultError::Assignments(format!(
                    "assignment {} names care provider {}, which is not registered in this vault",
                    a.id, a.care_provider
                )));
            }
        }
        let sha256 = file_sha256(&bytes);
        let path = self.assignments_path();
        let tmp = path.with_extension("toml.importing");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(io("write", &tmp))?;
        }
        // The event first: a file in force always has its import recorded.
        let mut e = AuditEvent::new(actor.clone(), Action::AssignmentsImport, "cli")
            .detail("sha256", &sha256)
            .detail("count", set.all().len());
        let mut cps: Vec<String> = set
            .all()
            .iter()
            .map(|a| a.care_provider.to_string())
            .collect();
        cps.sort();
        cps.dedup();
        e = e.detail("care_providers", cps.join(","));
        let committed = match self.catalog.commit(Change::new(e)) {
            Ok(c) => c,
            Err(err) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(err.into());
            }
        };
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        std::fs::File::open(&self.config.data_dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", &self.config.data_dir))?;
        Ok(AssignmentsImported {
            path,
            count: set.all().len(),
            sha256,
            leaf_index: committed.leaf_indexes.first().copied().unwrap_or_default(),
        })
    }

    /// Records that a server put an assignment file in force (at start or on reload).
    pub fn record_assignments_loaded(
        &self,
        path: &Path,
        bytes: &[u8],
        count: usize,
    ) -> Result<u64, VaultError> {
        let e = AuditEvent::new(Actor::Vault, Action::AssignmentsLoad, "server")
            .detail("path", path.display())
            .detail("sha256", file_sha256(bytes))
            .detail("count", count);
        let c = self.catalog.commit(Change::new(e))?;
        c.leaf_indexes
            .first()
            .copied()
            .ok_or_else(|| VaultError::Audit("assignments event was not given a leaf index".into()))
    }
}
