//! Import and playback on the scale-out engines — the catalog in PostgreSQL, two S3 sites on
//! two Garage servers and the keys in a SoftHSM2 token — beside the embedded default (SQLite,
//! two site directories, key files), in the same run on the same machine and the same
//! archive.
//!
//! Needs the servers and the token `scripts/bench-engines.sh` prepares (it exports
//! `CALLVAULT_IT_PG*`, `CALLVAULT_IT_S3_*`, `CALLVAULT_BENCH_TOKEN` and
//! `CALLVAULT_BENCH_PIN`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use callvault_auth::{
    AccessRequest, Action, AuthenticatedPrincipal, Policy, PrincipalKind, Purpose,
};
use callvault_types::{CallId, CareProvider, HsaId};
use callvault_vault::Vault;
use callvault_vault::access::target::*;

use crate::http::{assignments, percentile};
use crate::{make_archive, row};

const CP: &str = "SE2321000016-0001";

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set; run scripts/bench-engines.sh"))
}

/// `callvault.toml` with the catalog in PostgreSQL, both sites on the Garage servers (a
/// fresh prefix) and the keys in the benchmark's token.
fn scale_out_config(dir: &Path) -> Result<String> {
    let secret = dir.join("s3.secret");
    callvault_crypto_secret(&secret, &var("CALLVAULT_IT_S3_SECRET")?)?;
    let pin = dir.join("hsm.pin");
    callvault_crypto_secret(&pin, &var("CALLVAULT_BENCH_PIN")?)?;
    let prefix = format!("bench-{}/", std::process::id());
    let mut text = callvault_vault::config::Config::default_toml("audit.bench.example");
    text = text.replace(
        "[keys]\nbackend = \"files\"\ndir = \"keys\"\n",
        &format!(
            "[keys]\nbackend = \"pkcs11\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"{}\"\npin_file = \"{}\"\n",
            var("CALLVAULT_BENCH_TOKEN")?,
            pin.display()
        ),
    );
    for site in ["a", "b"] {
        let up = site.to_uppercase();
        text = text.replace(
            &format!("[[sites]]\nname = \"{site}\"\nbackend = \"dir\"\npath = \"sites/{site}\"\n"),
            &format!(
                "[[sites]]\nname = \"{site}\"\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key_file = \"{}\"\nprefix = \"{prefix}\"\nallow_http = true\n",
                var(&format!("CALLVAULT_IT_S3_ENDPOINT_{up}"))?,
                var(&format!("CALLVAULT_IT_S3_BUCKET_{up}"))?,
                var("CALLVAULT_IT_S3_KEY_ID")?,
                secret.display()
            ),
        );
    }
    let pg_password = dir.join("pg.password");
    callvault_crypto_secret(&pg_password, &var("CALLVAULT_IT_PG_PASSWORD")?)?;
    text = text.replace(
        "[catalog]\nbackend = \"sqlite\"\npath = \"catalog/catalog.sqlite3\"\n",
        &format!(
            "[catalog]\nbackend = \"postgres\"\nconninfo = \"{}\"\npassword_file = \"{}\"\n",
            var("CALLVAULT_IT_PG")?,
            pg_password.display()
        ),
    );
    if text.contains("backend = \"dir\"")
        || !text.contains("pkcs11")
        || !text.contains("backend = \"postgres\"")
    {
        bail!("the default configuration changed shape");
    }
    Ok(text)
}

fn callvault_crypto_secret(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{value}")?;
    Ok(())
}

struct Figures {
    import_mib_s: f64,
    import_ms: Vec<Duration>,
    play_mib_s: f64,
    ttfb: Vec<Duration>,
    play_total: Vec<Duration>,
}

