//! What the fuzz targets share: the leak oracle for error messages and the in-process
//! upload route (a real vault in a temporary directory behind the real router).

use std::path::Path;
use std::sync::Arc;

use callvault_auth::{AssignmentSpec, AuthenticatedPrincipal, PrincipalKind, UserEntry};
use callvault_server::{AppState, Limits, app};
use callvault_types::{CareProvider, HsaId};
use callvault_vault::Vault;
use callvault_vault::governance::ScriptedAdmins;

/// A personal identity number, phone number or other long number in `message`: a run of at
/// least ten digits (separated by nothing, `-`, `+` or a space) that does not belong to an
/// HSA-ID (letters right before it, as in `SE2321000016-1177`). Error messages may name
/// fields and HSA-IDs, never a patient's or caller's number.
pub fn long_number(message: &str) -> Option<String> {
    let b = message.as_bytes();
    let in_run = |c: u8| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b' ');
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        while j < b.len() && in_run(b[j]) {
            j += 1;
        }
        let hsa_id = start > 0 && b[start - 1].is_ascii_alphabetic();
        let digits = b[start..j].iter().filter(|c| c.is_ascii_digit()).count();
        if !hsa_id && digits >= 10 {
            return Some(message[start..j].to_owned());
        }
        i = j;
    }
    None
}

/// Panics if an error message shows a long number (see [`long_number`]) whose digits come
/// from `input` — a patient's or caller's number echoed back. (Messages may carry fixed
/// examples such as `+46701234567`; those are not the input's.)
pub fn assert_no_long_number(what: &str, message: &str, input: &[u8]) {
    let input_digits: Vec<u8> = input.iter().copied().filter(u8::is_ascii_digit).collect();
    let mut rest = message;
    while let Some(n) = long_number(rest) {
        let digits: Vec<u8> = n.bytes().filter(u8::is_ascii_digit).collect();
        if input_digits
            .windows(digits.len())
            .any(|w| w == digits.as_slice())
        {
            panic!("{what} shows the input's number {n:?}: {message}");
        }
        let at = rest.find(&n).map_or(rest.len(), |i| i + n.len());
        rest = &rest[at..];
    }
}

/// The manifest targets' oracle: every row valid or refused with its line, paths under the
/// manifest's directory, and no refusal showing the input's numbers.
pub fn check_manifest(data: &[u8], format: callvault_vault::manifest::ManifestFormat) {
    // A manifest is read as UTF-8 text (anything else is refused before parsing).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count() as u64;
    match callvault_vault::manifest::parse(text, format, Path::new("/archive")) {
        Err(e) => assert_no_long_number("a manifest refusal", &e.to_string(), data),
        Ok(rows) => {
            for row in rows {
                match row {
                    Ok(r) => {
                        assert!(r.path.starts_with("/archive"), "{}", r.path.display());
                        assert!(r.line >= 1 && r.line <= lines.max(1) + 1, "line {}", r.line);
                    }
                    Err(e) => assert_no_long_number("a manifest row error", &e.reason, data),
                }
            }
        }
    }
}

/// The care provider, unit and recorder of the upload world.
pub const CARE_PROVIDER: &str = "SE2321000016-0001";
/// The care unit uploads are for.
pub const CARE_UNIT: &str = "SE2321000016-1177";
/// The recorder's HSA-ID (a system with the `ingest` right).
pub const RECORDER: &str = "SE2321000016-R001";
/// The multipart boundary every upload_route input is framed with.
pub const BOUNDARY: &str = "cvfuzz";

/// A vault behind the real router, and a recorder allowed to ingest into it.
pub struct UploadWorld {
    /// The router's runtime.
    pub rt: tokio::runtime::Runtime,
    /// The vault.
    pub vault: Arc<Vault>,
    /// The router.
    pub router: axum::Router,
    /// The recorder, as the TLS layer would name it after a verified handshake.
    pub recorder: AuthenticatedPrincipal,
    /// The data directory.
    pub data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for UploadWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UploadWorld({})", self.data.display())
    }
}

fn principal(hsa: &str, kind: PrincipalKind, n: u8) -> AuthenticatedPrincipal {
    AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse(hsa).expect("hsa"),
        kind,
        [n; 32],
    )
}

fn assignments(dir: &Path) -> std::path::PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let (from, until) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::days(365)),
    );
    let user = UserEntry::new(RECORDER, "Inspelningssystem", "System", CARE_PROVIDER)
        .expect("user")
        .to_toml();
    let spec = AssignmentSpec {
        id: "recorder",
        holder: RECORDER,
        care_provider: CARE_PROVIDER,
        care_units: &[],
        purpose: "vård och behandling",
        rights: &["ingest"],
        valid_from: &from,
        valid_until: &until,
    }
    .to_toml();
    let file = dir.join("assignments.toml");
    std::fs::write(&file, format!("{user}{spec}")).expect("assignments");
    file
}

