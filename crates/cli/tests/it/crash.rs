//! Crash consistency: one deployment is killed with SIGKILL again and again, at random
//! points of its work — the server while recorders upload, the server while a deletion
//! order is executed, `import` in the middle of a manifest, `keys rotate` in the middle of
//! its re-wrap — and after every kill it is recovered the documented way (start the server
//! again, re-deliver what was not acknowledged, `callvault repair --remove-unacknowledged`;
//! nothing here restores a catalog from a backup) and checked:
//!
//! * every acknowledged upload (a `201` before the kill) is in the catalog with exactly one
//!   ingest event, and its re-delivery answers with the same recording, never a new one;
//! * every manifest row ends up imported exactly once;
//! * the only problems `verify` may find after a kill are objects of uploads that were never
//!   acknowledged; `repair --remove-unacknowledged` removes exactly those, and then
//!   `verify --deep` is clean: every
//!   copy at every site decrypts to its hash, every catalog row matches its one ingest
//!   event, and the audit log matches its signed checkpoints;
//! * no deletion order is left executing, and no destroyed recording or its blob remains;
//! * no key rotation is left unfinished;
//! * the sites hold no temporary files, nothing is left in the processes' temporary
//!   directory, and no file the deployment wrote holds a patient id, a phone number or an
//!   audio pattern of the uploads (in any written form).
//!
//! `CALLVAULT_CRASH_ITERATIONS` sets the number of kills (default 12; `scripts/crash` runs
//! 200 in CI and 1,000 for the nightly run), `CALLVAULT_CRASH_SEED` replays a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use callvault_types::{CallId, CareProvider, RecordingId};

use crate::plaintext::*;
use crate::*;

const STHLM: &str = "SE2321000016-0001";
const STHLM_UNIT: &str = "SE2321000016-1177";
const VARMLAND: &str = "SE2321000156-0001";
const VARMLAND_UNIT: &str = "SE2321000156-1177";
/// Audio sizes of the client's recordings (bytes): short calls for imports, longer ones
/// for uploads, so that a kill lands while the audio streams.
const AUDIO_SIZES: [usize; 8] = [
    16 << 10,
    48 << 10,
    96 << 10,
    192 << 10,
    320 << 10,
    512 << 10,
    768 << 10,
    1 << 20,
];
/// The imports use the first three (short) sizes.
const IMPORT_AUDIO: u64 = 3;
/// Patients and callers the work draws from.
const PEOPLE: u64 = 12;
/// Tiny recordings imported at set-up per care provider, so that a rotation re-wraps its
/// data keys in more than one batch.
const BULK_ROWS: u64 = 300;
/// First kill windows (ms from the start of the work). Each adapts: it shrinks when the
/// work was done before the kill and grows when it was not, so the kills gather around the
/// work's duration, before, during and after it.
const FIRST_WINDOWS_MS: [(&str, f64); 4] = [
    ("upload", 250.0),
    ("import", 300.0),
    ("deletion", 200.0),
    ("rotation", 200.0),
];

/// A small deterministic generator (xorshift64*): the run is replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What the run did, printed at the end.
#[derive(Default, Debug)]
struct Counts {
    /// Per kind of work: (kills that interrupted it, kills after it was done).
    kills: BTreeMap<&'static str, (u64, u64)>,
    uploads: u64,
    acknowledged: u64,
    unanswered: u64,
    unanswered_but_stored: u64,
    redelivered: u64,
    import_rows: u64,
    import_rows_before_kill: u64,
    deletion_orders: u64,
    deletions_acknowledged: u64,
    recordings_destroyed: u64,
    rotations_finished_by_repair: u64,
    problems_before_repair: u64,
    objects_removed_by_repair: u64,
    server_starts: u64,
    files_searched: u64,
    bytes_searched: u64,
    /// Time spent per phase.
    time: BTreeMap<&'static str, Duration>,
}

