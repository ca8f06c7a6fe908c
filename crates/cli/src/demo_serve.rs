//! The serving half of `callvault demo`: development PKI, demo assignments, server
//! configuration, ready-to-paste curl commands, then `serve`.

use std::path::Path;

use anyhow::{Context, Result};
use callvault_types::{CallId, CareProvider};
use callvault_vault::Vault;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Assignments (medarbetaruppdrag) of the demo users, valid from yesterday for a year.
pub fn assignments(now: OffsetDateTime) -> Result<String> {
    let from = (now - time::Duration::days(1)).format(&Rfc3339)?;
    let until = (now + time::Duration::days(364)).format(&Rfc3339)?;
    let a = |id: &str, holder: &str, cp: &str, units: &[&str], purpose: &str, rights: &[&str]| {
        callvault_auth::AssignmentSpec {
            id,
            holder,
            care_provider: cp,
            care_units: units,
            purpose,
            rights,
            valid_from: &from,
            valid_until: &until,
        }
        .to_toml()
    };
    let (sthlm, [s1, _], _) = callvault_vault::demo::CARE_PROVIDERS[0];
    let (varm, [v1, _], _) = callvault_vault::demo::CARE_PROVIDERS[1];
    let care = "vård och behandling";
    let mut out = String::from(
        "# Demo assignments (medarbetaruppdrag). The governance workflow (four-eyes approval)\n# replaces this file in a later step.\n\n",
    );
    out += &a(
        "nurse-a",
        "SE2321000016-N001",
        sthlm,
        &[s1],
        care,
        &["search", "view-metadata", "play"],
    );
    out += &a(
        "nurse-b",
        "SE2321000156-N001",
        varm,
        &[v1],
        care,
        &["search", "view-metadata", "play"],
    );
    out += &a(
        "investigator-a",
        "SE2321000016-Q001",
        sthlm,
        &[],
        "kvalitetssäkring",
        &["search", "view-metadata", "play"],
    );
    out += &a(
        "reviewer-a",
        "SE2321000016-L001",
        sthlm,
        &[],
        "logguppföljning",
        &["read-audit", "read-access-log"],
    );
    out += &a(
        "admin-a",
        "SE2321000016-A001",
        sthlm,
        &[],
        "administration",
        &["view-metadata"],
    );
    out += &a(
        "recorder-a",
        "SE2321000016-R001",
        sthlm,
        &[],
        care,
        &["ingest"],
    );
    out += &a(
        "recorder-b",
        "SE2321000156-R001",
        varm,
        &[],
        care,
        &["ingest"],
    );
    Ok(out)
}

/// Writes PKI, assignments and server configuration (once), prints how to use them, and
/// returns the server configuration path.
pub fn prepare(vault: &Vault, data_dir: &Path, listen: &str) -> Result<std::path::PathBuf> {
    let pki = data_dir.join("pki");
    if !pki.join("root-ca.pem").exists() {
        callvault_pki::generate(
            &pki,
            &callvault_pki::demo_clients(),
            OffsetDateTime::now_utc(),
        )
        .context("creating the development PKI")?;
    }
    // Example inputs for the curl commands hold (synthetic) patient ids, so they live beside
    // the data directory, never in it: the vault keeps nothing identifying in plaintext.
    let examples = data_dir.with_extension("examples");
    std::fs::create_dir_all(&examples).context("creating the examples directory")?;
    // The demo assignments go in the way an operator's do: `assignments import` (audited).
    if !vault.assignments_path().exists() {
        let file = examples.join("assignments.toml");
        std::fs::write(&file, assignments(OffsetDateTime::now_utc())?)
            .context("writing the demo assignments")?;
        let done = vault
            .import_assignments(&file, &callvault_vault::vault_operator())
            .context("importing the demo assignments")?;
        println!(
            "imported {} demo assignments (audit leaf {})",
            done.count, done.leaf_index
        );
    }
    let patient_file = examples.join("patient.txt");
    std::fs::write(&patient_file, callvault_vault::demo::personnummer(1))
        .context("writing the example patient")?;
    let (sthlm, [s1, _], _) = callvault_vault::demo::CARE_PROVIDERS[0];
    let upload_meta = examples.join("upload-metadata.json");
    std::fs::write(
        &upload_meta,
        format!(
            "{{\"care_provider\":\"{sthlm}\",\"care_unit\":\"{s1}\",\"call_id\":\"demo-upload-1\",\"started_at\":\"2026-11-01T09:00:00Z\",\"patient_id\":\"{}\",\"caller_number\":\"+46701112233\",\"nurse_hsa_id\":\"SE2321000016-N001\"}}\n",
            callvault_vault::demo::personnummer(999)
        ),
    )
    .context("writing the example upload metadata")?;
    let config = data_dir.join("server.toml");
    std::fs::write(
        &config,
        callvault_server::ServerConfig::demo_toml(".", "pki", listen),
    )
    .context("writing the server configuration")?;

    let rec = vault
        .catalog()
        .recording_by_call(
            &CareProvider::parse(sthlm)?,
            &CallId::parse("demo-call-0000")?,
        )?
        .map(|r| r.rec.id.to_string())
        .unwrap_or_else(|| "<recording-id>".into());
    let pki_s = pki.display();
    let base_search = format!("https://{listen}/api/v1/recordings");
    let base = format!("{base_search}/{rec}");
    let curl = |who: &str| {
        format!(
            "curl --cacert {pki_s}/root-ca.pem --cert {pki_s}/{who}.pem --key {pki_s}/{who}-key.pem"
        )
    };
    println!();
    println!("Try it (the demo nurse of Region Stockholm is nurse-a; of Region Värmland nurse-b):");
    println!("  # metadata of a Region Stockholm call, as its nurse (audited):");
    println!("  {} '{base}?purpose=vard-och-behandling'", curl("nurse-a"));
    println!("  # the first 64 KiB of its audio (HTTP Range, audited with the byte range):");
    println!(
        "  {} -H 'Range: bytes=0-65535' -o part.wav '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-a")
    );
    println!("  # the whole call:");
    println!(
        "  {} -o call.wav '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-a")
    );
    println!("  # the same as the nurse of another region: 403, and the refusal is audited:");
    println!(
        "  {} '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-b")
    );
    println!(
        "  # search a patient's calls (the search itself is audited, naming the patient sealed):"
    );
    println!(
        "  {} -G --data-urlencode 'patient@{}' '{base_search}?care_provider={sthlm}&purpose=vard-och-behandling'",
        curl("nurse-a"),
        patient_file.display()
    );
    println!("  # a recorder delivers a call (here the WAV downloaded above, as a new call id):");
    println!(
        "  {} -F 'metadata=<{};type=application/json' -F 'audio=@call.wav;type=audio/wav' '{base_search}'",
        curl("recorder-a"),
        upload_meta.display()
    );
    println!("  # the log reviewer sees these accesses, and the refusal, in the audit log:");
    println!(
        "  {} '{}/api/v1/audit/events?care_provider={sthlm}&purpose=logguppfoljning&limit=10'",
        curl("reviewer-a"),
        format_args!("https://{listen}")
    );
    println!("  # without a client certificate the TLS handshake is refused:");
    println!("  curl --cacert {pki_s}/root-ca.pem https://{listen}/healthz");
    println!(
        "PKCS#12 files for browsers: {pki_s}/*.p12 (password {})",
        callvault_pki::DEV_P12_PASSWORD
    );
    println!(
        "After stopping the server (Ctrl-C): callvault audit verify --data-dir {}",
        data_dir.display()
    );
    Ok(config)
}
