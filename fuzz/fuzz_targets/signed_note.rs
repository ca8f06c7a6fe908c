//! Checkpoints and signed notes as they arrive from a log or a witness: a checkpoint body
//! parses only in its canonical form, and a note verifies only if we signed it — under the
//! log key (only correct checkpoints of the seed log were signed) or the witness's
//! cosigning key.
#![no_main]

use callvault_audit::cosignature::CosignatureVerifier;
use callvault_audit::merkle::root;
use callvault_audit::note::{Checkpoint, NoteVerifier, verify_checkpoint};
use callvault_fuzz::seeds::{LOG_VERIFIER_KEY, WITNESS_VERIFIER_KEY, leaves};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse_body(text) {
        assert_eq!(cp.to_body(), text, "a non-canonical checkpoint body parsed");
    }
    let log = NoteVerifier::from_verifier_key(LOG_VERIFIER_KEY).expect("log key");
    if let Ok(cp) = verify_checkpoint(&log, text) {
        assert!(cp.size <= 64, "a checkpoint the seeds never signed: {cp:?}");
        assert_eq!(
            cp.root_hash,
            root(&leaves(cp.size)),
            "a forged checkpoint verified"
        );
    }
    let witness =
        CosignatureVerifier::from_verifier_key(WITNESS_VERIFIER_KEY).expect("witness key");
    if let Ok(time) = witness.verify_note(text) {
        // Only the seeds' cosignatures exist, all made at this time.
        assert_eq!(time, 1_700_000_000, "a forged cosignature verified");
    }
});
