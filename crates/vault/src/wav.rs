//! WAV (RIFF/WAVE) header checking for imported recordings.
//!
//! callvault stores the WAV file unchanged (encrypted); this module only reads its header to
//! accept or refuse it and to learn codec, rate, channels and duration. Accepted: PCM 16-bit
//! and G.711 A-law / µ-law 8-bit, 1–2 channels, 8–48 kHz. (The `hound` crate does not read
//! G.711, hence this small chunk walker; it parses a header, never audio.)

use std::io::Read;

/// Why a file is not an acceptable WAV recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not a RIFF/WAVE file.
    #[error("not a WAV file (no RIFF/WAVE header)")]
    NotWav,
    /// The header ended early.
    #[error("WAV header is truncated")]
    Truncated,
    /// No `fmt ` chunk before the `data` chunk.
    #[error("WAV file has no fmt chunk before its data")]
    MissingFormat,
    /// The format is not PCM 16-bit, A-law or µ-law.
    #[error(
        "unsupported WAV encoding (format tag {tag}, {bits} bits); accepted: PCM 16-bit, G.711 A-law, G.711 µ-law"
    )]
    UnsupportedFormat {
        /// Format tag.
        tag: u16,
        /// Bits per sample.
        bits: u16,
    },
    /// Channel count, sample rate or derived sizes are inconsistent or out of range.
    #[error("WAV format fields are inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The data chunk claims more bytes than the file has.
    #[error("WAV data chunk claims {claimed} bytes but the file holds {available}")]
    DataTooLong {
        /// Claimed size.
        claimed: u64,
        /// Bytes after the chunk header.
        available: u64,
    },
    /// Reading failed.
    #[error("reading WAV header: {0}")]
    Io(String),
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    /// `pcm_s16le`, `pcm_alaw` or `pcm_mulaw`.
    pub codec: &'static str,
    /// Channels (1 or 2).
    pub channels: u16,
    /// Samples per second.
    pub sample_rate: u32,
    /// Audio data bytes.
    pub data_len: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Bytes before the audio data (RIFF header and chunks up to the data chunk's header):
    /// a complete file has at least `header_len + data_len` bytes.
    pub header_len: u64,
}

const MAX_HEADER_CHUNKS: usize = 64;

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), WavError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WavError::Truncated,
        _ => WavError::Io(e.to_string()),
    })
}

fn skip(r: &mut impl Read, n: u64) -> Result<(), WavError> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| WavError::Io(e.to_string()))?;
    if copied != n {
        return Err(WavError::Truncated);
    }
    Ok(())
}

