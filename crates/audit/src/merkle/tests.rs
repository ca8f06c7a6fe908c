use super::*;

const LEAVES_HEX: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const ROOTS_HEX: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const EMPTY_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// (leaf number, 1-based; tree size; path)
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, proof)
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    let bytes = hex::decode(s).expect("valid hex");
    bytes.try_into().expect("32-byte hash")
}

fn hs(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

fn vector_leaves() -> Vec<Hash> {
    LEAVES_HEX
        .iter()
        .map(|s| leaf_hash(&hex::decode(s).expect("valid hex")))
        .collect()
}

fn synthetic_leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

fn size_of(leaves: &[Hash]) -> u64 {
    u64::try_from(leaves.len()).expect("fits")
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// Every corruption of a valid inclusion proof must be rejected.
fn assert_inclusion_corruptions_fail(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) {
    let ctx = format!("index {index} size {size}");
    let junk = leaf_hash(b"junk");
    // Wrong index.
    if index > 0 {
        assert!(
            verify_inclusion(index - 1, size, leaf, proof, root).is_err(),
            "{ctx}"
        );
    }
    assert!(
        verify_inclusion(index + 1, size, leaf, proof, root).is_err(),
        "{ctx}"
    );
    // Wrong size.
    assert!(
        verify_inclusion(index, size * 2, leaf, proof, root).is_err(),
        "{ctx}"
    );
    if size / 2 != size {
        assert!(
            verify_inclusion(index, size / 2, leaf, proof, root).is_err(),
            "{ctx}"
        );
    }
    // Wrong leaf and wrong root.
    assert!(
        verify_inclusion(index, size, &junk, proof, root).is_err(),
        "{ctx}"
    );
    assert_eq!(
        verify_inclusion(index, size, leaf, proof, &flip(root, 0)),
        Err(ProofError::RootMismatch),
        "{ctx}"
    );
    // Flipped bit in each element (first and last bit of every hash).
    for i in 0..proof.len() {
        for bit in [0, 255] {
            let mut bad = proof.to_vec();
            bad[i] = flip(&bad[i], bit);
            assert_eq!(
                verify_inclusion(index, size, leaf, &bad, root),
                Err(ProofError::RootMismatch),
                "{ctx} element {i} bit {bit}"
            );
        }
    }
    // Truncated.
    if let Some((_, short)) = proof.split_last() {
        assert!(
            verify_inclusion(index, size, leaf, short, root).is_err(),
            "{ctx}"
        );
    }
    // Extra element prepended / appended.
    let mut longer = vec![junk];
    longer.extend_from_slice(proof);
    assert!(
        verify_inclusion(index, size, leaf, &longer, root).is_err(),
        "{ctx}"
    );
    let mut longer = proof.to_vec();
    longer.push(junk);
    assert!(
        verify_inclusion(index, size, leaf, &longer, root).is_err(),
        "{ctx}"
    );
}

/// Every corruption of a valid consistency proof must be rejected.
fn assert_consistency_corruptions_fail(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) {
    let ctx = format!("old {old_size} new {new_size}");
    let junk = leaf_hash(b"junk");
    // Wrong sizes.
    if old_size > 1 {
        assert!(
            verify_consistency(old_size - 1, new_size, old_root, new_root, proof).is_err(),
            "{ctx}"
        );
    }
    assert!(
        verify_consistency(old_size + 1, new_size, old_root, new_root, proof).is_err(),
        "{ctx}"
    );
    assert!(
        verify_consistency(old_size, new_size * 2, old_root, new_root, proof).is_err(),
        "{ctx}"
    );
    if new_size / 2 != new_size {
        assert!(
            verify_consistency(old_size, new_size / 2, old_root, new_root, proof).is_err(),
            "{ctx}"
        );
    }
    // Wrong roots.
    assert_eq!(
        verify_consistency(old_size, new_size, &flip(old_root, 0), new_root, proof),
        Err(ProofError::RootMismatch),
        "{ctx}"
    );
    assert_eq!(
        verify_consistency(old_size, new_size, old_root, &flip(new_root, 0), proof),
        Err(ProofError::RootMismatch),
        "{ctx}"
    );
    // Flipped bit in each element.
    for i in 0..proof.len() {
        for bit in [0, 255] {
            let mut bad = proof.to_vec();
            bad[i] = flip(&bad[i], bit);
            assert_eq!(
                verify_consistency(old_size, new_size, old_root, new_root, &bad),
                Err(ProofError::RootMismatch),
                "{ctx} element {i} bit {bit}"
            );
        }
    }
    // Truncated.
    if let Some((_, short)) = proof.split_last() {
        assert!(
            verify_consistency(old_size, new_size, old_root, new_root, short).is_err(),
            "{ctx}"
        );
    }
    // Extra element prepended / appended.
    let mut longer = vec![junk];
    longer.extend_from_slice(proof);
    assert!(
        verify_consistency(old_size, new_size, old_root, new_root, &longer).is_err(),
        "{ctx}"
    );
    let mut longer = proof.to_vec();
    longer.push(junk);
    assert!(
        verify_consistency(old_size, new_size, old_root, new_root, &longer).is_err(),
        "{ctx}"
    );
}

#[test]
fn empty_tree_root_matches_vector() {
    assert_eq!(empty_root(), h(EMPTY_HEX));
    assert_eq!(root(&[]), h(EMPTY_HEX));
    assert_eq!(RootBuilder::new().root(), h(EMPTY_HEX));
    assert_eq!(RootBuilder::default().size(), 0);
}

#[test]
fn roots_match_published_vectors() {
    let leaves = vector_leaves();
    for (n, want) in ROOTS_HEX.iter().enumerate() {
        assert_eq!(root(&leaves[..=n]), h(want), "tree size {}", n + 1);
    }
}

#[test]
fn inclusion_proofs_match_published_vectors_and_verify() {
    let leaves = vector_leaves();
    for (leaf, size, want) in INCLUSION {
        let index = leaf - 1;
        let tree = &leaves[..usize::try_from(size).expect("fits")];
        let proof = inclusion_proof(tree, index).expect("proof");
        assert_eq!(proof, hs(want), "leaf {leaf} size {size}");
        let tree_root = root(tree);
        let leaf_h = leaves[usize::try_from(index).expect("fits")];
        verify_inclusion(index, size, &leaf_h, &proof, &tree_root).expect("verifies");
        assert_inclusion_corruptions_fail(index, size, &leaf_h, &proof, &tree_root);
    }
}

#[test]
fn consistency_proofs_match_published_vectors_and_verify() {
    let leaves = vector_leaves();
    for (old, new, want) in CONSISTENCY {
        let tree = &leaves[..usize::try_from(new).expect("fits")];
        let proof = consistency_proof(tree, old).expect("proof");
        assert_eq!(proof, hs(want), "old {old} new {new}");
        let old_root = root(&leaves[..usize::try_from(old).expect("fits")]);
        let new_root = root(tree);
        verify_consistency(old, new, &old_root, &new_root, &proof).expect("verifies");
        assert_consistency_corruptions_fail(old, new, &old_root, &new_root, &proof);
    }
}

#[test]
fn exhaustive_inclusion_generate_and_verify_up_to_40() {
    let all = synthetic_leaves(40);
    for n in 1..=40usize {
        let tree = &all[..n];
        let size = size_of(tree);
        let tree_root = root(tree);
        for (i, leaf) in tree.iter().enumerate() {
            let index = u64::try_from(i).expect("fits");
            let proof = inclusion_proof(tree, index).expect("proof");
            verify_inclusion(index, size, leaf, &proof, &tree_root)
                .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
            assert_inclusion_corruptions_fail(index, size, leaf, &proof, &tree_root);
        }
        assert_eq!(
            inclusion_proof(tree, size),
            Err(ProofError::IndexOutOfRange { index: size, size })
        );
    }
}

#[test]
fn exhaustive_consistency_generate_and_verify_up_to_40() {
    let all = synthetic_leaves(40);
    for n in 1..=40usize {
        let tree = &all[..n];
        let new_size = size_of(tree);
        let new_root = root(tree);
        for m in 1..=n {
            let old_size = u64::try_from(m).expect("fits");
            let old_root = root(&all[..m]);
            let proof = consistency_proof(tree, old_size).expect("proof");
            verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
                .unwrap_or_else(|e| panic!("old {old_size} new {new_size}: {e}"));
            assert_consistency_corruptions_fail(old_size, new_size, &old_root, &new_root, &proof);
        }
        assert!(consistency_proof(tree, 0).is_err());
        assert!(consistency_proof(tree, new_size + 1).is_err());
    }
}

#[test]
fn consistency_rejects_bad_sizes() {
    let r = root(&synthetic_leaves(3));
    assert_eq!(
        verify_consistency(0, 3, &empty_root(), &r, &[]),
        Err(ProofError::InvalidSizes {
            old_size: 0,
            new_size: 3
        })
    );
    assert_eq!(
        verify_consistency(0, 0, &empty_root(), &empty_root(), &[]),
        Err(ProofError::InvalidSizes {
            old_size: 0,
            new_size: 0
        })
    );
    assert_eq!(
        verify_consistency(4, 3, &r, &r, &[]),
        Err(ProofError::InvalidSizes {
            old_size: 4,
            new_size: 3
        })
    );
    // Equal sizes: empty proof and equal roots required.
    assert_eq!(verify_consistency(3, 3, &r, &r, &[]), Ok(()));
    assert_eq!(
        verify_consistency(3, 3, &r, &r, &[r]),
        Err(ProofError::WrongProofLength {
            expected: 0,
            actual: 1
        })
    );
    assert_eq!(
        verify_consistency(3, 3, &r, &empty_root(), &[]),
        Err(ProofError::RootMismatch)
    );
    // Different sizes never accept an empty proof.
    assert!(verify_consistency(1, 2, &r, &r, &[]).is_err());
}

#[test]
fn inclusion_rejects_out_of_range_index() {
    let r = root(&synthetic_leaves(3));
    let leaf = leaf_hash(b"x");
    assert_eq!(
        verify_inclusion(3, 3, &leaf, &[], &r),
        Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
    );
    assert_eq!(
        verify_inclusion(0, 0, &leaf, &[], &r),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert!(verify_inclusion(u64::MAX - 1, u64::MAX, &leaf, &[], &r).is_err());
}

#[test]
fn root_builder_agrees_with_root_up_to_100() {
    let all = synthetic_leaves(100);
    let mut builder = RootBuilder::new();
    assert_eq!(builder.root(), root(&[]));
    for n in 1..=100usize {
        builder.push(all[n - 1]);
        assert_eq!(builder.size(), size_of(&all[..n]));
        assert_eq!(builder.root(), root(&all[..n]), "size {n}");
    }
    let clone = builder.clone();
    assert_eq!(clone.root(), builder.root());
    assert!(format!("{builder:?}").contains("size: 100"));
}

#[test]
fn root_builder_matches_recursive_definition() {
    // Independent recursive MTH straight from RFC 6962 §2.1.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split_point(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }
    let all = synthetic_leaves(70);
    for n in 0..=70 {
        assert_eq!(root(&all[..n]), mth(&all[..n]), "size {n}");
    }
}

#[test]
fn second_preimage_is_prevented_by_domain_separation() {
    let data: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
    let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
    let n01 = node_hash(&leaves[0], &leaves[1]);
    let n23 = node_hash(&leaves[2], &leaves[3]);
    let root4 = root(&leaves);
    assert_eq!(root4, node_hash(&n01, &n23));

    // The concatenation of the two level-1 nodes presented as one leaf's data.
    let mut concat = Vec::new();
    concat.extend_from_slice(&n01);
    concat.extend_from_slice(&n23);
    assert_ne!(root(&[leaf_hash(&concat)]), root4);

    // The two level-1 nodes presented as the data of a 2-leaf tree.
    let forged = [leaf_hash(&n01), leaf_hash(&n23)];
    assert_ne!(root(&forged), root4);

    // A proof claiming interior node n01 is leaf 0 of a size-2 tree (sibling n23)
    // fails against the size-4 root, at both the claimed and the real size.
    assert_eq!(
        verify_inclusion(0, 2, &leaf_hash(&n01), &[n23], &root4),
        Err(ProofError::RootMismatch)
    );
    assert!(verify_inclusion(0, 4, &leaf_hash(&n01), &[n23], &root4).is_err());
    // The genuine proof for leaf 0 still verifies.
    let proof = inclusion_proof(&leaves, 0).expect("proof");
    verify_inclusion(0, 4, &leaves[0], &proof, &root4).expect("verifies");
}

#[test]
fn leaf_and_node_hashes_use_distinct_prefixes() {
    let l = leaf_hash(b"");
    assert_eq!(l, h(ROOTS_HEX[0]));
    let mut prefixed = vec![0x01];
    prefixed.extend_from_slice(&l);
    prefixed.extend_from_slice(&l);
    assert_eq!(
        node_hash(&l, &l).to_vec(),
        digest::digest(&digest::SHA256, &prefixed).as_ref()
    );
    assert_ne!(leaf_hash(&prefixed[1..]), node_hash(&l, &l));
}

#[test]
fn leaf_hash_is_prefixed_sha256_at_every_length() {
    // Covers both the stack-buffer and the streaming path and the boundary between.
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    for len in [0, 1, 31, 64, 510, 511, 512, 513, 1024, 2000] {
        let mut prefixed = vec![0x00];
        prefixed.extend_from_slice(&data[..len]);
        assert_eq!(
            leaf_hash(&data[..len]).to_vec(),
            digest::digest(&digest::SHA256, &prefixed).as_ref(),
            "length {len}"
        );
    }
}

/// The compact range of every size up to 130 folds to the tree head, and a builder resumed
/// from it (through its encoding) ends where one fed every leaf ends.
#[test]
fn a_builder_resumed_from_its_compact_range_continues_exactly() {
    let leaves: Vec<Hash> = (0u32..200).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for cut in 0..=130usize {
        let mut b = RootBuilder::new();
        for h in &leaves[..cut] {
            b.push(*h);
        }
        assert_eq!(b.frontier().len(), (cut as u64).count_ones() as usize);
        let mut resumed = decode_compact_range(&encode_compact_range(&b)).expect("decode");
        assert_eq!(resumed.size(), cut as u64);
        assert_eq!(resumed.root(), root(&leaves[..cut]), "size {cut}");
        for h in &leaves[cut..] {
            resumed.push(*h);
        }
        assert_eq!(resumed.root(), root(&leaves), "resumed at {cut}");
    }
}

/// The encoding is pinned: version 1, the size big-endian, the subtree roots largest first
/// (computed independently with Python's hashlib from the RFC test leaves "", 00, 10).
#[test]
fn the_compact_range_encoding_is_pinned() {
    let mut b = RootBuilder::new();
    for hex in &LEAVES_HEX[..3] {
        b.push(leaf_hash(&hex::decode(hex).expect("hex")));
    }
    assert_eq!(
        hex::encode(encode_compact_range(&b)),
        "010000000000000003\
         fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125\
         0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"
    );
}

#[test]
fn malformed_compact_ranges_are_refused() {
    let mut b = RootBuilder::new();
    for i in 0u8..5 {
        b.push(leaf_hash(&[i]));
    }
    let good = encode_compact_range(&b);
    let mut wrong_version = good.clone();
    wrong_version[0] = 2;
    let mut wrong_size = good.clone();
    wrong_size[8] = 4; // size 4 has one subtree, the range holds two
    for (bad, why) in [
        (&[][..], "empty"),
        (&good[..5], "truncated size"),
        (&good[..good.len() - 1], "truncated hash"),
        (&wrong_version[..], "unsupported version"),
        (&wrong_size[..], "set bits"),
    ] {
        let e = decode_compact_range(bad).expect_err(why);
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
}
