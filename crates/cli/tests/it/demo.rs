//! `callvault demo`: the whole embedded vault from one command, without patient data in its
//! output.

use crate::*;

#[test]
fn demo_imports_verifies_and_prints_no_patient_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let o = demo_no_serve(&data, "6", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("6 imported"), "{out}");
    assert!(out.contains("OK: no problems found"), "{out}");
    assert!(
        out.contains("— audit.callvault.demo.example "),
        "signed checkpoint: {out}"
    );
    for i in 0..6u64 {
        let pnr = callvault_vault::demo::personnummer(i + 1);
        assert!(
            !out.contains(&pnr) && !out.contains(&pnr.replace('-', "")),
            "patient id printed"
        );
    }
    assert!(!out.contains("+4670"), "caller number printed");
    // The generated plaintext archive is gone: only ciphertext remains.
    assert!(!data.join("legacy-archive").exists());

    // Running it again reuses the directory and skips what is imported.
    let o = demo_no_serve(&data, "6", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("0 imported") && out.contains("6 already imported"),
        "{out}"
    );

    let o = callvault(&["status", "--data-dir", p(&data)]);
    assert!(o.status.success());
    let out = text(&o);
    assert!(
        out.contains("recordings:        6") && out.contains("under-replicated:  0"),
        "{out}"
    );

    let o = callvault(&["audit", "events", "--data-dir", p(&data), "--last", "60"]);
    assert!(o.status.success(), "{}", text(&o));
    let events = text(&o);
    assert!(
        events.contains("recording.import  granted") && events.contains("patient #"),
        "{events}"
    );
    for i in 0..6u64 {
        let pnr = callvault_vault::demo::personnummer(i + 1);
        assert!(
            !events.contains(&pnr) && !events.contains(&pnr.replace('-', "")),
            "patient id printed"
        );
    }
    // The demo also prepared the access server: PKI and configuration; its assignments went
    // through the governance workflow (bootstrap, import as requests, four-eyes approval).
    for f in ["pki/nurse-a.p12", "pki/admin-a2.pem", "server.toml"] {
        assert!(data.join(f).exists(), "{f}");
    }
    for code in [
        "governance.bootstrap",
        "assignments.import",
        "user.register",
        "assignment.request",
        "assignment.approve",
    ] {
        assert!(events.contains(code), "{code}: {events}");
    }
    let o = callvault(&["assignments", "list", "--data-dir", p(&data)]);
    let list = text(&o);
    assert!(o.status.success(), "{list}");
    assert!(
        list.contains("nurse-a  SE2321000016-N001")
            && list.contains("approved (in force)")
            && list.contains("decided by person:SE2321000016-A002"),
        "{list}"
    );
    let o = callvault(&[
        "governance",
        "review",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
        "--format",
        "csv",
    ]);
    let csv = text(&o);
    assert!(o.status.success(), "{csv}");
    assert!(
        csv.starts_with("id,holder,holder_name,")
            && csv.contains("nurse-a,SE2321000016-N001,Anna Andersson,Sjuksköterska,"),
        "{csv}"
    );
    // A second bootstrap is refused: the care provider has administrators in force.
    let o = callvault(&[
        "governance",
        "bootstrap",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
        "--admin",
        "SE2321000016-X001",
        "Mallory",
        "Admin",
        "--admin",
        "SE2321000016-X002",
        "Mallory Two",
        "Admin",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("already has privilege administrators in force"),
        "{}",
        text(&o)
    );
    // Example inputs with (synthetic) patient ids live beside the data directory, not in it.
    for f in ["upload-metadata.json", "patient.txt", "assignments.toml"] {
        assert!(data.with_extension("examples").join(f).exists(), "{f}");
    }
    let o = callvault(&["audit", "proof", "--data-dir", p(&data), "--index", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("leaf_hash: "));
    let o = callvault(&[
        "keys",
        "rotate",
        "--data-dir",
        p(&data),
        "--care-provider",
        "SE2321000016-0001",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("KEK v2 is current; re-wrapped 3 data keys"),
        "{}",
        text(&o)
    );
    let o = callvault(&["verify", "--deep", "--data-dir", p(&data)]);
    assert!(o.status.success(), "{}", text(&o));
}
