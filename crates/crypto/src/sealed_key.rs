//! A data key sealed to a care provider's ingest public key: how a recorder that holds no
//! secret of the care provider hands the vault the key of a recording it encrypted itself.
//!
//! HPKE (RFC 9180) in base mode, one fixed suite for format version 1:
//!
//! * KEM: X-Wing (ML-KEM-768 with X25519; draft-ietf-hpke-pq-03, `hpke` crate). A recording
//!   is kept for ten years or more; a hybrid KEM keeps its key confidential if either part
//!   holds, including against a future quantum computer.
//! * KDF: HKDF-SHA256. AEAD: AES-256-GCM.
//! * `info` = `"callvault sealed data key v1"` ‖ the caller's context (the recording id,
//!   the data key id and the care provider, so a sealed key cannot be moved to another
//!   recording); no AAD.
//!
//! Encoding (version 1): `0x01` ‖ encapsulated key (1120 bytes) ‖ sealed key (48 bytes).
//! Pinned by the known-answer test below (seeded randomness).

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::DataKey;

const INFO: &[u8] = b"callvault sealed data key v1";
/// The format version byte.
pub const VERSION: u8 = 1;
const ENC_LEN: usize = 1120;
const CT_LEN: usize = 32 + 16;
/// Length of an encoded sealed key.
pub const SEALED_LEN: usize = 1 + ENC_LEN + CT_LEN;
/// Length of an ingest public key.
pub const PUBLIC_LEN: usize = 1216;

/// Why a sealed key could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The encoding is not a version-1 sealed key.
    #[error("not a sealed data key of format version 1")]
    BadEncoding,
    /// The public key is not an ingest public key.
    #[error("not an ingest public key")]
    BadPublicKey,
    /// Opening failed: another key pair, another context, or tampered.
    #[error("the sealed data key does not open with this key for this recording")]
    Open,
    /// The random generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A care provider's ingest secret key (the X-Wing seed). Zeroized when dropped.
pub struct IngestSecretKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for IngestSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestSecretKey(<secret>)")
    }
}

/// A care provider's ingest public key.
#[derive(Clone, PartialEq, Eq)]
pub struct IngestPublicKey(Vec<u8>);

impl std::fmt::Debug for IngestPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IngestPublicKey({} bytes)", self.0.len())
    }
}

