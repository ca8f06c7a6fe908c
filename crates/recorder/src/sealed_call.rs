//! One call's recording as the spool will hold it: a two-channel G.711 WAV, encrypted as it
//! is produced with a fresh data key in the vault's own blob format (CVREC v1), the data key
//! sealed at once to the care provider's ingest public key. Nothing here can decrypt what it
//! wrote: the data key lives only inside the encryptor and the sealed copy.
//!
//! The WAV header states its RIFF and `data` sizes as `0xFFFFFFFF`, the streaming convention
//! for audio whose length is not known when it starts (docs/recorder.md, open questions).

use callvault_crypto::envelope::{DekId, EnvelopeHeader};
use callvault_crypto::sealed_key::{self, IngestPublicKey, SealError};
use callvault_crypto::stream::PushEncryptor;
use callvault_crypto::{CryptoError, DataKey};
use callvault_types::RecordingId;

use crate::media::g711::Law;

/// RIFF and `data` size of a WAV whose length is not yet known.
pub const STREAMING_SIZE: u32 = u32::MAX;

/// The 44-byte header of a two-channel 8 kHz G.711 WAV of unknown length (RFC 2361 format
/// tags 6 and 7; 8 bits per sample).
pub fn wav_header(law: Law) -> [u8; 44] {
    let mut h = [0u8; 44];
    let channels: u16 = 2;
    let rate: u32 = 8000;
    let block_align: u16 = channels;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&STREAMING_SIZE.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&law.wav_format_tag().to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&8u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&STREAMING_SIZE.to_le_bytes());
    h
}

/// Why a call's recording could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealedCallError {
    /// Encryption failed.
    #[error("encrypting the call: {0}")]
    Crypto(#[from] CryptoError),
    /// Sealing the data key failed.
    #[error("sealing the call's data key: {0}")]
    Seal(#[from] SealError),
}

/// A call's recording being written.
#[derive(Debug)]
pub struct SealedCall {
    id: RecordingId,
    dek_id: DekId,
    sealed_key: Vec<u8>,
    enc: PushEncryptor,
}

/// The context a call's data key is sealed for: its recording id and key id, so that a
/// sealed key cannot be moved to another recording.
pub fn seal_context(id: &RecordingId, dek_id: &DekId) -> Vec<u8> {
    let mut c = id.as_bytes().to_vec();
    c.extend_from_slice(&dek_id.0);
    c
}

impl SealedCall {
    /// Starts a call's recording for the care provider whose ingest key is `pk`: a fresh
    /// recording id, key id and data key; the key sealed at once; the WAV header the first
    /// plaintext. Returns the call and the blob's first bytes are in the first segment.
    pub fn begin(pk: &IngestPublicKey, law: Law) -> Result<Self, SealedCallError> {
        let id = RecordingId::new_random();
        let dek_id = DekId::generate()?;
        let dek = DataKey::generate()?;
        let sealed_key = sealed_key::seal(pk, &dek, &seal_context(&id, &dek_id))?;
        let header = EnvelopeHeader::v1(id, dek_id);
        let mut enc = header.push_encryptor(&dek)?;
        drop(dek);
        let none = enc.push(&wav_header(law))?;
        debug_assert!(none.is_empty());
        Ok(Self {
            id,
            dek_id,
            sealed_key,
            enc,
        })
    }

    /// The recording id the recorder chose.
    pub fn id(&self) -> RecordingId {
        self.id
    }

    /// The data key's id.
    pub fn dek_id(&self) -> DekId {
        self.dek_id
    }

    /// The data key sealed to the care provider (version-1 encoding).
    pub fn sealed_key(&self) -> &[u8] {
        &self.sealed_key
    }

    /// Takes interleaved two-channel samples; returns the ciphertext segments now final.
    pub fn push(&mut self, samples: &[u8]) -> Result<Vec<Vec<u8>>, SealedCallError> {
        Ok(self.enc.push(samples)?)
    }

    /// Ends the call: the last segment, the plaintext length and its SHA-256.
    pub fn finish(self) -> Result<(Vec<u8>, u64, [u8; 32]), SealedCallError> {
        Ok(self.enc.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callvault_crypto::envelope::open_blob;

    #[test]
    fn a_call_is_encrypted_as_it_comes_and_only_the_ingest_secret_opens_it() {
        let (sk, pk) = sealed_key::generate().expect("pair");
        let mut call = SealedCall::begin(&pk, Law::Mu).expect("begin");
        let mut blob = Vec::new();
        let mut plain = wav_header(Law::Mu).to_vec();
        let mut segments_during_call = 0;
        for i in 0..20u8 {
            // 1 s of two-channel audio at a time.
            let second = vec![i; 16_000];
            plain.extend_from_slice(&second);
            let out = call.push(&second).expect("push");
            segments_during_call += out.len();
            for c in out {
                blob.extend_from_slice(&c);
            }
        }
        assert!(
            segments_during_call >= 4,
            "segments leave while the call goes on"
        );
        let (id, dek_id) = (call.id(), call.dek_id());
        let sealed = call.sealed_key().to_vec();
        let (last, len, digest) = call.finish().expect("finish");
        blob.extend_from_slice(&last);
        assert_eq!(len, plain.len() as u64);
        assert_eq!(digest, callvault_crypto::sha256(&plain));
        // The vault's side: open the key, then the blob exactly as the vault opens its own.
        let dek = sealed_key::open(&sk, &sealed, &seal_context(&id, &dek_id)).expect("open");
        let opened = open_blob(&blob[..], &EnvelopeHeader::v1(id, dek_id), &dek).expect("blob");
        let mut back = Vec::new();
        opened
            .decrypt_range(0..opened.plaintext_len(), |p| {
                back.extend_from_slice(p);
                Ok(())
            })
            .expect("decrypts");
        assert_eq!(back, plain);
        assert_eq!(&back[..4], b"RIFF");
        assert_eq!(&back[20..22], &7u16.to_le_bytes(), "µ-law");
        // No plaintext in the ciphertext, and another recording's context does not open it.
        assert!(!blob.windows(16).any(|w| w == [3u8; 16]));
        let other = seal_context(&RecordingId::new_random(), &dek_id);
        assert!(sealed_key::open(&sk, &sealed, &other).is_err());
    }
}
