//! Writes the seed corpora (`fuzz/corpus/<target>/seed-*`): one or more valid inputs per
//! target, made by the project's own encoders, so the fuzzer starts from the accepted
//! shape and mutates from there. Run from `fuzz/`: `cargo run --example seeds`.

use std::path::Path;

use callvault_audit::cosignature::Cosigner;
use callvault_audit::event::{Actor, AuditEvent, Outcome, RecordingRef, SealedPatient};
use callvault_audit::merkle::{consistency_proof, root};
use callvault_audit::note::{Checkpoint, NoteSigner, sign_checkpoint};
use callvault_audit::witness::format_add_checkpoint;
use callvault_crypto::envelope::{DekId, EnvelopeHeader};
use callvault_crypto::secret::DataKey;
use callvault_fuzz::seeds::*;
use callvault_fuzz::{CARE_PROVIDER, CARE_UNIT, multipart_body};
use callvault_types::RecordingId;
use rustls_pki_types::pem::PemObject;

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed");
}

fn metadata(call: &str) -> String {
    format!(
        r#"{{"care_provider":"{CARE_PROVIDER}","care_unit":"{CARE_UNIT}","call_id":"{call}","started_at":"2026-11-01T09:00:00Z","patient_id":"{}","caller_number":"+46709876543","nurse_hsa_id":"SE2321000016-N001"}}"#,
        callvault_vault::demo::personnummer(7)
    )
}

fn wav(samples: usize) -> Vec<u8> {
    let mut w = callvault_vault::wav::header(6, 2, 8000, 8, samples as u32 * 2);
    w.extend((0..samples * 2).map(|i| (i * 37 % 256) as u8));
    w
}

