//! SRTP with keys from SDP (SDES, RFC 4568), by `webrtc-srtp`: the recorder only decrypts.
//!
//! Suites: `AES_CM_128_HMAC_SHA1_80` (RFC 3711, RFC 4568 §6.2.1) and `AEAD_AES_256_GCM`
//! (RFC 7714 §14.2). A key parameter is `inline:<base64 of master key ‖ master salt>`,
//! optionally followed by `|lifetime` and `|MKI:length` (RFC 4568 §9.2); an MKI is refused
//! (SBCs of this deployment do not use it, and accepting one would need per-packet key
//! selection). Keys are zeroized when dropped and never printed.

use base64::Engine as _;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_no_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroizing;

/// Packets remembered for replay detection (RFC 3711 §3.3.2 recommends at least 64).
const REPLAY_WINDOW: usize = 128;

/// A supported SDES crypto suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// `AES_CM_128_HMAC_SHA1_80`: 16-byte key, 14-byte salt, 80-bit tag.
    AesCm128HmacSha1_80,
    /// `AEAD_AES_256_GCM`: 32-byte key, 12-byte salt, 16-byte tag.
    AeadAes256Gcm,
}

impl Suite {
    /// The suite named in an `a=crypto` line, if supported.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Self::AesCm128HmacSha1_80),
            "AEAD_AES_256_GCM" => Some(Self::AeadAes256Gcm),
            _ => None,
        }
    }

    /// Its SDP name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Self::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Self::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        }
    }

    /// Master key and salt lengths.
    pub fn key_salt_len(self) -> (usize, usize) {
        let p = self.profile();
        (p.key_len(), p.salt_len())
    }
}

/// Why SRTP keying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The suite is not one the recorder supports.
    #[error("crypto suite not supported (supported: AES_CM_128_HMAC_SHA1_80, AEAD_AES_256_GCM)")]
    UnsupportedSuite,
    /// The key parameter is malformed.
    #[error("SDES key parameter: {0}")]
    BadKey(&'static str),
}

/// A master key and salt for one direction, from an SDES key parameter.
pub struct MasterKey {
    suite: Suite,
    key: Zeroizing<Vec<u8>>,
    salt: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({} <key>)", self.suite.name())
    }
}

impl MasterKey {
    /// Reads `inline:…` for `suite`.
    pub fn from_sdes(suite: &str, key_params: &str) -> Result<Self, SrtpError> {
        let suite = Suite::parse(suite).ok_or(SrtpError::UnsupportedSuite)?;
        // RFC 4568 §9.2: several key parameters are separated by ';'; the first is used.
        let first = key_params.split(';').next().unwrap_or_default();
        let inline = first
            .strip_prefix("inline:")
            .ok_or(SrtpError::BadKey("the key method is not inline"))?;
        let mut fields = inline.split('|');
        let b64 = fields.next().unwrap_or_default();
        for f in fields {
            if f.contains(':') {
                return Err(SrtpError::BadKey("an MKI is not supported"));
            }
        }
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| SrtpError::BadKey("the key is not base64"))?,
        );
        let (kl, sl) = suite.key_salt_len();
        if raw.len() != kl + sl {
            return Err(SrtpError::BadKey("the key and salt have the wrong length"));
        }
        Ok(Self {
            suite,
            key: Zeroizing::new(raw[..kl].to_vec()),
            salt: Zeroizing::new(raw[kl..].to_vec()),
        })
    }

    /// A fresh random key for the SRS's own direction of the answer (RFC 4568 §7.1.2: the
    /// answerer sends its own key even when it only receives).
    pub fn generate(suite: Suite) -> Result<Self, callvault_crypto::CryptoError> {
        let (kl, sl) = suite.key_salt_len();
        let mut raw = Zeroizing::new(vec![0u8; kl + sl]);
        callvault_crypto::random_bytes(&mut raw)?;
        Ok(Self {
            suite,
            key: Zeroizing::new(raw[..kl].to_vec()),
            salt: Zeroizing::new(raw[kl..].to_vec()),
        })
    }

    /// The `inline:` key parameter of this key.
    pub fn sdes(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(self.key.len() + self.salt.len()));
        raw.extend_from_slice(&self.key);
        raw.extend_from_slice(&self.salt);
        Zeroizing::new(format!(
            "inline:{}",
            base64::engine::general_purpose::STANDARD.encode(&*raw)
        ))
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }
}

