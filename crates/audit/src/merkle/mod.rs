//! RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256.
//!
//! Leaves are hashed as `SHA-256(0x00 || data)` and interior nodes as
//! `SHA-256(0x01 || left || right)`; the two prefixes give the domain separation that stops
//! an interior node from being passed off as a leaf (second-preimage attack). The tree
//! shape is the RFC 6962 one: the left subtree of a tree with `n > 1` leaves holds the
//! largest power of two strictly smaller than `n` leaves.
//!
//! Proof generation ([`inclusion_proof`], [`consistency_proof`]) works on the full list of
//! leaf hashes; verification ([`verify_inclusion`], [`verify_consistency`]) follows the
//! RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms and first checks that the proof has exactly
//! the length the two sizes imply. [`RootBuilder`] computes a tree head incrementally in
//! `O(log n)` memory without allocating.

use aws_lc_rs::digest;

/// A SHA-256 output: a leaf hash, interior node hash or tree root.
pub type Hash = [u8; 32];

/// Why a Merkle proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not smaller than the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The consistency sizes are unusable: the old size is zero or exceeds the new size.
    #[error("invalid consistency sizes: old size {old_size}, new size {new_size}")]
    InvalidSizes {
        /// The older (smaller) tree size.
        old_size: u64,
        /// The newer (larger) tree size.
        new_size: u64,
    },
    /// The proof does not have the number of hashes the index and sizes imply.
    #[error("proof has {actual} hashes; {expected} expected")]
    WrongProofLength {
        /// Number of hashes the proof must have.
        expected: usize,
        /// Number of hashes the proof has.
        actual: usize,
    },
    /// The root recomputed from the proof differs from the expected root.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// A compact range does not have one hash per set bit of its size, or its encoding is
    /// malformed.
    #[error("malformed compact range: {0}")]
    MalformedCompactRange(&'static str),
}

/// `SHA-256(0x00 || data)`: the RFC 6962 hash of a leaf.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    // Small leaves (the common case) are hashed one-shot from a stack buffer: a streaming
    // digest context costs a heap allocation per call.
    const STACK_LIMIT: usize = 511;
    if data.len() <= STACK_LIMIT {
        let mut buf = [0u8; STACK_LIMIT + 1];
        buf[1..=data.len()].copy_from_slice(data);
        return to_hash(&digest::digest(&digest::SHA256, &buf[..=data.len()]));
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(data);
    to_hash(&ctx.finish())
}

/// `SHA-256(0x01 || left || right)`: the RFC 6962 hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    to_hash(&digest::digest(&digest::SHA256, &buf))
}

/// `SHA-256("")`: the root of the empty tree.
#[must_use]
pub fn empty_root() -> Hash {
    to_hash(&digest::digest(&digest::SHA256, &[]))
}

fn to_hash(d: &digest::Digest) -> Hash {
    // SHA-256 output is always 32 bytes.
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Maximum number of complete subtrees a [`RootBuilder`] can hold: one per bit of `u64`.
const MAX_STACK: usize = 64;

/// Streaming computation of the RFC 6962 tree head (MTH) over leaf hashes.
///
/// Keeps one hash per complete subtree of the current tree (one per set bit of the size,
/// at most 64) in a fixed array, so [`push`](Self::push) never allocates and costs on
/// average one node hash. [`root`](Self::root) folds the stack right to left.
#[derive(Clone)]
pub struct RootBuilder {
    /// Roots of the complete subtrees, largest (leftmost) first; only `..len` is live.
    stack: [Hash; MAX_STACK],
    /// Number of live entries in `stack` (the popcount of `size`).
    len: usize,
    /// Number of leaves pushed so far.
    size: u64,
}

impl RootBuilder {
    /// An empty builder (tree size 0).
    #[must_use]
    pub fn new() -> Self {
        Self {
            stack: [[0u8; 32]; MAX_STACK],
            len: 0,
            size: 0,
        }
    }

    /// Appends the next leaf, given as its [`leaf_hash`].
    ///
    /// # Panics
    ///
    /// Only if more than `u64::MAX` leaves are pushed (size counter overflow in debug
    /// builds), which is not reachable in practice.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        // Every trailing one bit of the size is a complete subtree of the same height as
        // the one being carried; merge them (like incrementing a binary counter).
        // trailing_ones(size) <= popcount(size) == len, so `len` never underflows, and
        // after merging len <= 63, so the store below is in bounds.
        for _ in 0..self.size.trailing_ones() {
            self.len -= 1;
            hash = node_hash(&self.stack[self.len], &hash);
        }
        self.stack[self.len] = hash;
        self.len += 1;
        self.size += 1;
    }

    /// Number of leaves pushed so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The compact range `[0, size)`: the roots of the perfect subtrees the tree's leaves
    /// decompose into, largest (leftmost) first — one per set bit of the size. It is all a
    /// builder needs to go on appending, and it folds to the tree head.
    #[must_use]
    pub fn frontier(&self) -> &[Hash] {
        &self.stack[..self.len]
    }

    /// A builder that continues from a compact range `[0, size)` (see
    /// [`frontier`](Self::frontier)). Refused unless there is exactly one hash per set bit
    /// of `size`. Whether the range is the true one is for the caller to check, by comparing
    /// [`root`](Self::root) with a signed tree head of that size.
    pub fn from_frontier(size: u64, frontier: &[Hash]) -> Result<Self, ProofError> {
        if frontier.len() != size.count_ones() as usize {
            return Err(ProofError::MalformedCompactRange(
                "the number of hashes differs from the set bits of the size",
            ));
        }
        let mut b = Self::new();
        b.stack[..frontier.len()].copy_from_slice(frontier);
        b.len = frontier.len();
        b.size = size;
        Ok(b)
    }

    /// The RFC 6962 Merkle tree head of the leaves pushed so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        let live = &self.stack[..self.len];
        match live.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

impl Default for RootBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RootBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootBuilder")
            .field("size", &self.size)
            .field("subtrees", &self.len)
            .finish()
    }
}