fn main() {
    let audio = wav(800);
    write("wav_header", "alaw-stereo", &audio);
    write(
        "upload_route",
        "valid",
        multipart_body(&metadata("fuzz-1"), &audio),
    );
    write(
        "upload_route",
        "empty-audio",
        multipart_body(&metadata("fuzz-2"), b""),
    );
    write("upload_metadata", "valid", metadata("fuzz-1"));
    write(
        "upload_metadata",
        "minimal",
        format!(
            r#"{{"care_provider":"{CARE_PROVIDER}","care_unit":"{CARE_UNIT}","call_id":"c","started_at":"2026-11-01T09:00:00+01:00","patient_id":"191212121212"}}"#
        ),
    );

    let fields = callvault_vault::manifest::FIELDS.join(",");
    let pnr = callvault_vault::demo::personnummer(9);
    write(
        "manifest_csv",
        "two-rows",
        format!(
            "{fields}\ncall-1.wav,c-1,{CARE_PROVIDER},{CARE_UNIT},2026-11-01T09:00:00Z,{pnr},+46709876543,SE2321000016-N001\ncall-2.wav,c-2,{CARE_PROVIDER},{CARE_UNIT},2026-11-01T10:00:00Z,{pnr},,\n"
        ),
    );
    write(
        "manifest_jsonl",
        "two-rows",
        format!(
            "{{\"path\":\"call-1.wav\",\"call_id\":\"c-1\",\"care_provider\":\"{CARE_PROVIDER}\",\"care_unit\":\"{CARE_UNIT}\",\"started_at\":\"2026-11-01T09:00:00Z\",\"patient_id\":\"{pnr}\",\"caller_number\":\"+46709876543\",\"nurse_hsa_id\":\"SE2321000016-N001\"}}\n{{\"path\":\"call-2.wav\",\"call_id\":\"c-2\",\"care_provider\":\"{CARE_PROVIDER}\",\"care_unit\":\"{CARE_UNIT}\",\"started_at\":\"2026-11-01T10:00:00Z\",\"patient_id\":\"{pnr}\"}}\n"
        ),
    );

    // The authentic blob: one segment under the fixed key.
    let header = EnvelopeHeader::v1(RecordingId::from_bytes(BLOB_RECORDING), DekId(BLOB_DEK_ID));
    let key = DataKey::from_bytes(BLOB_KEY);
    let plain = blob_plaintext();
    let mut enc = header.encryptor(&plain[..], &key).expect("encryptor");
    let mut blob = Vec::new();
    while let Some(c) = enc.next_chunk().expect("chunk") {
        blob.extend_from_slice(&c);
    }
    write("blob_decode", "authentic", &blob);

    // Audit events: a person's play of a recording, and an operator's step with details.
    let mut play = AuditEvent::new(
        Actor::Person(callvault_types::HsaId::parse("SE2321000016-N001").expect("hsa")),
        callvault_audit::event::Action::Play,
        "sha256:00",
    );
    play.recording = Some(RecordingRef {
        id: RecordingId::from_bytes(BLOB_RECORDING),
        plaintext_sha256: [3; 32],
    });
    play.patient = Some(SealedPatient {
        sealed: vec![9; 61],
        blind_index: [4; 32],
    });
    play.purpose = Some("care".into());
    play.assignment = Some("nurse-a".into());
    write("audit_event", "play", play.encode().expect("encode"));
    let mut op = AuditEvent::new(
        Actor::Operator("root@host".into()),
        callvault_audit::event::Action::KeyRotation,
        "cli",
    )
    .detail("version", 2);
    op.outcome = Outcome::Failed("disk full".into());
    write("audit_event", "operator", op.encode().expect("encode"));

    // Checkpoints of the seed log, signed with the log key and cosigned by the witness.
    let signer = NoteSigner::from_signer_key(LOG_SIGNER_KEY).expect("log key");
    let cosigner = Cosigner::from_signer_key(WITNESS_SIGNER_KEY).expect("witness key");
    for size in [1u64, 8, 16] {
        let all = leaves(size);
        let cp = Checkpoint {
            origin: signer.name().to_owned(),
            size,
            root_hash: root(&all),
            extensions: vec![],
        };
        let note = sign_checkpoint(&signer, &cp).expect("sign");
        write("signed_note", &format!("checkpoint-{size}"), &note);
        write("signed_note", &format!("body-{size}"), cp.to_body());
        let text = cp.to_body();
        let cosigned = format!(
            "{note}{}",
            cosigner.cosign(&text, 1_700_000_000).expect("cosign")
        );
        write("signed_note", &format!("cosigned-{size}"), cosigned);
        if size > WITNESS_SEEN {
            let proof = consistency_proof(&all, WITNESS_SEEN).expect("proof");
            write(
                "witness_request",
                &format!("to-{size}"),
                format_add_checkpoint(WITNESS_SEEN, &proof, &note),
            );
            let mut m = vec![1u8, (size - 1) as u8, (WITNESS_SEEN - 1) as u8];
            m.extend_from_slice(&[0; 15]);
            m.extend(proof.iter().flatten());
            write("merkle_proof", &format!("consistency-{size}"), m);
        }
        let index = size / 2;
        let mut m = vec![0u8, (size - 1) as u8, index as u8];
        m.extend_from_slice(&[0; 15]);
        m.extend(
            callvault_audit::merkle::inclusion_proof(&all, index)
                .expect("proof")
                .iter()
                .flatten(),
        );
        write("merkle_proof", &format!("inclusion-{size}"), m);
    }

    // Every TOML example of the configuration reference, for both configuration targets.
    let reference =
        std::fs::read_to_string("../docs/configuration.md").expect("docs/configuration.md");
    for (i, block) in reference.split("```toml\n").skip(1).enumerate() {
        let toml = block.split("```").next().unwrap_or_default();
        write("config_vault", &format!("reference-{i}"), toml);
        write("config_server", &format!("reference-{i}"), toml);
    }
    let data = tempfile::tempdir().expect("tempdir");
    let cp = callvault_types::CareProvider::parse(CARE_PROVIDER).expect("cp");
    callvault_vault::Vault::init(&data.path().join("d"), "audit.fuzz.example", &[cp])
        .expect("init");
    write(
        "config_vault",
        "init",
        std::fs::read(data.path().join("d/callvault.toml")).expect("callvault.toml"),
    );

    let from = "2026-01-01T00:00:00Z";
    let until = "2026-12-31T00:00:00Z";
    let spec = callvault_auth::AssignmentSpec {
        id: "nurse-a",
        holder: "SE2321000016-N001",
        care_provider: CARE_PROVIDER,
        care_units: &[CARE_UNIT],
        purpose: "vård och behandling",
        rights: &["search", "play"],
        valid_from: from,
        valid_until: until,
    }
    .to_toml();
    let user = callvault_auth::UserEntry::new(
        "SE2321000016-N001",
        "Anna Andersson",
        "Sjuksköterska",
        CARE_PROVIDER,
    )
    .expect("user")
    .with_personal_id(&pnr)
    .expect("pnr")
    .to_toml();
    write(
        "assignments",
        "user-and-assignment",
        format!("{user}{spec}"),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = callvault_pki::generate(
        dir.path(),
        &callvault_pki::demo_clients(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("pki");
    for (name, chain, _, _) in pki.clients.iter().take(3) {
        let pem = std::fs::read(chain).expect("chain");
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
            .next()
            .expect("one")
            .expect("der");
        write("client_certificate", name, der.as_ref());
    }
    for (name, r) in [
        ("from-to", "bytes=0-1023"),
        ("suffix", "bytes=-500"),
        ("open", "bytes=100-"),
        ("several", "bytes=0-1,5-9,100-"),
    ] {
        write("range_header", name, r);
    }
    println!("seed corpora written under fuzz/corpus/");
}
