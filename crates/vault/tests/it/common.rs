//! Shared helpers: a vault in a temporary directory and generated WAV archives.

use std::path::{Path, PathBuf};

use callvault_vault::Vault;
use callvault_vault::manifest::FIELDS;
use callvault_vault::wav;

/// A distinctive 32-byte sequence written into every generated recording's audio, so that
/// a breach scan can look for audio bytes.
pub const AUDIO_MARKER: &[u8; 32] = b"\x13\x37AUDIO-MARKER-callvault-tes\xC0\xFF\xEE\x42";

pub const CP_A: &str = "SE2321000016-0001";
pub const UNIT_A: &str = "SE2321000016-1177";
pub const CP_B: &str = "SE2321000156-0001";
pub const UNIT_B: &str = "SE2321000156-1177";

/// A checksum-valid personnummer (YYYYMMDD-NNNC) for test person `i`.
pub fn pnr(i: u64) -> String {
    callvault_vault::demo::personnummer(i + 1000)
}

/// PCM 16-bit mono WAV of `frames` samples, whose audio repeats AUDIO_MARKER and a
/// per-file counter.
pub fn wav_bytes(frames: usize, seed: u8) -> Vec<u8> {
    let mut data = Vec::with_capacity(frames * 2);
    while data.len() < frames * 2 {
        data.extend_from_slice(AUDIO_MARKER);
        data.extend_from_slice(&[seed; 32]);
    }
    data.truncate(frames * 2);
    let mut out = wav::header(1, 1, 8000, 16, data.len() as u32);
    out.extend_from_slice(&data);
    out
}

pub struct TestVault {
    pub dir: tempfile::TempDir,
    pub vault: Vault,
}

impl TestVault {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = Vault::init(
            &dir.path().join("data"),
            "audit.callvault.test.example",
            &[
                callvault_types::CareProvider::parse(CP_A).expect("cp"),
                callvault_types::CareProvider::parse(CP_B).expect("cp"),
            ],
        )
        .expect("init");
        Self { dir, vault }
    }

    /// A vault initialised from a configuration text (see `Vault::init_with_config`).
    pub fn init_with(dir: tempfile::TempDir, text: &str) -> Self {
        let vault = Vault::init_with_config(
            &dir.path().join("data"),
            text,
            &[
                callvault_types::CareProvider::parse(CP_A).expect("cp"),
                callvault_types::CareProvider::parse(CP_B).expect("cp"),
            ],
        )
        .expect("init");
        Self { dir, vault }
    }

    /// A vault whose keys are in a fresh SoftHSM2 token (`[keys] backend = "pkcs11"`, PIN
    /// in an owner-only file).
    pub fn with_token() -> (Self, callvault_testkit::softhsm::SoftHsmToken) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (text, token) = token_keys(dir.path(), &default_config());
        (Self::init_with(dir, &text), token)
    }

    /// The whole scale-out stack: a fresh database on the integration suite's PostgreSQL
    /// server as the catalog, two buckets on its two Garage servers as the sites (fresh
    /// prefixes), keys in a fresh SoftHSM2 token.
    pub fn with_scale_out() -> (Self, callvault_testkit::PgDatabase) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (text, _) = token_keys(dir.path(), &default_config());
        let text = garage_sites(dir.path(), &text);
        let (text, db) = postgres_catalog(dir.path(), &text);
        (Self::init_with(dir, &text), db)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn archive(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    /// Closes the vault (joining its catalog writer, releasing its lock) and opens it again.
    pub fn reopen(self) -> Self {
        let Self { dir, vault } = self;
        drop(vault);
        let vault = Vault::open(&dir.path().join("data")).expect("reopen");
        Self { dir, vault }
    }

    /// Writes an archive of `n` recordings (see [`archive`]) and imports it as the operator.
    pub fn import_archive(&self, n: u64, frames: usize) {
        let m = archive(&self.archive(), n, frames);
        self.vault
            .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
            .expect("import");
    }

    /// Closes the vault, keeping its files.
    pub fn close(self) -> tempfile::TempDir {
        drop(self.vault);
        self.dir
    }
}

/// One manifest row: (file name, call id, care provider, care unit, started_at, patient,
/// caller, nurse).
pub struct Row<'a> {
    pub file: &'a str,
    pub call_id: String,
    pub cp: &'a str,
    pub unit: &'a str,
    pub patient: String,
    pub caller: String,
}

pub fn row<'a>(file: &'a str, i: u64) -> Row<'a> {
    Row {
        file,
        call_id: format!("call-{i}"),
        cp: if i.is_multiple_of(2) { CP_A } else { CP_B },
        unit: if i.is_multiple_of(2) { UNIT_A } else { UNIT_B },
        patient: pnr(i),
        caller: format!("+4670{:07}", 5_550_000 + i),
    }
}

pub fn write_manifest(dir: &Path, name: &str, rows: &[Row<'_>]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut text = FIELDS.join(",");
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},2026-05-04T10:00:00Z,{},{},SE2321000016-N001\n",
            r.file, r.call_id, r.cp, r.unit, r.patient, r.caller
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("manifest");
    path
}

