//! Breach simulation: a deployment does a realistic day's work — the demo's import, uploads
//! from a recorder, nurses' plays, byte ranges, metadata and patient searches, a log
//! extract, an IVO deletion order carried out, a key rotation — and then an attacker copies
//! every file it wrote: the data directory (both sites, the catalog with its WAL and
//! journal files, keys, configuration), the processes' temporary directory and the server's
//! log. Twice: while the server runs, and after it stopped. The copies are searched for
//! every patient's personal identity number in every written form, every caller's phone
//! number in every form, and byte patterns from every recording's audio. The figure is
//! printed; the test passes only with zero matches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::plaintext::*;
use crate::*;

const STHLM: &str = "SE2321000016-0001";
const UNIT: &str = "SE2321000016-1177";
/// Recordings the demo imports (and the test regenerates client-side for its needles).
const DEMO_RECORDINGS: usize = 6;
/// Seconds per demo recording (as `callvault demo` writes them).
const DEMO_SECONDS: u32 = 20;

/// Where the deployment writes: data directory, temporary files, logs.
struct Deployment {
    data: PathBuf,
    tmp: PathBuf,
    logs: PathBuf,
}

impl Deployment {
    fn new(root: &Path) -> Self {
        let root = root.join("deployment");
        let d = Self {
            data: root.join("data"),
            tmp: root.join("tmp"),
            logs: root.join("logs"),
        };
        std::fs::create_dir_all(&d.tmp).expect("tmp");
        std::fs::create_dir_all(&d.logs).expect("logs");
        d
    }

    /// Copies every file the deployment wrote to `to` (what an attacker with file access
    /// takes): files and bytes copied.
    fn copy_to(&self, to: &Path) -> (usize, u64) {
        [&self.data, &self.tmp, &self.logs]
            .iter()
            .map(|from| copy_tree(from, &to.join(from.file_name().expect("name"))))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// `callvault ARGS` as the operator on this machine: temporary files in the
    /// deployment's directory.
    fn operator(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_callvault"))
            .args(args)
            .env("TMPDIR", &self.tmp)
            .output()
            .expect("run callvault")
    }

    /// `callvault serve`, its standard error appended to a log file of the deployment.
    fn serve(&self, n: u32) -> (std::process::Child, String) {
        let log = std::fs::File::create(self.logs.join(format!("serve-{n}.log"))).expect("log");
        serve_with(&self.data.join("server.toml"), |c| {
            c.env("TMPDIR", &self.tmp).stderr(Stdio::from(log));
        })
    }
}

/// Copies every file under `from` to `to` (what an attacker with file access takes).
fn copy_tree(from: &Path, to: &Path) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    for f in walk(from) {
        let rel = f.strip_prefix(from).expect("under");
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        // A file removed between listing and copying (a temporary, a WAL) is simply gone.
        if let Ok(n) = std::fs::copy(&f, &dest) {
            files += 1;
            bytes += n;
        }
    }
    (files, bytes)
}