/// Imports the archive (one recording at a time, as a bulk import does), then plays every
/// recording whole through the audited path: policy decision, durable audit event, decrypt.
fn run(vault: &Vault, manifest: &Path, n: usize, mib: f64) -> Result<Figures> {
    let mut import_ms = Vec::new();
    let mut last = Instant::now();
    let t = Instant::now();
    let s = vault.import_manifest(manifest, &callvault_vault::vault_operator(), |_, _, _| {
        import_ms.push(last.elapsed());
        last = Instant::now();
    })?;
    let import_secs = t.elapsed().as_secs_f64();
    if s.imported != n as u64 || !s.failures.is_empty() || s.under_replicated != 0 {
        bail!("import incomplete: {s:?}");
    }
    let policy = Policy::new(assignments()?);
    let nurse = AuthenticatedPrincipal::assert_verified_certificate(
        HsaId::parse("SE2321000016-N001")?,
        PrincipalKind::Person,
        [9; 32],
    );
    let cp = CareProvider::parse(CP)?;
    let (mut ttfb, mut play_total) = (Vec::new(), Vec::new());
    let mut bytes = 0u64;
    let t = Instant::now();
    for i in 0..n {
        let call = CallId::parse(&format!("bench-{i}"))?;
        let row = vault
            .catalog()
            .recording_by_call(&cp, &call)?
            .context("imported recording")?;
        let id = row.rec.id;
        let start = Instant::now();
        let resource = vault.recording_resource(&id)?.context("resource")?;
        let req = AccessRequest {
            action: Action::Play,
            resource,
            purpose: Purpose::CareAndTreatment,
            assignment: None,
            emergency_reason: None,
            case_number: None,
        };
        let authz = policy
            .decide(&nurse, &req, time::OffsetDateTime::now_utc())
            .map_err(|d| anyhow::anyhow!("denied: {d:?}"))?;
        let receipt = vault.record_access(
            authz.clone(),
            Audio {
                id,
                range: 0..row.rec.plaintext_size,
                asked: None,
            },
        )?;
        let mut first = None;
        vault.play(&receipt, |c| {
            first.get_or_insert_with(|| start.elapsed());
            bytes += c.len() as u64;
            Ok(())
        })?;
        ttfb.push(first.unwrap_or_default());
        play_total.push(start.elapsed());
    }
    let play_secs = t.elapsed().as_secs_f64();
    Ok(Figures {
        import_mib_s: mib / import_secs,
        import_ms,
        play_mib_s: bytes as f64 / f64::from(1u32 << 20) / play_secs,
        ttfb,
        play_total,
    })
}

/// The engines figure: the same archive imported and played on both set-ups.
pub fn bench_engines(base: &Path, n: usize, mib: u32) -> Result<()> {
    let (manifest, _files, total) = make_archive(&base.join("engines-archive"), n, mib)?;
    let total_mib = total as f64 / f64::from(1u32 << 20);
    let cps = [CareProvider::parse(CP)?];
    let embedded = {
        let dir = base.join("embedded");
        let v = Vault::init(&dir, "audit.bench.example", &cps)?;
        run(&v, &manifest, n, total_mib)?
    };
    let scale_out = {
        let dir = base.join("scale-out");
        std::fs::create_dir_all(&dir)?;
        let text = scale_out_config(&dir)?;
        let v = Vault::init_with_config(&dir.join("data"), &text, &cps)?;
        run(&v, &manifest, n, total_mib)?
    };
    let label = format!("{n} x {mib} MiB");
    row(
        &format!("import {label}: PG + Garage x2 + HSM vs embedded"),
        scale_out.import_mib_s,
        embedded.import_mib_s,
        "MiB/s",
        "",
    );
    let (mut a, mut b) = (scale_out.import_ms, embedded.import_ms);
    row(
        "  per recording p50",
        percentile(&mut a, 0.5),
        percentile(&mut b, 0.5),
        "ms",
        "",
    );
    row(
        "  per recording p99",
        percentile(&mut a, 0.99),
        percentile(&mut b, 0.99),
        "ms",
        "",
    );
    row(
        &format!("play {label} whole, audited: PG + Garage x2 + HSM vs embedded"),
        scale_out.play_mib_s,
        embedded.play_mib_s,
        "MiB/s",
        "",
    );
    let (mut a, mut b) = (scale_out.ttfb, embedded.ttfb);
    row(
        "  time to first byte p50",
        percentile(&mut a, 0.5),
        percentile(&mut b, 0.5),
        "ms",
        "",
    );
    row(
        "  time to first byte p99",
        percentile(&mut a, 0.99),
        percentile(&mut b, 0.99),
        "ms",
        "",
    );
    let (mut a, mut b) = (scale_out.play_total, embedded.play_total);
    row(
        "  whole recording p99",
        percentile(&mut a, 0.99),
        percentile(&mut b, 0.99),
        "ms",
        "",
    );
    std::fs::remove_dir_all(base.join("engines-archive"))?;
    Ok(())
}
