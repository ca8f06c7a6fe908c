//! Inclusion and consistency proofs (RFC 6962 / 9162) as a client receives them: over a
//! tree of up to 64 leaves a proof verifies only if it is the one correct proof, and
//! sizes and indexes anywhere in u64 never panic.
#![no_main]

use callvault_audit::merkle::{
    Hash, consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
use callvault_fuzz::seeds::leaves;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let size = u64::from(data[1] % 64) + 1;
    let other = u64::from(data[2] % 64) + 1;
    let a = u64::from_be_bytes(data[2..10].try_into().expect("8"));
    let b = u64::from_be_bytes(data[10..18].try_into().expect("8"));
    let proof: Vec<Hash> = data[18..]
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32"))
        .collect();
    let all = leaves(size);
    let r = root(&all);
    if data[0] & 1 == 0 {
        let index = other % size;
        let leaf = all[index as usize];
        if verify_inclusion(index, size, &leaf, &proof, &r).is_ok() {
            assert_eq!(
                proof,
                inclusion_proof(&all, index).expect("proof"),
                "a wrong inclusion proof verified"
            );
        }
        let _ = verify_inclusion(a, b, &leaf, &proof, &r);
    } else {
        let old = other.min(size);
        let old_root = root(&all[..old as usize]);
        if verify_consistency(old, size, &old_root, &r, &proof).is_ok() {
            let expected = if old == size {
                Vec::new()
            } else {
                consistency_proof(&all, old).expect("proof")
            };
            assert_eq!(proof, expected, "a wrong consistency proof verified");
        }
        let _ = verify_consistency(a, b, &old_root, &r, &proof);
    }
});