/// The RFC 6962 Merkle tree head of `leaf_hashes` ([`empty_root`] for no leaves).
#[must_use]
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    let mut builder = RootBuilder::new();
    for h in leaf_hashes {
        builder.push(*h);
    }
    builder.root()
}

/// Largest power of two strictly smaller than `n`; `n` must be at least 2.
fn split_point(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn len_u64(leaves: &[Hash]) -> u64 {
    // usize is at most 64 bits on every supported target.
    leaves.len() as u64
}

/// The RFC 6962 audit path (`PATH(index, D[n])`) for leaf `index` in the tree made of
/// `leaf_hashes`, ordered from the leaf's sibling up to the child of the root.
///
/// # Errors
///
/// [`ProofError::IndexOutOfRange`] if `index >= leaf_hashes.len()`.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = len_u64(leaf_hashes);
    let idx = usize::try_from(index)
        .ok()
        .filter(|&i| i < leaf_hashes.len())
        .ok_or(ProofError::IndexOutOfRange { index, size })?;
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, size));
    path(idx, leaf_hashes, &mut proof);
    Ok(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// The RFC 6962 consistency proof (`PROOF(old_size, D[n])`) between the tree of the first
/// `old_size` leaves and the tree made of all of `leaf_hashes`.
///
/// # Errors
///
/// [`ProofError::InvalidSizes`] if `old_size` is zero or larger than `leaf_hashes.len()`.
pub fn consistency_proof(leaf_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new_size = len_u64(leaf_hashes);
    let m = usize::try_from(old_size)
        .ok()
        .filter(|&m| m > 0 && m <= leaf_hashes.len())
        .ok_or(ProofError::InvalidSizes { old_size, new_size })?;
    let mut proof = Vec::new();
    subproof(m, leaf_hashes, true, &mut proof);
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Number of significant bits of `x`.
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// `(inner, border)` decomposition of an inclusion proof for `index < size`: `inner`
/// hashes below the point where the path to `index` leaves the path to the last leaf,
/// `border` hashes above it.
fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// Length of an inclusion proof for `index < size`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let (inner, border) = decompose_inclusion(index, size);
    (inner + border) as usize
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves with head `root`,
/// using the RFC 9162 §2.1.3.2 algorithm.
///
/// # Errors
///
/// [`ProofError::IndexOutOfRange`] if `index >= size`, [`ProofError::WrongProofLength`] if
/// the proof is not exactly as long as `index` and `size` imply, and
/// [`ProofError::RootMismatch`] if the recomputed root differs from `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }

    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with head `new_root` extends the tree of
/// `old_size` leaves with head `old_root`, using the RFC 9162 §2.1.4.2 algorithm.
///
/// Equal sizes need an empty proof and equal roots. An old size of zero is rejected: every
/// tree trivially extends the empty tree, so such a proof proves nothing.
///
/// # Errors
///
/// [`ProofError::InvalidSizes`] if `old_size` is zero or exceeds `new_size`,
/// [`ProofError::WrongProofLength`] if the proof is not exactly as long as the sizes imply,
/// and [`ProofError::RootMismatch`] if either recomputed root differs.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }

    // Expected length: the inclusion proof of the old tree's last leaf in the new tree,
    // minus the levels inside the old tree's rightmost complete subtree (of height
    // `shift`), plus that subtree's root unless it is the whole old tree.
    let shift = old_size.trailing_zeros();
    let (inner, border) = decompose_inclusion(old_size - 1, new_size);
    let old_is_complete = old_size == 1 << shift;
    let seeded = usize::from(!old_is_complete);
    let expected = seeded + (inner - shift + border) as usize;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }

    // RFC 9162 step 2: when the old tree is complete, its root starts the path.
    let (seed, rest) = if old_is_complete {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongProofLength {
                    expected,
                    actual: 0,
                });
            }
        }
    };

    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Version of the compact-range encoding. Do not change: stored ranges carry it.
const COMPACT_RANGE_V1: u8 = 1;

/// Encodes the compact range of a builder for storage beside its signed checkpoint:
/// `0x01 || size (u64, big-endian) || hash…` (32 bytes each, largest subtree first).
#[must_use]
pub fn encode_compact_range(b: &RootBuilder) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 32 * b.len);
    out.push(COMPACT_RANGE_V1);
    out.extend_from_slice(&b.size.to_be_bytes());
    for h in b.frontier() {
        out.extend_from_slice(h);
    }
    out
}

/// Decodes [`encode_compact_range`]'s bytes, strictly, into a builder that continues from
/// them.
pub fn decode_compact_range(bytes: &[u8]) -> Result<RootBuilder, ProofError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(ProofError::MalformedCompactRange("empty"))?;
    if version != COMPACT_RANGE_V1 {
        return Err(ProofError::MalformedCompactRange("unsupported version"));
    }
    let (size, hashes) = rest
        .split_first_chunk::<8>()
        .ok_or(ProofError::MalformedCompactRange("truncated size"))?;
    let size = u64::from_be_bytes(*size);
    let (chunks, tail) = hashes.as_chunks::<32>();
    if !tail.is_empty() {
        return Err(ProofError::MalformedCompactRange("truncated hash"));
    }
    RootBuilder::from_frontier(size, chunks)
}