/// Reads and checks a WAV header. `file_len` is the whole file's size.
pub fn check_header(mut r: impl Read, file_len: u64) -> Result<WavInfo, WavError> {
    let mut riff = [0u8; 12];
    read_exact(&mut r, &mut riff).map_err(|_| WavError::NotWav)?;
    if &riff[..4] != b"RIFF" || &riff[8..] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut pos = 12u64;
    let mut fmt: Option<(u16, u16, u32, u32, u16, u16)> = None;
    for _ in 0..MAX_HEADER_CHUNKS {
        let mut head = [0u8; 8];
        read_exact(&mut r, &mut head)?;
        pos += 8;
        let id = &head[..4];
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        match id {
            b"fmt " => {
                if !(16..=1024).contains(&size) {
                    return Err(WavError::Inconsistent("fmt chunk size"));
                }
                let mut f = vec![0u8; size as usize];
                read_exact(&mut r, &mut f)?;
                let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
                let u32_at = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
                let mut tag = u16_at(0);
                if tag == 0xFFFE {
                    // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag.
                    if size < 40 {
                        return Err(WavError::Inconsistent("extensible fmt chunk too short"));
                    }
                    tag = u16_at(24);
                }
                fmt = Some((tag, u16_at(2), u32_at(4), u32_at(8), u16_at(12), u16_at(14)));
                pos += size;
                if size % 2 == 1 {
                    skip(&mut r, 1)?;
                    pos += 1;
                }
            }
            b"data" => {
                let (tag, channels, rate, byte_rate, align, bits) =
                    fmt.ok_or(WavError::MissingFormat)?;
                let codec = match (tag, bits) {
                    (1, 16) => "pcm_s16le",
                    (6, 8) => "pcm_alaw",
                    (7, 8) => "pcm_mulaw",
                    _ => return Err(WavError::UnsupportedFormat { tag, bits }),
                };
                if !(1..=2).contains(&channels) {
                    return Err(WavError::Inconsistent("channels must be 1 or 2"));
                }
                if !(8_000..=48_000).contains(&rate) {
                    return Err(WavError::Inconsistent("sample rate must be 8000-48000 Hz"));
                }
                if u32::from(align) != u32::from(channels) * u32::from(bits / 8) {
                    return Err(WavError::Inconsistent("block align"));
                }
                if byte_rate != rate * u32::from(align) {
                    return Err(WavError::Inconsistent("byte rate"));
                }
                let available = file_len.saturating_sub(pos);
                if size > available {
                    return Err(WavError::DataTooLong {
                        claimed: size,
                        available,
                    });
                }
                if size % u64::from(align) != 0 {
                    return Err(WavError::Inconsistent(
                        "data size is not a whole number of samples",
                    ));
                }
                let frames = size / u64::from(align);
                return Ok(WavInfo {
                    codec,
                    channels,
                    sample_rate: rate,
                    data_len: size,
                    duration_ms: frames * 1000 / u64::from(rate),
                    header_len: pos,
                });
            }
            _ => {
                skip(&mut r, size + size % 2)?;
                pos += size + size % 2;
            }
        }
    }
    Err(WavError::Inconsistent(
        "too many chunks before the data chunk",
    ))
}

/// Writes a WAV header for `data_len` bytes of audio (used by the demo's sample generator).
pub fn header(
    codec_tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
    data_len: u32,
) -> Vec<u8> {
    let align = channels * (bits / 8);
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&codec_tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&(sample_rate * u32::from(align)).to_le_bytes());
    h.extend_from_slice(&align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, ch: u16, rate: u32, bits: u16, data: usize) -> Vec<u8> {
        let mut v = header(tag, ch, rate, bits, data as u32);
        v.resize(v.len() + data, 0x55);
        v
    }

    #[test]
    fn accepts_pcm16_alaw_mulaw() {
        let w = wav(1, 2, 8000, 16, 32_000);
        let i = check_header(&w[..], w.len() as u64).expect("pcm");
        assert_eq!((i.codec, i.channels, i.duration_ms), ("pcm_s16le", 2, 1000));
        let w = wav(6, 1, 8000, 8, 16_000);
        assert_eq!(
            check_header(&w[..], w.len() as u64)
                .expect("alaw")
                .duration_ms,
            2000
        );
        let w = wav(7, 2, 8000, 8, 8_000);
        assert_eq!(
            check_header(&w[..], w.len() as u64).expect("ulaw").codec,
            "pcm_mulaw"
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(
            check_header(&b"hello world, not a wav"[..], 22),
            Err(WavError::NotWav)
        );
        let w = wav(3, 1, 8000, 32, 64);
        assert_eq!(
            check_header(&w[..], w.len() as u64),
            Err(WavError::UnsupportedFormat { tag: 3, bits: 32 })
        );
        let w = wav(1, 1, 8000, 16, 1000);
        assert!(matches!(
            check_header(&w[..], 500),
            Err(WavError::DataTooLong { .. })
        ));
        assert_eq!(check_header(&w[..30], 30), Err(WavError::Truncated));
        let w = wav(1, 3, 8000, 16, 60);
        assert_eq!(
            check_header(&w[..], w.len() as u64),
            Err(WavError::Inconsistent("channels must be 1 or 2"))
        );
        let mut w = wav(1, 1, 8000, 16, 100);
        w[28] ^= 1; // byte rate
        assert_eq!(
            check_header(&w[..], w.len() as u64),
            Err(WavError::Inconsistent("byte rate"))
        );
    }
}
