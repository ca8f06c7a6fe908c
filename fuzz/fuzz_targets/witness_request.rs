//! A witness's `add-checkpoint` request: parsed, then decided against a witness that last
//! cosigned the seed log at size 5. A checkpoint is accepted only with the one correct
//! consistency proof.
#![no_main]

use callvault_audit::merkle::{consistency_proof, root};
use callvault_audit::note::NoteVerifier;
use callvault_audit::witness::{Seen, decide, parse_add_checkpoint};
use callvault_fuzz::seeds::{LOG_VERIFIER_KEY, WITNESS_SEEN, leaves};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = parse_add_checkpoint(body) else {
        return;
    };
    let log = NoteVerifier::from_verifier_key(LOG_VERIFIER_KEY).expect("log key");
    let seen = |_: &str| {
        Some(Seen {
            size: WITNESS_SEEN,
            root: root(&leaves(WITNESS_SEEN)),
        })
    };
    if let Ok(cp) = decide(std::slice::from_ref(&log), seen, &req) {
        assert!(cp.size >= WITNESS_SEEN);
        let all = leaves(cp.size);
        assert_eq!(cp.root_hash, root(&all), "a forged checkpoint was accepted");
        if cp.size > WITNESS_SEEN {
            let proof = consistency_proof(&all, WITNESS_SEEN).expect("proof");
            assert_eq!(req.proof, proof, "a wrong consistency proof was accepted");
        }
    }
});
