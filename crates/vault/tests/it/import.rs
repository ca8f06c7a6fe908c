//! Manifest import: good rows, bad rows, resumability.

use callvault_vault::import::RowOutcome;

use crate::common::*;

#[test]
fn imports_good_rows_reports_bad_rows_and_resumes() {
    let t = TestVault::new();
    let dir = t.archive();
    std::fs::create_dir_all(&dir).expect("mkdir");
    for i in 0..3u8 {
        std::fs::write(dir.join(format!("ok{i}.wav")), wav_bytes(4000, i)).expect("wav");
    }
    std::fs::write(dir.join("notwav.wav"), b"this is a text file, not audio").expect("txt");
    std::fs::write(dir.join("dup.wav"), wav_bytes(4000, 99)).expect("wav");
    let mut bad_pnr = row("ok1.wav", 11);
    bad_pnr.patient = {
        // Change the check digit.
        let mut p = pnr(11);
        let last = p.pop().expect("digit");
        p.push(if last == '9' {
            '0'
        } else {
            char::from(last as u8 + 1)
        });
        p
    };
    let mut bad_hsa = row("ok2.wav", 12);
    bad_hsa.cp = "SE232100001-0001";
    let mut unregistered = row("ok2.wav", 13);
    unregistered.cp = "SE2321000999-0001";
    let mut dup = row("dup.wav", 0);
    dup.call_id = "call-0".into(); // same call id as row 0, different audio
    let rows = vec![
        row("ok0.wav", 0),
        row("ok1.wav", 1),
        row("missing.wav", 2),
        bad_pnr,
        bad_hsa,
        row("notwav.wav", 5),
        dup,
        row("ok2.wav", 2),
        unregistered,
    ];
    let manifest = write_manifest(&dir, "manifest.csv", &rows);
    let actor = callvault_vault::vault_operator();
    let mut seen = Vec::new();
    let s = t
        .vault
        .import_manifest(&manifest, &actor, |i, total, o| {
            seen.push((i, total, o.clone()))
        })
        .expect("import");
    assert_eq!(seen.len(), 9);
    assert_eq!((s.rows, s.imported, s.skipped), (9, 3, 0));
    let lines: Vec<(u64, &str)> = s
        .failures
        .iter()
        .map(|f| (f.line, f.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0].0, 4);
    assert!(
        lines[0].1.contains("cannot open ") && lines[0].1.contains("missing.wav"),
        "the missing file is named: {lines:?}"
    );
    assert_eq!(lines[1].0, 5);
    assert!(lines[1].1.contains("check digit"), "{lines:?}");
    assert_eq!(lines[2].0, 6);
    assert!(
        lines[2].1.contains("care_provider") && lines[2].1.contains("organisation number"),
        "{lines:?}"
    );
    assert_eq!(lines[3].0, 7);
    assert!(lines[3].1.contains("not a WAV file"), "{lines:?}");
    assert_eq!(lines[4].0, 8);
    assert!(
        lines[4]
            .1
            .contains("already imported with different content"),
        "{lines:?}"
    );
    assert_eq!(lines[5].0, 10);
    assert!(
        lines[5].1.contains("SE2321000999-0001 is not registered"),
        "{lines:?}"
    );
    for f in &s.failures {
        assert!(
            !f.reason.contains(&pnr(11)[..8]),
            "reasons never echo patient ids"
        );
    }

    // Running again skips what is there and fails the same bad rows.
    let s2 = t
        .vault
        .import_manifest(&manifest, &actor, |_, _, _| {})
        .expect("import again");
    assert_eq!((s2.imported, s2.skipped, s2.failures.len()), (0, 3, 6));
    assert_eq!(t.vault.catalog().stats().expect("stats").recordings, 3);

    // And everything verifies deeply.
    let r = t.vault.verify(true, |_| {}).expect("verify");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.recordings, 3);
    assert_eq!(r.copies, 6);
}

#[test]
fn jsonl_manifest_and_single_row_outcomes() {
    let t = TestVault::new();
    let dir = t.archive();
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("a.wav"), wav_bytes(8000, 1)).expect("wav");
    let line = format!(
        "{{\"path\":\"a.wav\",\"call_id\":\"j1\",\"care_provider\":\"{CP_A}\",\"care_unit\":\"{UNIT_A}\",\"started_at\":\"2026-01-02T03:04:05+01:00\",\"patient_id\":\"R:RES-77\",\"caller_number\":\"\",\"nurse_hsa_id\":\"\"}}\n"
    );
    let manifest = dir.join("m.jsonl");
    std::fs::write(&manifest, line).expect("write");
    let mut outcomes = Vec::new();
    let s = t
        .vault
        .import_manifest(&manifest, &callvault_vault::vault_operator(), |_, _, o| {
            outcomes.push(o.clone())
        })
        .expect("import");
    assert_eq!(s.imported, 1);
    assert_eq!(
        outcomes,
        vec![RowOutcome::Imported {
            failed_sites: vec![]
        }]
    );
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let call = callvault_types::CallId::parse("j1").expect("call");
    let row = t
        .vault
        .catalog()
        .recording_by_call(&cp, &call)
        .expect("q")
        .expect("row");
    assert_eq!(row.rec.duration_ms, 1000);
    assert_eq!(row.rec.codec, "pcm_s16le");
    // Retention: call start + 10 years.
    assert_eq!(row.rec.retention_until.year(), 2036);
    assert!(row.rec.caller.is_none());
}

/// A file named after a personnummer is never named in a reason; other files are, and a
/// header that is not ours says which columns it found and which are missing — without
/// showing a value that sits where a name should be (a file without a header line).
#[test]
fn reasons_name_files_and_columns_but_never_a_personal_number() {
    let t = TestVault::new();
    let dir = t.archive();
    let manifest = write_manifest(&dir, "m.csv", &[row("19121212-1212.wav", 0)]);
    let s = t
        .vault
        .import_manifest(&manifest, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let reason = &s.failures[0].reason;
    assert!(reason.contains("is not shown"), "{reason}");
    assert!(!reason.contains("1212"), "{reason}");

    let headerless = dir.join("headerless.csv");
    std::fs::write(
        &headerless,
        format!(
            "a.wav,call-1,{CP_A},{UNIT_A},2026-05-04T10:00:00Z,{},,\n",
            pnr(1)
        ),
    )
    .expect("write");
    let e = t
        .vault
        .import_manifest(
            &headerless,
            &callvault_vault::vault_operator(),
            |_, _, _| {},
        )
        .expect_err("no header");
    let m = e.to_string();
    assert!(m.contains("missing: path, call_id"), "{m}");
    assert!(m.contains("<column 6: not a column name>"), "{m}");
    assert!(!m.contains(&pnr(1)), "{m}");
    assert!(!m.contains("<unknown>"), "{m}");
}