/// What decrypting one packet gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Unprotected {
    /// The RTP packet in clear.
    Rtp(Vec<u8>),
    /// A packet seen before (replay window): dropped.
    Replayed,
    /// The authentication tag did not verify, or the packet is malformed: dropped.
    Rejected,
}

/// The receiving end of one SRTP stream.
pub struct SrtpReceiver {
    ctx: Context,
}

impl std::fmt::Debug for SrtpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpReceiver(<keys>)")
    }
}

impl SrtpReceiver {
    /// A receiver for the SRC's key.
    pub fn new(key: &MasterKey) -> Result<Self, SrtpError> {
        let ctx = Context::new(
            &key.key,
            &key.salt,
            key.suite.profile(),
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_no_replay_protection()),
        )
        .map_err(|_| SrtpError::BadKey("the key does not fit the suite"))?;
        Ok(Self { ctx })
    }

    /// Decrypts and authenticates one SRTP packet.
    pub fn unprotect(&mut self, packet: &[u8]) -> Unprotected {
        match self.ctx.decrypt_rtp(packet) {
            Ok(p) => Unprotected::Rtp(p.to_vec()),
            Err(webrtc_srtp::Error::SrtpSsrcDuplicated(..)) => Unprotected::Replayed,
            Err(_) => Unprotected::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend(seq.to_be_bytes());
        p.extend((u32::from(seq) * 160).to_be_bytes());
        p.extend(0xCAFE_F00Du32.to_be_bytes());
        p.extend([seq as u8; 160]);
        p
    }

    #[test]
    fn both_suites_decrypt_what_a_sender_protected_and_refuse_tampering_and_replays() {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes256Gcm] {
            let key = MasterKey::generate(suite).expect("key");
            let sdes = key.sdes();
            let parsed = MasterKey::from_sdes(suite.name(), &format!("{}|2^31", &*sdes))
                .expect("inline key with lifetime");
            let mut sender =
                Context::new(&key.key, &key.salt, suite.profile(), None, None).expect("sender");
            let mut rx = SrtpReceiver::new(&parsed).expect("receiver");
            for seq in [65_534u16, 65_535, 0, 1] {
                let protected = sender.encrypt_rtp(&rtp(seq)).expect("protect");
                assert_ne!(&protected[12..], &rtp(seq)[12..], "encrypted");
                assert_eq!(
                    rx.unprotect(&protected),
                    Unprotected::Rtp(rtp(seq)),
                    "{suite:?}"
                );
                if seq == 0 {
                    assert_eq!(rx.unprotect(&protected), Unprotected::Replayed);
                }
            }
            let mut bad = sender.encrypt_rtp(&rtp(2)).expect("protect").to_vec();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(rx.unprotect(&bad), Unprotected::Rejected);
            assert_eq!(rx.unprotect(&rtp(3)), Unprotected::Rejected, "plain RTP");
            assert!(!format!("{parsed:?} {rx:?}").contains(&sdes[7..15]));
        }
    }

    #[test]
    fn bad_key_parameters_say_what_is_wrong() {
        let cases = [
            ("AES_CM_128_HMAC_SHA1_32", "inline:AAAA", "not supported"),
            ("AES_CM_128_HMAC_SHA1_80", "uri:x", "not inline"),
            ("AES_CM_128_HMAC_SHA1_80", "inline:***", "not base64"),
            ("AES_CM_128_HMAC_SHA1_80", "inline:AAAA", "wrong length"),
            (
                "AES_CM_128_HMAC_SHA1_80",
                "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4",
                "MKI",
            ),
        ];
        for (suite, key, why) in cases {
            let e = MasterKey::from_sdes(suite, key).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
        let ok = MasterKey::from_sdes(
            "AES_CM_128_HMAC_SHA1_80",
            "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20",
        )
        .expect("RFC 4568 §9.1's example key");
        assert_eq!(ok.suite(), Suite::AesCm128HmacSha1_80);
    }
}