struct World {
    data: PathBuf,
    tmp: PathBuf,
    logs: PathBuf,
    client: PathBuf,
    pki: PathBuf,
    rng: Rng,
    windows: BTreeMap<&'static str, f64>,
    audio: Vec<PathBuf>,
    patients: Vec<String>,
    phones: Vec<String>,
    needles: Vec<(String, Vec<u8>)>,
    /// Every upload's call id and the recording it is (once acknowledged).
    uploads: BTreeMap<String, String>,
    /// Acknowledged uploads not destroyed (Region Stockholm's: deletion candidates).
    live: Vec<String>,
    destroyed: Vec<String>,
    /// Imported (care provider, call id).
    imports: Vec<(String, String)>,
    counts: Counts,
}

impl World {
    fn new(root: &Path, seed: u64) -> Self {
        let dep = root.join("deployment");
        let client = root.join("client");
        let w = Self {
            data: dep.join("data"),
            tmp: dep.join("tmp"),
            logs: dep.join("logs"),
            pki: dep.join("data").join("pki"),
            client,
            rng: Rng(seed | 1),
            windows: FIRST_WINDOWS_MS.into_iter().collect(),
            audio: Vec::new(),
            patients: (0..PEOPLE)
                .map(|k| callvault_vault::demo::personnummer(7000 + k))
                .collect(),
            phones: (0..PEOPLE).map(|k| format!("+4670777{:04}", k)).collect(),
            needles: Vec::new(),
            uploads: BTreeMap::new(),
            live: Vec::new(),
            destroyed: Vec::new(),
            imports: Vec::new(),
            counts: Counts::default(),
        };
        for d in [&w.tmp, &w.logs, &w.client] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        w
    }

    /// A random delay for a kill during `kind` of work, within its current window.
    fn delay(&mut self, kind: &str) -> u64 {
        let w = self.windows[kind] as u64;
        self.rng.below(w + 1)
    }

    /// Where a kill during `kind` of work landed: after the work was done, or not.
    fn landed(&mut self, kind: &'static str, done: bool) {
        let k = self.counts.kills.entry(kind).or_default();
        if done {
            k.1 += 1;
        } else {
            k.0 += 1;
        }
        let w = self.windows.get_mut(kind).expect("kind");
        *w = (*w * if done { 0.85 } else { 1.15 }).clamp(5.0, 20_000.0);
    }

    /// `callvault ARGS` on this machine: temporary files in the deployment's directory.
    fn cv(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_callvault"));
        c.args(args).env("TMPDIR", &self.tmp);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cv(args).output().expect("run callvault")
    }

