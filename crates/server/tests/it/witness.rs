//! The witness over real TLS: it cosigns a real vault's honest checkpoints, keeps its state
//! across a restart, and refuses a fork of equal or overlapping size with the statuses of
//! C2SP tlog-witness.

use std::sync::Arc;

use callvault_audit::cosignature::{CosignatureVerifier, Cosigner};
use callvault_audit::merkle::{consistency_proof, root};
use callvault_audit::note::{Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint};
use callvault_audit::witness::format_add_checkpoint;
use callvault_server::client::ApiClient;
use callvault_server::witness::{WitnessState, serve_witness, witness_app, witness_tls};
use callvault_types::CareProvider;
use callvault_vault::Vault;

struct Witness {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn start(
    rt: &tokio::runtime::Runtime,
    pki: &callvault_pki::DevPki,
    state_dir: &std::path::Path,
    logs: Vec<NoteVerifier>,
    cosigner: Arc<Cosigner>,
) -> Witness {
    let state = Arc::new(WitnessState::open(state_dir).expect("state"));
    let tls = witness_tls(&pki.server_chain, &pki.server_key).expect("tls");
    let app = witness_app(state, logs, cosigner);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(serve_witness(listener, tls, app, async {
        let _ = rx.await;
    }));
    Witness {
        addr,
        stop: Some(tx),
        task,
    }
}

impl Witness {
    fn stop(mut self, rt: &tokio::runtime::Runtime) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = rt.block_on(&mut self.task);
    }
}

fn post(c: &ApiClient, body: &str) -> (u16, String, String) {
    let r = c
        .call_with(
            "POST",
            "/add-checkpoint",
            Some(("text/plain", body.as_bytes())),
        )
        .expect("call");
    (
        r.status,
        r.content_type,
        String::from_utf8_lossy(&r.body).into_owned(),
    )
}

#[test]
fn a_witness_cosigns_honest_checkpoints_and_refuses_a_fork() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = callvault_pki::generate(
        &dir.path().join("pki"),
        &callvault_pki::demo_clients(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("pki");
    let data = dir.path().join("data");
    let vault = Vault::init(
        &data,
        "audit.callvault.witness-test.example",
        &[CareProvider::parse("SE2321000016-0001").expect("cp")],
    )
    .expect("init");
    let log_key = NoteVerifier::from_verifier_key(&vault.verifier_key()).expect("vkey");
    let (cosigner, _) = Cosigner::generate("witness.region-varmland.example/w1").expect("key");
    let cosigner = Arc::new(cosigner);
    let witness_key =
        CosignatureVerifier::from_verifier_key(&cosigner.verifier_key()).expect("vkey");
    let state_dir = dir.path().join("witness-state");
    let w = start(
        &rt,
        &pki,
        &state_dir,
        vec![log_key.clone()],
        Arc::clone(&cosigner),
    );
    let client = ApiClient::anonymous(
        &format!("https://127.0.0.1:{}", w.addr.port()),
        &pki.root_ca,
    )
    .expect("client");

    // First contact: old size 0, no proof; the cosignature verifies with the witness key.
    let cp1 = vault.checkpoint().expect("checkpoint");
    let (s, _, body) = post(&client, &format_add_checkpoint(0, &[], &cp1.note));
    assert_eq!(s, 200, "{body}");
    let cosigned = format!("{}{body}", cp1.note);
    witness_key.verify_note(&cosigned).expect("cosignature");

    // The log grows; the next checkpoint comes with a consistency proof.
    for _ in 0..3 {
        vault
            .record_audit_read(&callvault_vault::vault_operator(), "test")
            .expect("event");
    }
    let cp2 = vault.checkpoint().expect("checkpoint");
    let proof = vault.consistency_proof(cp1.size).expect("proof");
    let (s, _, body) = post(
        &client,
        &format_add_checkpoint(cp1.size, &proof.proof, &cp2.note),
    );
    assert_eq!(s, 200, "{body}");
    witness_key
        .verify_note(&format!("{}{body}", cp2.note))
        .expect("cosignature");

    // A stale old size: 409 with the size the witness holds, as text/x.tlog.size.
    let (s, ctype, body) = post(&client, &format_add_checkpoint(0, &[], &cp2.note));
    assert_eq!(
        (s, ctype.as_str(), body.as_str()),
        (409, "text/x.tlog.size", format!("{}\n", cp2.size).as_str())
    );

    // A fork signed with the log's own key (as an attacker holding it would): a different
    // tree of the same size is refused (409), and a tree of overlapping, larger size whose
    // proof cannot reach the root the witness holds is refused (422).
    let signer = NoteSigner::from_signer_key(
        std::fs::read_to_string(data.join("keys/audit-signing.key"))
            .expect("signing key")
            .trim(),
    )
    .expect("signer");
    let mut forged = vault.catalog().audit_leaf_hashes(cp2.size).expect("leaves");
    forged[1] = callvault_audit::merkle::leaf_hash(b"a forged event");
    let forged_note = |leaves: &[[u8; 32]]| {
        sign_checkpoint(
            &signer,
            &Checkpoint {
                origin: signer.name().to_owned(),
                size: leaves.len() as u64,
                root_hash: root(leaves),
                extensions: Vec::new(),
            },
        )
        .expect("sign")
    };
    let (s, _, body) = post(
        &client,
        &format_add_checkpoint(cp2.size, &[], &forged_note(&forged)),
    );
    assert_eq!(s, 409, "same-size fork: {body}");
    let mut longer = forged.clone();
    longer.extend([[7u8; 32], [8u8; 32], [9u8; 32]]);
    let proof = consistency_proof(&longer, cp2.size).expect("proof");
    let (s, _, body) = post(
        &client,
        &format_add_checkpoint(cp2.size, &proof, &forged_note(&longer)),
    );
    assert_eq!(s, 422, "overlapping fork: {body}");

    // Not a configured log: 404; the configured origin signed by another key: 403.
    let (stranger, _) = NoteSigner::generate("log.elsewhere.example").expect("key");
    let note = sign_checkpoint(
        &stranger,
        &Checkpoint {
            origin: "log.elsewhere.example".into(),
            size: 1,
            root_hash: [1; 32],
            extensions: vec![],
        },
    )
    .expect("sign");
    assert_eq!(post(&client, &format_add_checkpoint(0, &[], &note)).0, 404);
    let (impostor, _) = NoteSigner::generate(signer.name()).expect("key");
    assert_eq!(
        post(
            &client,
            &format_add_checkpoint(cp2.size, &[], &forged_note_with(&impostor, &forged))
        )
        .0,
        403
    );
    assert_eq!(post(&client, "old 1\nnot base64\n\nx\n").0, 400);

    // The state survives a restart: the witness still holds size cp2.
    w.stop(&rt);
    let w = start(&rt, &pki, &state_dir, vec![log_key], Arc::clone(&cosigner));
    let client = ApiClient::anonymous(
        &format!("https://127.0.0.1:{}", w.addr.port()),
        &pki.root_ca,
    )
    .expect("client");
    let (s, _, body) = post(&client, &format_add_checkpoint(0, &[], &cp1.note));
    assert_eq!((s, body), (409, format!("{}\n", cp2.size)));
    w.stop(&rt);
}

fn forged_note_with(signer: &NoteSigner, leaves: &[[u8; 32]]) -> String {
    sign_checkpoint(
        signer,
        &Checkpoint {
            origin: signer.name().to_owned(),
            size: leaves.len() as u64,
            root_hash: root(leaves),
            extensions: Vec::new(),
        },
    )
    .expect("sign")
}
