//! The serving half of `callvault demo`: development PKI, demo assignments, server
//! configuration, ready-to-paste curl commands, then `serve`.

use std::path::Path;

use anyhow::{Context, Result};
use callvault_types::{CallId, CareProvider};
use callvault_vault::Vault;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The demo's users and assignments (medarbetaruppdrag) as an assignment file, valid from
/// yesterday for 364 days. Imported, they become requests for the administrators.
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
        "# Demo users and assignments (medarbetaruppdrag). `callvault assignments import` turns\n# each assignment into a request that a privilege administrator approves.\n\n",
    );
    for (hsa, name, title, cp) in [
        (
            "SE2321000016-N001",
            "Anna Andersson",
            "Sjuksköterska",
            sthlm,
        ),
        ("SE2321000156-N001", "Bo Berg", "Sjuksköterska", varm),
        (
            "SE2321000016-Q001",
            "Cecilia Carlsson",
            "Patientsäkerhetsutredare",
            sthlm,
        ),
        ("SE2321000016-L001", "David Dahl", "Loggranskare", sthlm),
        ("SE2321000016-M001", "Rut Ros", "Arkivansvarig", sthlm),
        ("SE2321000016-M002", "Sven Sjö", "Arkivansvarig", sthlm),
        ("SE2321000016-O001", "Olle Ohlsson", "Driftansvarig", sthlm),
        (
            "SE2321000016-R001",
            "Inspelningssystem Region Stockholm",
            "System",
            sthlm,
        ),
        (
            "SE2321000156-R001",
            "Inspelningssystem Region Värmland",
            "System",
            varm,
        ),
    ] {
        out += &callvault_auth::UserEntry::new(hsa, name, title, cp)
            .map_err(|e| anyhow::anyhow!("demo user {hsa}: {e}"))?
            .to_toml();
    }
    let read = &["search", "view-metadata", "play"];
    out += &a("nurse-a", "SE2321000016-N001", sthlm, &[s1], care, read);
    out += &a("nurse-b", "SE2321000156-N001", varm, &[v1], care, read);
    out += &a(
        "investigator-a",
        "SE2321000016-Q001",
        sthlm,
        &[],
        "kvalitetssäkring",
        read,
    );
    out += &a(
        "reviewer-a",
        "SE2321000016-L001",
        sthlm,
        &[],
        "logguppföljning",
        &["read-audit", "read-access-log"],
    );
    // Two records managers, so that one registers a deletion order and the other approves it.
    for (id, holder) in [
        ("records-a", "SE2321000016-M001"),
        ("records-a2", "SE2321000016-M002"),
    ] {
        out += &a(
            id,
            holder,
            sthlm,
            &[],
            "administration",
            &["manage-records"],
        );
    }
    out += &a(
        "operator-a",
        "SE2321000016-O001",
        sthlm,
        &[],
        "administration",
        &["operate"],
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

/// The demo's privilege administrators per care provider: (PKI name, HSA-ID, name).
const ADMINS: [[(&str, &str, &str); 2]; 2] = [
    [
        ("admin-a", "SE2321000016-A001", "Eva Ek"),
        ("admin-a2", "SE2321000016-A002", "Fredrik Falk"),
    ],
    [
        ("admin-b", "SE2321000156-A001", "Gustav Gran"),
        ("admin-b2", "SE2321000156-A002", "Helena Holm"),
    ],
];

/// Puts the demo's assignments in force the way a deployment does: the operator installs
/// each care provider's first two administrators (`governance bootstrap`) and imports the
/// assignment file (`assignments import`: users registered, assignments requested); then
/// each request is approved by the care provider's second administrator, identified by
/// their certificate in the demo PKI, through the policy and the four-eyes checks. Every
/// step is audited.
fn install_assignments(vault: &Vault, pki: &Path, examples: &Path) -> Result<()> {
    let settings = callvault_server::ServerConfig::parse(
        &callvault_server::ServerConfig::demo_toml(".", &pki.display().to_string(), "127.0.0.1:1"),
        Path::new("."),
        Path::new("server.toml"),
    )?;
    let identities = callvault_server::Identities::load(&settings.tls)?;
    let mut admins = Vec::new();
    for (i, (cp, _, _)) in callvault_vault::demo::CARE_PROVIDERS.iter().enumerate() {
        let cp = CareProvider::parse(cp)?;
        let user = |(_, hsa, name): (&str, &str, &str)| {
            callvault_auth::UserEntry::new(hsa, name, "Behörighetsadministratör", cp.as_str())
                .map_err(|e| anyhow::anyhow!("demo administrator {hsa}: {e}"))
        };
        let (name, _, _) = ADMINS[i][1];
        let approver = identities
            .principal_of_local_certificate(&pki.join(format!("{name}.pem")))
            .with_context(|| {
                format!(
                    "the demo PKI lacks {name}; remove the demo data directory and its pki to start afresh"
                )
            })?;
        admins.push(callvault_vault::governance::ScriptedAdmins {
            admins: [user(ADMINS[i][0])?, user(ADMINS[i][1])?],
            care_provider: cp,
            approver,
        });
    }
    let file = examples.join("assignments.toml");
    std::fs::write(&file, assignments(OffsetDateTime::now_utc())?)
        .context("writing the demo assignments")?;
    let done = vault
        .scripted_setup(&admins, &file, &callvault_vault::vault_operator())
        .context("installing the demo assignments")?;
    for (a, b) in admins.iter().zip(&done.bootstraps) {
        println!(
            "installed the first privilege administrators of {} (audit leaf {})",
            a.care_provider, b.leaf_index
        );
    }
    println!(
        "imported {} demo assignment requests and {} users (audit leaf {})",
        done.imported.requested.len(),
        done.imported.users_registered,
        done.imported.leaf_index
    );
    for (cp, n) in &done.approved {
        println!("approved {n} requests of {cp} as its second administrator (four eyes)");
    }
    Ok(())
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
    if vault.assignment("nurse-a")?.is_none() {
        install_assignments(vault, &pki, &examples)?;
    }
    let patient_file = examples.join("patient.txt");
    std::fs::write(&patient_file, callvault_vault::demo::personnummer(1))
        .context("writing the example patient")?;
    let (sthlm, [s1, _], _) = callvault_vault::demo::CARE_PROVIDERS[0];
    // A search's patient travels in the request body, never in a URL.
    let search_body = examples.join("search.json");
    std::fs::write(
        &search_body,
        format!(
            "{{\"care_provider\":\"{sthlm}\",\"patient\":\"{}\"}}\n",
            callvault_vault::demo::personnummer(1)
        ),
    )
    .context("writing the example search")?;
    let ex = examples.display();
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
        "  {} -H 'Range: bytes=0-65535' -o {ex}/part.wav '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-a")
    );
    println!("  # the whole call:");
    println!(
        "  {} -o {ex}/call.wav '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-a")
    );
    println!(
        "  # the same as the nurse of another region: 404, exactly as for a call that does not exist, and the refusal is audited:"
    );
    println!(
        "  {} '{base}/audio?purpose=vard-och-behandling'",
        curl("nurse-b")
    );
    println!(
        "  # search a patient's calls (the search itself is audited, naming the patient sealed):"
    );
    println!(
        "  {} -H 'content-type: application/json' --data @{} '{base_search}/search?purpose=vard-och-behandling'",
        curl("nurse-a"),
        search_body.display()
    );
    println!("  # a recorder delivers a call (here the WAV downloaded above, as a new call id):");
    println!(
        "  {} -F 'metadata=<{};type=application/json' -F 'audio=@{ex}/call.wav;type=audio/wav' '{base_search}'",
        curl("recorder-a"),
        upload_meta.display()
    );
    println!("  # the log reviewer sees these accesses, and the refusal, in the audit log:");
    println!(
        "  {} '{}/api/v1/audit/events?care_provider={sthlm}&purpose=logguppfoljning&limit=10'",
        curl("reviewer-a"),
        format_args!("https://{listen}")
    );
    // The binary as it was run, so that the printed commands run as pasted (it need not be
    // on PATH: `cargo run` leaves it under target/).
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "callvault".to_owned());
    let admin = |who: &str| {
        format!(
            "{exe} admin --server https://{listen} --ca {pki_s}/root-ca.pem --cert {pki_s}/{who}.pem --key {pki_s}/{who}-key.pem"
        )
    };
    println!(
        "  # privilege administration as a person (four eyes: a second administrator approves):"
    );
    println!(
        "  {} request --holder SE2321000016-L001 --care-provider {sthlm} --purpose logguppfoljning --right read-audit --valid-until 2027-06-30T00:00:00Z --justification 'Logguppföljning Q1'",
        admin("admin-a")
    );
    println!(
        "  {} assignments --state requested   # then: approve <id>",
        admin("admin-a2")
    );
    println!("  {} review --format text", admin("admin-a2"));
    let reviewer = format!(
        "{exe} review --server https://{listen} --ca {pki_s}/root-ca.pem --cert {pki_s}/reviewer-a.pem --key {pki_s}/reviewer-a-key.pem"
    );
    let month_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(30))
        .format(&Rfc3339)
        .unwrap_or_default();
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .unwrap_or_default();
    println!("  # log follow-up (logguppföljning) of the last month, as the log reviewer:");
    println!("  {reviewer} follow-up --care-provider {sthlm} --from {month_ago} --to {soon}");
    println!(
        "  {reviewer} judge latest 1 --care-provider {sthlm} --verdict justified --comment 'Återuppringning'"
    );
    println!(
        "  {reviewer} report latest --care-provider {sthlm} --format html --out {ex}/uppfoljning.html"
    );
    println!("  # the patient's log extract (loggutdrag) as a Swedish PDF:");
    println!(
        "  {reviewer} extract --care-provider {sthlm} --patient-file {} --format pdf --out {ex}/loggutdrag.pdf",
        patient_file.display()
    );
    println!("  # without a client certificate the TLS handshake is refused:");
    println!("  curl --cacert {pki_s}/root-ca.pem https://{listen}/healthz");
    println!(
        "PKCS#12 files for browsers: {pki_s}/*.p12 (password {})",
        callvault_pki::DEV_P12_PASSWORD
    );
    println!(
        "After stopping the server (Ctrl-C): {exe} audit verify --data-dir {}",
        data_dir.display()
    );
    Ok(config)
}
