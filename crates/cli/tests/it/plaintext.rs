//! Patient data in the forms it is written, and searching files for it: the needles of the
//! breach simulation and of the crash harness.

use std::path::{Path, PathBuf};

use crate::walk;

/// A deterministic, high-entropy A-law WAV of `bytes` audio bytes.
pub(crate) fn noise_wav(seed: u64, bytes: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let mut w = callvault_vault::wav::header(6, 1, 8000, 8, data.len() as u32);
    w.extend_from_slice(&data);
    w
}

/// Every written form of a personnummer `YYYYMMDD-NNNN`: twelve and ten digits, with and
/// without the separator, and the twelve-digit forms in UTF-16 (as some tools write text).
pub(crate) fn patient_forms(pnr: &str) -> Vec<Vec<u8>> {
    let digits: String = pnr.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 12, "{pnr}");
    let (long, short) = (digits.clone(), digits[2..].to_owned());
    let long_dash = format!("{}-{}", &long[..8], &long[8..]);
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    vec![
        utf16(&long),
        utf16(&long_dash),
        long.clone().into_bytes(),
        long_dash.into_bytes(),
        short.clone().into_bytes(),
        format!("{}-{}", &short[..6], &short[6..]).into_bytes(),
        format!("{}+{}", &short[..6], &short[6..]).into_bytes(),
    ]
}

/// Every written form of a Swedish mobile number `+467XXXXXXXX`.
pub(crate) fn phone_forms(e164: &str) -> Vec<Vec<u8>> {
    let national = format!("0{}", &e164[3..]);
    [
        e164.to_owned(),
        e164[1..].to_owned(),
        format!("0046{}", &e164[3..]),
        national.clone(),
        format!("{}-{}", &national[..3], &national[3..]),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

/// Byte patterns from a WAV's audio: 32-byte windows at eight places, each varied enough
/// (at least 12 distinct bytes) that it cannot occur by chance in zeroed or regular pages.
pub(crate) fn audio_patterns(wav: &[u8]) -> Vec<Vec<u8>> {
    let data = &wav[44..];
    (0..8)
        .filter_map(|k| {
            let at = (data.len() - 64) * k / 8;
            let w = &data[at..at + 32];
            let distinct = w.iter().collect::<std::collections::BTreeSet<_>>().len();
            (distinct >= 12).then(|| w.to_vec())
        })
        .collect()
}

/// Needles: a name for each, and its bytes.
pub(crate) type Needles = [(String, Vec<u8>)];

/// Every (file, needle name) where a needle occurs in a file under `dir`.
pub(crate) fn search(dir: &Path, needles: &Needles) -> Vec<String> {
    search_files(walk(dir), needles)
}

/// Every (file, needle name) where a needle occurs in one of `files`; a file that is gone
/// by the time it is read (a temporary, a WAL) is skipped. One pass per file over all
/// needles (Aho-Corasick).
pub(crate) fn search_files(
    files: impl IntoIterator<Item = PathBuf>,
    needles: &Needles,
) -> Vec<String> {
    let ac = aho_corasick::AhoCorasick::new(needles.iter().map(|(_, n)| n)).expect("needles");
    let mut found = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let mut hit = std::collections::BTreeSet::new();
        for m in ac.find_overlapping_iter(&bytes) {
            hit.insert(m.pattern().as_usize());
        }
        for i in hit {
            found.push(format!("{} in {}", needles[i].0, f.display()));
        }
    }
    found
}
