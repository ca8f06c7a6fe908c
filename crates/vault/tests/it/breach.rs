//! Breach test: with everything imported, no byte of any file under the data directory
//! (sites, catalog with its WAL and shared-memory files, keys dir, temp files) contains a
//! patient id in any spelling, a caller number, or the known audio pattern.

use crate::common::*;
use crate::keys::walk;

#[test]
fn no_identifier_or_audio_byte_is_readable_on_disk() {
    let t = TestVault::new();
    let n = 8u64;
    let m = archive(&t.archive(), n, 30_000);
    let actor = callvault_vault::vault_operator();
    t.vault
        .import_manifest(&m, &actor, |_, _, _| {})
        .expect("import");
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    t.vault.rotate_keys(&cp, &actor, |_, _| {}).expect("rotate");
    t.vault.verify(true, |_| {}).expect("verify");
    accesses(&t);
    t.vault.checkpoint().expect("checkpoint");

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..n {
        let p = pnr(i); // YYYYMMDD-NNNN
        let twelve = p.replace('-', "");
        let short = format!("{}-{}", &p[2..8], &p[9..]);
        for s in [p.clone(), twelve.clone(), short, twelve[2..].to_owned()] {
            needles.push((format!("patient {i} ({} chars)", s.len()), s.into_bytes()));
        }
        let caller = format!("+4670{:07}", 5_550_000 + i);
        needles.push((format!("caller {i}"), caller.clone().into_bytes()));
        needles.push((
            format!("caller {i} digits"),
            caller.as_bytes()[1..].to_vec(),
        ));
    }
    needles.push(("audio marker".into(), AUDIO_MARKER.to_vec()));

    // The vault is still open: the SQLite WAL and -shm files are on disk now.
    let files = walk(&t.data_dir());
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "scan must include the WAL"
    );
    let mut scanned = 0u64;
    let mut hits = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("read");
        scanned += data.len() as u64;
        for (what, needle) in &needles {
            if data.windows(needle.len()).any(|w| w == &needle[..]) {
                hits.push(format!("{what} in {}", f.display()));
            }
        }
    }
    println!(
        "breach scan: {} files, {} bytes, {} needles, {} matches",
        files.len(),
        scanned,
        needles.len(),
        hits.len()
    );
    assert!(hits.is_empty(), "plaintext found on disk: {hits:#?}");

    // The archive itself (outside the data directory) does contain them: the scan works.
    let archive_bytes = std::fs::read(t.archive().join("r0.wav")).expect("wav");
    assert!(archive_bytes.windows(32).any(|w| w == AUDIO_MARKER));
    let manifest = std::fs::read_to_string(&m).expect("manifest");
    assert!(manifest.contains(&pnr(0)) && manifest.contains("+46705550000"));
}

/// Plays, metadata reads, a patient search, and an emergency access whose free-text reason
/// names the patient: the access events must not leak either.
fn accesses(t: &TestVault) {
    use callvault_auth::{
        AccessRequest, Action, AssignmentSet, AuthenticatedPrincipal, Policy, PrincipalKind,
        Purpose, Resource,
    };
    use callvault_vault::access::target::*;
    let policy = Policy::new(
        AssignmentSet::parse(&care_assignment(
            "nurse",
            "SE2321000016-N001",
            CP_A,
            "SE2321000016-0042",
        ))
        .expect("assignments"),
    );
    let who = AuthenticatedPrincipal::assert_verified_certificate(
        callvault_types::HsaId::parse("SE2321000016-N001").expect("hsa"),
        PrincipalKind::Person,
        [1; 32],
    );
    let now = time::macros::datetime!(2026-11-27 12:00 UTC);
    let cp = callvault_types::CareProvider::parse(CP_A).expect("cp");
    let call = callvault_types::CallId::parse("call-0").expect("call");
    let id = t
        .vault
        .catalog()
        .recording_by_call(&cp, &call)
        .expect("q")
        .expect("row")
        .rec
        .id;
    // The nurse's own unit is another one: every access here is emergency access, with a
    // reason that names the patient.
    let reason = format!("patient {} called back, chest pain", pnr(0));
    for action in [Action::ViewMetadata, Action::Play] {
        let req = AccessRequest {
            action,
            resource: t.vault.recording_resource(&id).expect("q").expect("r"),
            purpose: Purpose::CareAndTreatment,
            assignment: None,
            emergency_reason: Some(reason.clone()),
            case_number: None,
        };
        let authz = policy.decide(&who, &req, now).expect("emergency access");
        if action == Action::Play {
            let target = Audio {
                id,
                range: 0..10_000,
                asked: None,
            };
            let receipt = t.vault.record_access(authz, target).expect("audited");
            t.vault.play(&receipt, |_| Ok(())).expect("play");
        } else {
            let receipt = t
                .vault
                .record_access(authz, Metadata { id })
                .expect("audited");
            t.vault.read_metadata(&receipt).expect("metadata");
        }
    }
    let req = AccessRequest {
        action: Action::Search,
        resource: Resource {
            care_provider: cp,
            care_unit: None,
        },
        purpose: Purpose::CareAndTreatment,
        assignment: None,
        emergency_reason: Some(reason),
        case_number: None,
    };
    let authz = policy.decide(&who, &req, now).expect("search");
    let receipt = t
        .vault
        .record_access(
            authz.clone(),
            PatientSearch {
                patient: callvault_types::PatientId::parse(&pnr(0)).expect("pnr"),
                filter: callvault_vault::access::SearchFilter::default(),
            },
        )
        .expect("audited");
    assert_eq!(t.vault.search_patient(&receipt).expect("search").len(), 1);
}