impl IngestPublicKey {
    /// Reads an encoded public key.
    pub fn from_bytes(b: &[u8]) -> Result<Self, SealError> {
        <XWing as hpke::Kem>::PublicKey::from_bytes(b).map_err(|_| SealError::BadPublicKey)?;
        Ok(Self(b.to_vec()))
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl IngestSecretKey {
    /// Reads the secret key's 32-byte seed (as unwrapped from its KEK).
    pub fn from_seed(seed: &[u8]) -> Result<Self, SealError> {
        <XWing as hpke::Kem>::PrivateKey::from_bytes(seed).map_err(|_| SealError::BadEncoding)?;
        Ok(Self(Zeroizing::new(seed.to_vec())))
    }

    /// The seed, to be wrapped under the care provider's KEK.
    pub fn expose_seed(&self) -> &[u8] {
        &self.0
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<IngestPublicKey, SealError> {
        let sk = <XWing as hpke::Kem>::PrivateKey::from_bytes(&self.0)
            .map_err(|_| SealError::BadEncoding)?;
        let pk = XWing::sk_to_pk(&sk);
        Ok(IngestPublicKey(pk.to_bytes().to_vec()))
    }
}

/// A fresh ingest key pair.
pub fn generate() -> Result<(IngestSecretKey, IngestPublicKey), SealError> {
    let mut seed = Zeroizing::new(vec![0u8; 32]);
    crate::random_bytes(&mut seed).map_err(|_| SealError::Random)?;
    let sk = IngestSecretKey::from_seed(&seed)?;
    let pk = sk.public_key()?;
    Ok((sk, pk))
}

fn info(context: &[u8]) -> Vec<u8> {
    let mut v = INFO.to_vec();
    v.extend_from_slice(context);
    v
}

/// Seals `key` to `pk` for `context`.
pub fn seal(pk: &IngestPublicKey, key: &DataKey, context: &[u8]) -> Result<Vec<u8>, SealError> {
    seal_with_rng(pk, key, context, &mut OsRng)
}

fn seal_with_rng(
    pk: &IngestPublicKey,
    key: &DataKey,
    context: &[u8],
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<Vec<u8>, SealError> {
    let pk =
        <XWing as hpke::Kem>::PublicKey::from_bytes(&pk.0).map_err(|_| SealError::BadPublicKey)?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, XWing>(
        &OpModeS::Base,
        &pk,
        &info(context),
        key.expose_bytes(),
        &[],
        rng,
    )
    .map_err(|_| SealError::Random)?;
    let mut out = Vec::with_capacity(SEALED_LEN);
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    debug_assert_eq!(out.len(), SEALED_LEN);
    Ok(out)
}

/// Opens a sealed key with `sk` for `context`.
pub fn open(sk: &IngestSecretKey, sealed: &[u8], context: &[u8]) -> Result<DataKey, SealError> {
    if sealed.len() != SEALED_LEN || sealed[0] != VERSION {
        return Err(SealError::BadEncoding);
    }
    let enc = <XWing as hpke::Kem>::EncappedKey::from_bytes(&sealed[1..1 + ENC_LEN])
        .map_err(|_| SealError::BadEncoding)?;
    let sk =
        <XWing as hpke::Kem>::PrivateKey::from_bytes(&sk.0).map_err(|_| SealError::BadEncoding)?;
    let plain = Zeroizing::new(
        hpke::single_shot_open::<AesGcm256, HkdfSha256, XWing>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info(context),
            &sealed[1 + ENC_LEN..],
            &[],
        )
        .map_err(|_| SealError::Open)?,
    );
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| SealError::Open)?;
    Ok(DataKey::from_bytes(bytes))
}

/// The operating system's randomness for HPKE, through aws-lc-rs like every other random
/// byte of callvault.
struct OsRng;

impl hpke::rand_core::TryRng for OsRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        // A failing system random generator is a host that must not encrypt anything.
        crate::random_bytes(dst).expect("system random generator");
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_key_pair_and_context() {
        let (sk, pk) = generate().expect("pair");
        assert_eq!(pk.as_bytes().len(), PUBLIC_LEN);
        let dek = DataKey::generate().expect("dek");
        let sealed = seal(&pk, &dek, b"rec-1").expect("seal");
        assert_eq!(sealed.len(), SEALED_LEN);
        let opened = open(&sk, &sealed, b"rec-1").expect("open");
        assert_eq!(opened.expose_bytes(), dek.expose_bytes());
        assert_eq!(open(&sk, &sealed, b"rec-2").err(), Some(SealError::Open));
        let (other, _) = generate().expect("pair");
        assert_eq!(open(&other, &sealed, b"rec-1").err(), Some(SealError::Open));
        let mut bad = sealed.clone();
        bad[SEALED_LEN - 1] ^= 1;
        assert_eq!(open(&sk, &bad, b"rec-1").err(), Some(SealError::Open));
        bad[0] = 2;
        assert_eq!(
            open(&sk, &bad, b"rec-1").err(),
            Some(SealError::BadEncoding)
        );
        assert_eq!(
            open(&sk, &sealed[1..], b"rec-1").err(),
            Some(SealError::BadEncoding)
        );
        assert!(!format!("{sk:?}").contains(&hex::encode(sk.expose_seed())));
        assert_eq!(
            IngestPublicKey::from_bytes(&[0u8; 10]).err(),
            Some(SealError::BadPublicKey)
        );
        let again = IngestSecretKey::from_seed(sk.expose_seed()).expect("seed");
        assert_eq!(again.public_key().expect("pk"), pk);
    }

    /// Deterministic randomness for the known answer.
    struct Counter(u8);

    impl hpke::rand_core::TryRng for Counter {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for b in dst {
                *b = self.0;
                self.0 = self.0.wrapping_add(1);
            }
            Ok(())
        }
    }

    impl hpke::rand_core::TryCryptoRng for Counter {}

    #[test]
    fn the_version_1_encoding_is_pinned() {
        let sk = IngestSecretKey::from_seed(&[7u8; 32]).expect("seed");
        let pk = sk.public_key().expect("pk");
        let dek = DataKey::from_bytes([9u8; 32]);
        let sealed = seal_with_rng(&pk, &dek, b"ctx", &mut Counter(0)).expect("seal");
        let digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &sealed,
        ));
        let pk_digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            pk.as_bytes(),
        ));
        // Any change of suite, info string, layout or KEM version changes these.
        assert_eq!(
            pk_digest,
            "74943b4ecd441ec7f92d22c3fb377a29cd7fb96687efda8fae74ae2219a1c279"
        );
        assert_eq!(
            digest,
            "f791d7aee907db50f9663ec4f97a956b9d29bd6bc662f972344238c87405c5fa"
        );
        assert_eq!(
            open(&sk, &sealed, b"ctx").expect("open").expose_bytes(),
            &[9u8; 32]
        );
    }
}