    fn serve(&mut self) -> (Child, String) {
        self.counts.server_starts += 1;
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.logs.join("serve.log"))
            .expect("log");
        let tmp = self.tmp.clone();
        serve_with(&self.data.join("server.toml"), |c| {
            c.env("TMPDIR", tmp).stderr(Stdio::from(log));
        })
    }

    /// The demo deployment, its records managers, the client's recordings and the needles.
    fn set_up(&mut self) {
        let o = self.run(&[
            "demo",
            "--data-dir",
            p(&self.data),
            "--recordings",
            "4",
            "--no-serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let (server, addr) = self.serve();
        make_records_managers(&self.pki, &format!("https://{addr}"));
        stop_server(server);
        let tiny = noise_wav(8999, 512);
        for (f, pat) in audio_patterns(&tiny).into_iter().enumerate() {
            self.needles.push((format!("tiny audio window {f}"), pat));
        }
        std::fs::write(self.client.join("audio-tiny.wav"), tiny).expect("wav");
        let mut bulk = callvault_vault::manifest::FIELDS.join(",");
        bulk.push('\n');
        for i in 0..BULK_ROWS {
            for (cp, unit) in [(STHLM, STHLM_UNIT), (VARMLAND, VARMLAND_UNIT)] {
                let who = (i % PEOPLE) as usize;
                bulk.push_str(&format!(
                    "audio-tiny.wav,bulk-{i},{cp},{unit},2026-02-01T08:00:00Z,{},,\n",
                    self.patients[who]
                ));
            }
        }
        let manifest = self.client.join("bulk.csv");
        std::fs::write(&manifest, bulk).expect("manifest");
        let o = self.run(&[
            "import",
            "--data-dir",
            p(&self.data),
            "--manifest",
            p(&manifest),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        for (k, size) in AUDIO_SIZES.iter().enumerate() {
            let wav = noise_wav(9000 + k as u64, *size);
            for (f, pat) in audio_patterns(&wav).into_iter().enumerate() {
                self.needles.push((format!("audio {k} window {f}"), pat));
            }
            let path = self.client.join(format!("audio-{k}.wav"));
            std::fs::write(&path, wav).expect("wav");
            self.audio.push(path);
        }
        for (k, pnr) in self.patients.iter().enumerate() {
            for (f, form) in patient_forms(pnr).into_iter().enumerate() {
                self.needles.push((format!("patient {k} form {f}"), form));
            }
        }
        for (k, phone) in self.phones.iter().enumerate() {
            for (f, form) in phone_forms(phone).into_iter().enumerate() {
                self.needles.push((format!("caller {k} form {f}"), form));
            }
        }
        // The needles are real: each kind occurs in the client-side source it came from.
        let people = self.client.join("people.txt");
        std::fs::write(
            &people,
            format!("{}\n{}\n", self.patients[0], self.phones[0]),
        )
        .expect("people");
        let hits = search(&self.client, &self.needles);
        for kind in ["patient 0 form 3 ", "caller 0 form 0 ", "audio 7 window 7 "] {
            assert!(
                hits.iter().any(|h| h.starts_with(kind)),
                "{kind:?} does not match its own source"
            );
        }
        std::fs::remove_file(people).expect("rm");
    }

    fn upload_command(&self, base: &str, call_id: &str, who: usize, audio: usize) -> Command {
        let meta = format!(
            r#"{{"care_provider":"{STHLM}","care_unit":"{STHLM_UNIT}","call_id":"{call_id}","started_at":"2026-11-02T10:00:00Z","patient_id":"{}","caller_number":"{}","nurse_hsa_id":"SE2321000016-N001"}}"#,
            self.patients[who], self.phones[who]
        );
        let mut c = curl_command(
            &self.pki,
            "recorder-a",
            &[
                "-F",
                &format!("metadata={meta};type=application/json"),
                "-F",
                &format!("audio=@{};type=audio/wav", p(&self.audio[audio])),
                base,
            ],
        );
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// Recorders upload one to four calls at once; the server is killed at a random moment.
    /// After the restart every call is delivered again, as a recorder does until it gets an
    /// answer.
    fn upload_round(&mut self, it: usize) {
        let (server, addr) = self.serve();
        let base = format!("https://{addr}/api/v1/recordings");
        let n = 1 + self.rng.below(4) as usize;
        let calls: Vec<(String, usize, usize)> = (0..n)
            .map(|j| {
                (
                    format!("crash-{it}-{j}"),
                    self.rng.below(PEOPLE) as usize,
                    self.rng.below(AUDIO_SIZES.len() as u64) as usize,
                )
            })
            .collect();
        let delay = self.delay("upload");
        let children: Vec<Child> = calls
            .iter()
            .map(|(call, who, audio)| {
                self.upload_command(&base, call, *who, *audio)
                    .spawn()
                    .expect("curl (Debian package curl)")
            })
            .collect();
        kill_after(server, delay);
        self.counts.uploads += n as u64;
        let mut answered = BTreeMap::new();
        for ((call, _, _), child) in calls.iter().zip(children) {
            let (code, body) = curl_result(child.wait_with_output().expect("curl"));
            match code {
                201 => {
                    answered.insert(call.clone(), id_of(&body));
                    self.counts.acknowledged += 1;
                }
                // No answer, or only the interim `100 Continue` to curl's `Expect`.
                0..=199 => self.counts.unanswered += 1,
                other => panic!(
                    "iteration {it}: an upload was answered {other} while the server was killed: {}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
        let (server, addr) = self.serve();
        let base = format!("https://{addr}/api/v1/recordings");
        for (call, who, audio) in &calls {
            let (code, body) = curl_result(
                self.upload_command(&base, call, *who, *audio)
                    .output()
                    .expect("curl"),
            );
            self.counts.redelivered += 1;
            let id = id_of(&body);
            match (answered.get(call), code) {
                (Some(acked), 200) => assert_eq!(
                    acked, &id,
                    "iteration {it}: call {call} was acknowledged as {acked}, re-delivered as {id}"
                ),
                (Some(acked), _) => panic!(
                    "iteration {it}: call {call} was acknowledged as {acked}; its re-delivery answered {code}: {}",
                    String::from_utf8_lossy(&body)
                ),
                (None, 200) => self.counts.unanswered_but_stored += 1,
                (None, 201) => {}
                (None, _) => panic!(
                    "iteration {it}: the re-delivery of call {call} answered {code}: {}",
                    String::from_utf8_lossy(&body)
                ),
            }
            self.uploads.insert(call.clone(), id.clone());
            self.live.push(id);
        }
        stop_server(server);
        self.landed("upload", answered.len() == calls.len());
    }

    /// `import` of a manifest of 5 to 24 calls of both care providers, killed at a random
    /// moment, then run again to completion.
    fn import_round(&mut self, it: usize) {
        let rows = 5 + self.rng.below(20);
        let mut manifest = callvault_vault::manifest::FIELDS.join(",");
        manifest.push('\n');
        let mut calls = Vec::new();
        for j in 0..rows {
            let (cp, unit) = if self.rng.below(2) == 0 {
                (STHLM, STHLM_UNIT)
            } else {
                (VARMLAND, VARMLAND_UNIT)
            };
            let who = self.rng.below(PEOPLE) as usize;
            let audio = format!("audio-{}.wav", self.rng.below(IMPORT_AUDIO));
            let call = format!("import-{it}-{j}");
            manifest.push_str(&format!(
                "{audio},{call},{cp},{unit},2026-03-0{}T08:00:00Z,{},{},\n",
                1 + j % 9,
                self.patients[who],
                self.phones[who]
            ));
            calls.push((cp.to_owned(), call));
        }
        // The manifest is the client's file (it names patients), not the deployment's.
        let file = self.client.join(format!("manifest-{it}.csv"));
        std::fs::write(&file, manifest).expect("manifest");
        let delay = self.delay("import");
        let data = self.data.clone();
        let args = ["import", "--data-dir", p(&data), "--manifest", p(&file)];
        let child = self
            .cv(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        kill_after(child, delay);
        let o = self.run(&args);
        let out = text(&o);
        assert!(o.status.success(), "iteration {it}: import again: {out}");
        let summary = out
            .lines()
            .find(|l| l.starts_with("import: "))
            .unwrap_or_else(|| panic!("{out}"));
        let number_before = |what: &str| -> u64 {
            let at = summary.find(what).unwrap_or_else(|| panic!("{summary}"));
            summary[..at]
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{summary}"))
        };
        let (imported, skipped) = (
            number_before(" imported ("),
            number_before(" already imported"),
        );
        assert!(
            imported + skipped == rows && summary.contains(", 0 failed"),
            "iteration {it}: {summary}"
        );
        self.counts.import_rows += rows;
        self.counts.import_rows_before_kill += skipped;
        self.imports.extend(calls);
        self.landed("import", skipped == rows);
    }

    /// An IVO decision over one to six uploads, registered and approved by two records
    /// managers; the server is killed while the order is executed, then started again (it
    /// finishes interrupted orders first) and the order executed again for its certificate.
    fn deletion_round(&mut self, it: usize) {
        let n = 1 + self.rng.below(self.live.len().min(6) as u64) as usize;
        let ids: Vec<String> = (0..n)
            .map(|_| {
                let k = self.rng.below(self.live.len() as u64) as usize;
                self.live.swap_remove(k)
            })
            .collect();
        let (server, addr) = self.serve();
        let url = format!("https://{addr}");
        let doc = self.client.join("beslut.pdf");
        std::fs::write(&doc, b"%PDF-1.7 IVO beslut").expect("doc");
        let mut args = vec![
            "register-ivo",
            "--care-provider",
            STHLM,
            "--case-number",
            "IVO 3.5.1-77/2026",
            "--decision-date",
            "2026-11-20",
            "--document",
            p(&doc),
        ];
        for id in &ids {
            args.extend(["--recording", id]);
        }
        let o = as_person(&self.pki, &url, "admin-a", "records", &args);
        assert!(o.status.success(), "{}", text(&o));
        let order = json_id(&o);
        let o = as_person(&self.pki, &url, "admin-a2", "records", &["approve", &order]);
        assert!(o.status.success(), "{}", text(&o));
        let cert = self.client.join("certificate.json");
        let execute = ["execute", order.as_str(), "--certificate", p(&cert)];
        let client = person_command(&self.pki, &url, "admin-a2", "records", &execute)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let delay = self.delay("deletion");
        kill_after(server, delay);
        let acknowledged = client.wait_with_output().expect("wait").status.success();
        self.counts.deletions_acknowledged += u64::from(acknowledged);
        let (server, addr) = self.serve();
        let url = format!("https://{addr}");
        let o = as_person(&self.pki, &url, "admin-a2", "records", &execute);
        assert!(
            o.status.success(),
            "iteration {it}: execute again: {}",
            text(&o)
        );
        for id in &ids {
            assert!(
                text(&o).contains(id.as_str())
                    || std::fs::read_to_string(&cert).is_ok_and(|c| c.contains(id.as_str())),
                "iteration {it}: the certificate does not name {id}"
            );
        }
        stop_server(server);
        self.counts.deletion_orders += 1;
        self.counts.recordings_destroyed += n as u64;
        self.destroyed.extend(ids);
        self.landed("deletion", acknowledged);
    }

    /// The KEK versions of a care provider (key files).
    fn kek_versions(&self, cp: &str) -> usize {
        walk(&self.data.join("keys").join(cp))
            .iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("kek-v"))
            })
            .count()
    }

    /// `keys rotate` for one care provider, killed at a random moment; `repair` (in the
    /// checks) finishes what it left. Returns the care provider and its KEK versions before.
    fn rotation_round(&mut self) -> (&'static str, usize) {
        let cp = if self.rng.below(2) == 0 {
            STHLM
        } else {
            VARMLAND
        };
        let child = self
            .cv(&[
                "keys",
                "rotate",
                "--data-dir",
                p(&self.data),
                "--care-provider",
                cp,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let before = self.kek_versions(cp);
        let delay = self.delay("rotation");
        kill_after(child, delay);
        (cp, before)
    }

    /// The recovery and every check, after a kill.
    fn recover_and_check(&mut self, it: usize, since: SystemTime) {
        let mut clock = Instant::now();
        let mut lap = |counts: &mut Counts, phase: &'static str| {
            *counts.time.entry(phase).or_default() += clock.elapsed();
            clock = Instant::now();
        };
        // What the kill left, before anything is repaired.
        let o = self.run(&["verify", "--data-dir", p(&self.data)]);
        let out = text(&o);
        let problems: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.ends_with("problem(s):"))
            .skip(1)
            .collect();
        assert_eq!(
            o.status.success(),
            problems.is_empty(),
            "iteration {it}: {out}"
        );
        for pr in &problems {
            assert!(
                pr.contains("no audit event names it: an upload or import cut short"),
                "iteration {it}: a kill left more than unacknowledged objects: {out}"
            );
        }
        self.counts.problems_before_repair += problems.len() as u64;
        lap(&mut self.counts, "verify");
        let o = self.run(&[
            "repair",
            "--remove-unacknowledged",
            "--data-dir",
            p(&self.data),
        ]);
        let out = text(&o);
        assert!(o.status.success(), "iteration {it}: repair: {out}");
        let removed = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("deleted ")?
                    .strip_suffix(
                        " objects of uploads or imports cut short before they were acknowledged",
                    )?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        assert_eq!(
            removed,
            problems.len() as u64,
            "iteration {it}: repair removed other than what verify found: {out}"
        );
        self.counts.objects_removed_by_repair += removed;
        if out.contains("finished the interrupted key rotation") {
            self.counts.rotations_finished_by_repair += 1;
        }
        lap(&mut self.counts, "repair");
        let o = self.run(&["verify", "--deep", "--data-dir", p(&self.data)]);
        assert!(
            o.status.success(),
            "iteration {it}: after repair: {}",
            text(&o)
        );

        lap(&mut self.counts, "verify --deep");
        // Acknowledged work, through the catalog.
        let v = callvault_vault::Vault::open(&self.data).expect("open");
        let c = v.catalog();
        for (call, id) in &self.uploads {
            let rid = RecordingId::parse(id).expect("id");
            if self.destroyed.contains(id) {
                assert!(c.recording(&rid).expect("catalog").is_none(), "{id}");
                assert_eq!(
                    c.tombstones(None, Some(&rid), false)
                        .expect("catalog")
                        .len(),
                    1,
                    "iteration {it}: destroyed {id} has no tombstone"
                );
            } else {
                assert!(
                    c.recording(&rid).expect("catalog").is_some(),
                    "iteration {it}: acknowledged upload {call} ({id}) is lost"
                );
                let events = c
                    .recording_events(&rid, &[callvault_audit::event::Action::Ingest.code()])
                    .expect("catalog")
                    .len();
                assert_eq!(events, 1, "iteration {it}: {id} has {events} ingest events");
            }
        }
        for (cp, call) in &self.imports {
            let row = c
                .recording_by_call(
                    &CareProvider::parse(cp).expect("cp"),
                    &CallId::parse(call).expect("call"),
                )
                .expect("catalog");
            assert!(row.is_some(), "iteration {it}: imported {call} is lost");
        }
        let executing = c
            .deletion_orders(
                None,
                None,
                Some(callvault_catalog::DeletionState::Executing),
            )
            .expect("catalog");
        assert!(
            executing.is_empty(),
            "iteration {it}: a deletion order is left executing"
        );
        assert_eq!(
            v.interrupted_rotations().expect("rotations"),
            vec![],
            "iteration {it}"
        );
        drop(v);

        lap(&mut self.counts, "catalog checks");
        // No partial state on disk, no plaintext anywhere.
        for site in ["a", "b"] {
            let tmp = self.data.join("sites").join(site).join("tmp");
            assert_eq!(
                walk(&tmp).len(),
                0,
                "iteration {it}: site {site} temporaries"
            );
        }
        assert_eq!(
            walk(&self.tmp),
            Vec::<PathBuf>::new(),
            "iteration {it}: the temporary directory"
        );
        let written: Vec<PathBuf> = [&self.data, &self.tmp, &self.logs]
            .iter()
            .flat_map(|d| walk(d))
            .filter(|f| {
                std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= since)
            })
            .collect();
        self.scan(it, written);
        lap(&mut self.counts, "search");
    }

    fn scan(&mut self, it: usize, files: Vec<PathBuf>) {
        self.counts.files_searched += files.len() as u64;
        self.counts.bytes_searched += files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum::<u64>();
        let found = search_files(files, &self.needles);
        assert!(
            found.is_empty(),
            "iteration {it}: patient data at rest:\n{}",
            found.join("\n")
        );
    }
}

/// Kills (SIGKILL) `child` `ms` milliseconds from now and reaps it.
fn kill_after(mut child: Child, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    let _ = child.kill();
    let _ = child.wait();
}

fn id_of(body: &[u8]) -> String {
    json(body)["id"].as_str().expect("id").to_owned()
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

#[test]
fn killed_at_random_points_nothing_acknowledged_is_lost_or_leaked() {
    let iterations = env_u64("CALLVAULT_CRASH_ITERATIONS").unwrap_or(12);
    let seed = env_u64("CALLVAULT_CRASH_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    });
    eprintln!("crash harness: {iterations} iterations, CALLVAULT_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = World::new(dir.path(), seed);
    w.set_up();
    let started = Instant::now();
    for it in 0..iterations as usize {
        let since = SystemTime::now() - Duration::from_secs(1);
        // Every fourth round of each kind, in a random order.
        let kind = match w.rng.below(10) {
            0..=3 => "upload",
            4 | 5 => "import",
            6 | 7 if !w.live.is_empty() => "deletion",
            6 | 7 => "upload",
            _ => "rotation",
        };
        let work = Instant::now();
        let rotated = match kind {
            "upload" => {
                w.upload_round(it);
                None
            }
            "import" => {
                w.import_round(it);
                None
            }
            "deletion" => {
                w.deletion_round(it);
                None
            }
            _ => Some(w.rotation_round()),
        };
        *w.counts.time.entry("work and kill").or_default() += work.elapsed();
        let finished_by_repair = w.counts.rotations_finished_by_repair;
        w.recover_and_check(it, since);
        if let Some((cp, before)) = rotated {
            // Done before the kill: a new version, and nothing left for repair to finish.
            let done = w.counts.rotations_finished_by_repair == finished_by_repair
                && w.kek_versions(cp) > before;
            w.landed("rotation", done);
            let o = w.run(&[
                "keys",
                "destroy-retired",
                "--data-dir",
                p(&w.data),
                "--care-provider",
                cp,
            ]);
            assert!(o.status.success(), "{}", text(&o));
        }
        if it % 25 == 24 {
            eprintln!(
                "crash harness: {} iterations in {:.0?}",
                it + 1,
                started.elapsed()
            );
        }
    }
    // At the end, every file of the deployment.
    let everything: Vec<PathBuf> = [&w.data, &w.tmp, &w.logs]
        .iter()
        .flat_map(|d| walk(d))
        .collect();
    w.scan(usize::MAX, everything);
    let c = &w.counts;
    let kills: Vec<String> = c
        .kills
        .iter()
        .map(|(k, (during, after))| {
            format!(
                "{k} {} ({during} before it was done, {after} after)",
                during + after
            )
        })
        .collect();
    eprintln!(
        "crash harness: {iterations} SIGKILLs in {:.0?} (seed {seed}): {}\n\
         uploads: {} sent, {} acknowledged before the kill, {} unanswered of which {} were stored \
         (the re-delivery found them); {} re-delivered, 0 lost, 0 duplicated\n\
         imports: {} rows, {} imported before the kill, all imported exactly once\n\
         deletions: {} orders over {} recordings, {} acknowledged before the kill, all finished, \
         0 left executing\n\
         rotations: {} finished by repair, 0 left unfinished\n\
         verify after the kills: {} problems, all objects of unacknowledged uploads; repair \
         removed {}; verify --deep clean after every iteration\n\
         server starts: {}; plaintext search: {} files, {} MiB, {} needles: 0 matches\n\
         time: {:.1?}",
        started.elapsed(),
        kills.join(", "),
        c.uploads,
        c.acknowledged,
        c.unanswered,
        c.unanswered_but_stored,
        c.redelivered,
        c.import_rows,
        c.import_rows_before_kill,
        c.deletion_orders,
        c.recordings_destroyed,
        c.deletions_acknowledged,
        c.rotations_finished_by_repair,
        c.problems_before_repair,
        c.objects_removed_by_repair,
        c.server_starts,
        c.files_searched,
        c.bytes_searched >> 20,
        w.needles.len(),
        c.time
    );
}
