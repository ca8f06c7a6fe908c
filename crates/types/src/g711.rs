//! G.711 (ITU-T Rec. G.711, 1988): µ-law and A-law companding of 8 kHz telephone audio.
//!
//! No maintained crate exists for it and the codec is a few lines: decoding expands an
//! 8-bit code to a 16-bit linear sample, encoding compresses it back (the segment search of
//! the ITU reference). The recorder keeps what it received where it can: two streams in the
//! same law are written as they came; a stream in the other law is converted through linear.
//! The one G.711 implementation of callvault: the recorder's and the demo archive's.

/// A G.711 law.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU, RTP payload type 0; WAV format tag 7).
    Mu,
    /// A-law (PCMA, RTP payload type 8; WAV format tag 6).
    A,
}

impl Law {
    /// The code of digital silence (linear 0).
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }

    /// The WAV format tag (RFC 2361: `WAVE_FORMAT_ALAW` 6, `WAVE_FORMAT_MULAW` 7).
    pub fn wav_format_tag(self) -> u16 {
        match self {
            Law::Mu => 7,
            Law::A => 6,
        }
    }

    /// The vault's codec name for it.
    pub fn codec_name(self) -> &'static str {
        match self {
            Law::Mu => "pcm_mulaw",
            Law::A => "pcm_alaw",
        }
    }

    /// Decodes one code to a linear sample.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mu => ulaw_to_linear(code),
            Law::A => alaw_to_linear(code),
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => linear_to_ulaw(sample),
            Law::A => linear_to_alaw(sample),
        }
    }

    /// Converts codes of law `from` into this law, in place.
    pub fn convert_from(self, from: Law, codes: &mut [u8]) {
        if from != self {
            for c in codes {
                *c = self.encode(from.decode(*c));
            }
        }
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let t = ((i32::from(u & 0x0F) << 3) + BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    let exponent = (31 - (s as u32).leading_zeros()) as i32 - 7;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3; // 13-bit magnitude domain
    let sign = if s >= 0 { 0xD5 } else { 0x55 };
    if s < 0 {
        s = -s - 1;
    }
    let s = s.min(0x0FFF);
    let (seg, mant) = if s < 32 {
        (0, (s >> 1) & 0x0F)
    } else {
        let seg = (31 - (s as u32).leading_zeros()) as i32 - 4;
        (seg, (s >> seg) & 0x0F)
    };
    (((seg << 4) | mant) as u8) ^ sign
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_points_of_both_laws() {
        // ITU-T G.711 Table 1/2 end points and silence.
        assert_eq!(Law::Mu.decode(0xFF), 0);
        assert_eq!(Law::Mu.decode(0x7F), 0);
        assert_eq!(Law::Mu.decode(0x80), 32124);
        assert_eq!(Law::Mu.decode(0x00), -32124);
        assert_eq!(Law::A.decode(0xD5), 8);
        assert_eq!(Law::A.decode(0xAA), 32256);
        assert_eq!(Law::A.decode(0x2A), -32256);
        assert_eq!(Law::Mu.encode(0), 0xFF);
        assert_eq!(Law::A.encode(0), 0xD5);
        assert_eq!(Law::A.encode(i16::MAX), 0xAA);
        assert_eq!(Law::A.encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_and_encode() {
        for law in [Law::Mu, Law::A] {
            for code in 0..=255u8 {
                let back = law.encode(law.decode(code));
                // µ-law has two codes for zero (0x7F and 0xFF); all others are exact.
                if law == Law::Mu && code == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, code, "{law:?} {code:#04x}");
                }
            }
        }
    }

    #[test]
    fn conversion_between_laws_keeps_the_signal() {
        let mut codes: Vec<u8> = (0..=255u8).collect();
        let original: Vec<i16> = codes.iter().map(|c| Law::Mu.decode(*c)).collect();
        Law::A.convert_from(Law::Mu, &mut codes);
        for (c, o) in codes.iter().zip(original) {
            let d = i32::from(Law::A.decode(*c)) - i32::from(o);
            // Both laws quantise coarsely at high levels; within one A-law step.
            assert!(d.abs() <= 1024, "{o} → {}", Law::A.decode(*c));
        }
    }
}