/// Writes `n` WAV files and a manifest for them; returns the manifest path.
pub fn archive(dir: &Path, n: u64, frames: usize) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let names: Vec<String> = (0..n).map(|i| format!("r{i}.wav")).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(dir.join(name), wav_bytes(frames, i as u8)).expect("wav");
    }
    let rows: Vec<Row<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| row(n, i as u64))
        .collect();
    write_manifest(dir, "manifest.csv", &rows)
}

pub use callvault_testkit::Unwritable;

/// A care-and-treatment assignment (search, view, play) valid through 2026; the tests that
/// use it decide at a fixed instant inside that year.
pub fn care_assignment(id: &str, holder: &str, cp: &str, unit: &str) -> String {
    callvault_auth::AssignmentSpec {
        id,
        holder,
        care_provider: cp,
        care_units: &[unit],
        purpose: "vård och behandling",
        rights: &["search", "view-metadata", "play"],
        valid_from: "2026-01-01T00:00:00Z",
        valid_until: "2026-12-31T00:00:00Z",
    }
    .to_toml()
}

/// An assignment file entry without care units (investigation, log review, a recorder),
/// valid through 2026.
pub fn wide_assignment(id: &str, holder: &str, cp: &str, purpose: &str, rights: &[&str]) -> String {
    callvault_auth::AssignmentSpec {
        id,
        holder,
        care_provider: cp,
        care_units: &[],
        purpose,
        rights,
        valid_from: "2026-01-01T00:00:00Z",
        valid_until: "2026-12-31T00:00:00Z",
    }
    .to_toml()
}

/// The catalogued id of manifest row `i` (see [`row`]).
pub fn id_of(t: &TestVault, i: u64) -> callvault_types::RecordingId {
    let r = row("x", i);
    t.vault
        .catalog()
        .recording_by_call(
            &callvault_types::CareProvider::parse(r.cp).expect("cp"),
            &callvault_types::CallId::parse(&r.call_id).expect("call"),
        )
        .expect("q")
        .expect("row")
        .rec
        .id
}

fn default_config() -> String {
    callvault_vault::config::Config::default_toml("audit.callvault.test.example")
}

/// Replaces the `[keys]` section with a fresh SoftHSM2 token's (PIN in a 0600 file).
pub fn token_keys(dir: &Path, text: &str) -> (String, callvault_testkit::softhsm::SoftHsmToken) {
    let token = callvault_testkit::softhsm::softhsm_token();
    let pin_file = dir.join("hsm.pin");
    callvault_crypto::write_secret_file(&pin_file, format!("{}\n", token.pin).as_bytes())
        .expect("pin file");
    let replaced = text.replace(
        "[keys]\nbackend = \"files\"\ndir = \"keys\"\n",
        &format!(
            "[keys]\nbackend = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"{}\"\npin_file = \"{}\"\nmax_sessions = 4\n",
            callvault_testkit::softhsm::SOFTHSM_MODULE,
            token.label,
            pin_file.display()
        ),
    );
    assert_ne!(replaced, text, "default configuration changed shape");
    (replaced, token)
}

/// Replaces the two directory sites with buckets on the two Garage servers, each under a
/// fresh prefix (secret in a 0600 file).
pub fn garage_sites(dir: &Path, text: &str) -> String {
    let g = callvault_testkit::garage_env();
    let secret_file = dir.join("s3.secret");
    callvault_crypto::write_secret_file(&secret_file, format!("{}\n", g.secret).as_bytes())
        .expect("secret file");
    let prefix = format!("t-{}/", callvault_testkit::unique_suffix());
    let mut out = text.to_owned();
    for (i, name) in ["a", "b"].iter().enumerate() {
        let dir_site =
            format!("[[sites]]\nname = \"{name}\"\nbackend = \"dir\"\npath = \"sites/{name}\"\n");
        let s3_site = format!(
            "[[sites]]\nname = \"{name}\"\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key_file = \"{}\"\nprefix = \"{prefix}\"\npart_size_mib = 5\nallow_http = true\ntimeout_secs = 10\n",
            g.endpoints[i],
            g.buckets[i],
            g.key_id,
            secret_file.display()
        );
        assert!(
            out.contains(&dir_site),
            "default configuration changed shape"
        );
        out = out.replace(&dir_site, &s3_site);
    }
    out
}

/// Replaces the SQLite catalog with a fresh PostgreSQL database (password in a 0600 file).
pub fn postgres_catalog(dir: &Path, text: &str) -> (String, callvault_testkit::PgDatabase) {
    let db = callvault_testkit::pg_database();
    let password_file = dir.join("pg.password");
    callvault_crypto::write_secret_file(&password_file, format!("{}\n", db.password).as_bytes())
        .expect("password file");
    let replaced = text.replace(
        "[catalog]\nbackend = \"sqlite\"\npath = \"catalog/catalog.sqlite3\"\n",
        &format!(
            "[catalog]\nbackend = \"postgres\"\nconninfo = \"{}\"\npassword_file = \"{}\"\nreaders = 4\n",
            db.conninfo,
            password_file.display()
        ),
    );
    assert_ne!(replaced, text, "default configuration changed shape");
    (replaced, db)
}