impl UploadWorld {
    /// Makes the vault (two site directories, key files, SQLite), installs two
    /// administrators, and has the second approve the recorder's ingest assignment.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = CareProvider::parse(CARE_PROVIDER).expect("cp");
        let data = dir.path().join("data");
        let vault =
            Vault::init(&data, "audit.fuzz.example", std::slice::from_ref(&cp)).expect("init");
        let admins = [ScriptedAdmins {
            care_provider: cp.clone(),
            admins: ["SE2321000016-A001", "SE2321000016-A002"].map(|h| {
                UserEntry::new(h, "Admin", "Behörighetsadministratör", CARE_PROVIDER)
                    .expect("admin")
            }),
            approver: principal("SE2321000016-A002", PrincipalKind::Person, 2),
        }];
        vault
            .scripted_setup(
                &admins,
                &assignments(dir.path()),
                &callvault_vault::vault_operator(),
            )
            .expect("governance");
        let vault = Arc::new(vault);
        let limits = Limits {
            max_audio_bytes: 1 << 20,
            ..Limits::default()
        };
        let state = AppState::new(Arc::clone(&vault), vault.policy().expect("policy"), limits);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            rt,
            vault,
            router: app(state),
            recorder: principal(RECORDER, PrincipalKind::System, 1),
            data,
            _dir: dir,
        }
    }

    /// Files at both sites (stored blobs and temporaries).
    pub fn site_files(&self) -> usize {
        ["a", "b"]
            .iter()
            .map(|s| count_files(&self.data.join("sites").join(s)))
            .sum()
    }

    /// Temporary files at both sites.
    pub fn temporaries(&self) -> usize {
        ["a", "b"]
            .iter()
            .map(|s| count_files(&self.data.join("sites").join(s).join("tmp")))
            .sum()
    }
}

impl Default for UploadWorld {
    fn default() -> Self {
        Self::new()
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

/// A multipart upload body as a recorder frames it (the seed shape of upload_route).
pub fn multipart_body(metadata: &str, audio: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\
             Content-Type: application/json\r\n\r\n{metadata}\r\n--{BOUNDARY}\r\n\
             Content-Disposition: form-data; name=\"audio\"; filename=\"call.wav\"\r\n\
             Content-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::long_number;

    #[test]
    fn long_numbers_are_found_and_hsa_ids_are_not() {
        assert_eq!(
            long_number("patient 19121212-1212 bad"),
            Some("19121212-1212 ".into())
        );
        assert_eq!(
            long_number("+46 70 987 65 43"),
            Some("46 70 987 65 43".into())
        );
        assert_eq!(long_number("care unit SE2321000016-1177 is not"), None);
        assert_eq!(
            long_number("line 12: metadata is larger than 65536 bytes"),
            None
        );
    }
}

/// The fixed keys and data the seed corpora are made with (`cargo run --example seeds`),
/// shared with the targets whose oracle is "only what we signed or encrypted is accepted".
/// Test keys only: the log key is the note specification's published example key.
pub mod seeds {
    use callvault_audit::merkle::{Hash, leaf_hash};

    /// The data key of `blob_decode`'s authentic blob.
    pub const BLOB_KEY: [u8; 32] = [0x42; 32];
    /// Its recording id.
    pub const BLOB_RECORDING: [u8; 16] = [0x11; 16];
    /// Its data key id.
    pub const BLOB_DEK_ID: [u8; 16] = [0x22; 16];

    /// The plaintext of the authentic blob: 3,000 bytes, one segment.
    pub fn blob_plaintext() -> Vec<u8> {
        (0..3000u32).map(|i| (i % 251) as u8).collect()
    }

    /// The audit log's signing key (the signed-note specification's example key).
    pub const LOG_SIGNER_KEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    /// Its verifier key.
    pub const LOG_VERIFIER_KEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    /// A witness's cosigning key (seed 7 × 32, pinned in the audit crate's known-answer test).
    pub const WITNESS_SIGNER_KEY: &str =
        "PRIVATE+KEY+witness.example/w1+aa4a09d1+BAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH";
    /// Its verifier key.
    pub const WITNESS_VERIFIER_KEY: &str =
        "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";

    /// The log the checkpoint targets are about: leaf `i` is the hash of `i` (8 bytes).
    pub fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// The size the witness of `witness_request` last cosigned.
    pub const WITNESS_SEEN: u64 = 5;
}