#[test]
fn a_copy_of_everything_the_deployment_wrote_holds_no_patient_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Deployment::new(dir.path());
    let client = dir.path().join("client");
    std::fs::create_dir_all(&client).expect("client");

    // The demo: keys, sites, catalog, PKI, governance, and an import of generated calls.
    let n = DEMO_RECORDINGS.to_string();
    let o = d.operator(&[
        "demo",
        "--data-dir",
        p(&d.data),
        "--recordings",
        &n,
        "--no-serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let pki = d.data.join("pki");
    // The same archive, regenerated on the client side for its patients, numbers and audio.
    let archive = client.join("archive");
    let manifest = callvault_vault::demo::write_archive(&archive, DEMO_RECORDINGS, DEMO_SECONDS)
        .expect("archive");
    let mut patients = Vec::new();
    let mut phones = Vec::new();
    let mut audio = Vec::new();
    for row in callvault_vault::manifest::read(&manifest).expect("manifest") {
        let row = row.expect("row");
        patients.push(row.patient.expose_display());
        phones.extend(row.caller.map(|c| c.expose_value().to_owned()));
        audio.push(std::fs::read(&row.path).expect("wav"));
    }
    assert_eq!(patients.len(), DEMO_RECORDINGS);

    let (server, addr) = d.serve(1);
    let base = format!("https://{addr}/api/v1/recordings");
    let care = "purpose=vard-och-behandling";

    // A recorder delivers three calls: new patients, new callers, noise as audio.
    let mut uploaded = Vec::new();
    for i in 0..3u64 {
        let pnr = callvault_vault::demo::personnummer(500 + i);
        let phone = format!("+4670555{:04}", 1000 + i);
        let wav = noise_wav(i + 1, 48_000);
        let file = client.join(format!("upload-{i}.wav"));
        std::fs::write(&file, &wav).expect("wav");
        let meta = format!(
            r#"{{"care_provider":"{STHLM}","care_unit":"{UNIT}","call_id":"breach-{i}","started_at":"2026-11-02T10:00:00Z","patient_id":"{pnr}","caller_number":"{phone}","nurse_hsa_id":"SE2321000016-N001"}}"#
        );
        let (code, body) = curl(
            &pki,
            "recorder-a",
            &[
                "-F",
                &format!("metadata={meta};type=application/json"),
                "-F",
                &format!("audio=@{};type=audio/wav", p(&file)),
                &base,
            ],
        );
        assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
        uploaded.push(json(&body)["id"].as_str().expect("id").to_owned());
        patients.push(pnr);
        phones.push(phone);
        audio.push(wav);
    }

    // Nurses at work: searches by patient, metadata, whole plays and byte ranges.
    let play_all = |uploaded: &[String]| {
        for (k, pnr) in patients.iter().enumerate() {
            let (code, body) = curl(
                &pki,
                "nurse-a",
                &[
                    "-H",
                    "content-type: application/json",
                    "--data",
                    &format!(r#"{{"care_provider":"{STHLM}","patient":"{pnr}"}}"#),
                    &format!("{base}/search?{care}"),
                ],
            );
            // Half the demo's patients are Region Värmland's; nurse-a searches at her own.
            assert_eq!(
                code,
                200,
                "search for patient {k}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        for id in uploaded {
            let (code, _) = curl(&pki, "nurse-a", &[&format!("{base}/{id}?{care}")]);
            assert_eq!(code, 200);
            let out = client.join(format!("{id}.wav"));
            let (code, _) = curl(
                &pki,
                "nurse-a",
                &["-o", p(&out), &format!("{base}/{id}/audio?{care}")],
            );
            assert_eq!(code, 200);
            let (code, _) = curl(
                &pki,
                "nurse-a",
                &[
                    "-H",
                    "Range: bytes=1000-9999",
                    "-o",
                    p(&out),
                    &format!("{base}/{id}/audio?{care}"),
                ],
            );
            assert_eq!(code, 206);
        }
    };
    play_all(&uploaded);

    // The log reviewer's extract for a patient, written on the client side.
    let server_url = format!("https://{addr}");
    let patient_file = client.join("patient.txt");
    std::fs::write(&patient_file, &patients[6]).expect("patient");
    let o = as_person(
        &pki,
        &server_url,
        "reviewer-a",
        "review",
        &[
            "extract",
            "--care-provider",
            STHLM,
            "--patient-file",
            p(&patient_file),
            "--format",
            "pdf",
            "--out",
            p(&client.join("loggutdrag.pdf")),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    // An IVO decision destroys the first upload: two records managers, four eyes.
    let as_person =
        |who: &str, group: &str, args: &[&str]| as_person(&pki, &server_url, who, group, args);
    make_records_managers(&pki, &server_url);
    let decision = client.join("beslut.pdf");
    std::fs::write(&decision, b"%PDF-1.7 IVO beslut").expect("decision");
    let o = as_person(
        "admin-a",
        "records",
        &[
            "register-ivo",
            "--care-provider",
            STHLM,
            "--case-number",
            "IVO 3.5.1-9/2026",
            "--decision-date",
            "2026-11-20",
            "--document",
            p(&decision),
            "--recording",
            &uploaded[0],
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let order = json_id(&o);
    let o = as_person("admin-a2", "records", &["approve", &order]);
    assert!(o.status.success(), "{}", text(&o));
    let o = as_person(
        "admin-a2",
        "records",
        &[
            "execute",
            &order,
            "--certificate",
            p(&client.join("certificate.json")),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    stop_server(server);

    // The operator rotates the care provider's key-encryption key, and work goes on.
    let o = d.operator(&[
        "keys",
        "rotate",
        "--data-dir",
        p(&d.data),
        "--care-provider",
        STHLM,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (server, addr2) = d.serve(2);
    let base2 = format!("https://{addr2}/api/v1/recordings");
    for id in &uploaded[1..] {
        let (code, _) = curl(
            &pki,
            "nurse-a",
            &[
                "-o",
                p(&client.join("again.wav")),
                &format!("{base2}/{id}/audio?{care}"),
            ],
        );
        assert_eq!(code, 200);
    }

    // The breach: everything the deployment wrote, copied while it runs and after it stops.
    // (The demo also writes example inputs for its printed curl commands next to the data
    // directory, in `data.examples`: the client's side, like the files in `client`.)
    let live = d.copy_to(&dir.path().join("copy-live"));
    stop_server(server);
    let rest = d.copy_to(&dir.path().join("copy-at-rest"));

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, pnr) in patients.iter().enumerate() {
        for (f, form) in patient_forms(pnr).into_iter().enumerate() {
            needles.push((format!("patient {k} form {f}"), form));
        }
    }
    for (k, phone) in phones.iter().enumerate() {
        for (f, form) in phone_forms(phone).into_iter().enumerate() {
            needles.push((format!("caller {k} form {f}"), form));
        }
    }
    let mut patterns = 0;
    for (k, wav) in audio.iter().enumerate() {
        for (f, pat) in audio_patterns(wav).into_iter().enumerate() {
            needles.push((format!("audio of recording {k}, window {f}"), pat));
            patterns += 1;
        }
    }
    // The needles are real: each occurs in the client-side plaintext it came from.
    let client_hits = search(&client, &needles);
    for kind in [
        "patient 0 form 3 ",
        "caller 0 form 0 ",
        "audio of recording 0,",
    ] {
        assert!(
            client_hits.iter().any(|h| h.starts_with(kind)),
            "{kind:?} does not match its own source (the archive's manifest and audio)"
        );
    }
    let mut matches = search(&dir.path().join("copy-live"), &needles);
    matches.extend(search(&dir.path().join("copy-at-rest"), &needles));
    eprintln!(
        "breach simulation: copied {} files ({} KiB) live and {} files ({} KiB) at rest; \
         searched for {} patients in {} forms each, {} callers in {} forms each and {} audio \
         patterns from {} recordings ({} needles): {} matches",
        live.0,
        live.1 / 1024,
        rest.0,
        rest.1 / 1024,
        patients.len(),
        patient_forms(&patients[0]).len(),
        phones.len(),
        phone_forms(&phones[0]).len(),
        patterns,
        audio.len(),
        needles.len(),
        matches.len()
    );
    assert!(live.0 > 10 && rest.0 > 10, "nothing was copied");
    assert!(
        matches.is_empty(),
        "patient data at rest:\n{}",
        matches.join("\n")
    );
}
