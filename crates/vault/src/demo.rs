//! Sample data for `callvault demo`: a small legacy archive of generated call recordings for
//! two care providers, with a CSV manifest. The audio is synthesised tones; the patient ids
//! are generated, checksum-valid personnummer of no real person's choosing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::manifest::FIELDS;
use crate::wav;

/// The demo's care providers: (care provider HSA-ID, care units, name).
pub const CARE_PROVIDERS: [(&str, [&str; 2], &str); 2] = [
    (
        "SE2321000016-0001",
        ["SE2321000016-1177", "SE2321000016-1178"],
        "Region Stockholm (demo)",
    ),
    (
        "SE2321000156-0001",
        ["SE2321000156-1177", "SE2321000156-1178"],
        "Region Värmland (demo)",
    ),
];

/// The demo's care units' names, in the order of [`CARE_PROVIDERS`]' units.
pub const UNIT_NAMES: [[&str; 2]; 2] = [
    [
        "1177 Vårdguiden Stockholm, dag (demo)",
        "1177 Vårdguiden Stockholm, natt (demo)",
    ],
    [
        "1177 Vårdguiden Värmland, dag (demo)",
        "1177 Vårdguiden Värmland, natt (demo)",
    ],
];

/// The demo's `callvault.toml`: the default, plus each care provider's retention and the
/// names people read beside the HSA-IDs.
pub fn config_toml(origin: &str) -> String {
    let mut text = crate::config::Config::default_toml(origin);
    for ((cp, units, name), unit_names) in CARE_PROVIDERS.iter().zip(UNIT_NAMES) {
        text.push_str(&format!(
            "\n[[care_providers]]\nhsa_id = \"{cp}\"\nretention_years = 10\nname = \"{name}\"\nunits = [\n"
        ));
        for (u, n) in units.iter().zip(unit_names) {
            text.push_str(&format!("  {{ hsa_id = \"{u}\", name = \"{n}\" }},\n"));
        }
        text.push_str("]\n");
    }
    text
}

/// Deterministic pseudo-random numbers (xorshift) so that the demo archive is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A checksum-valid personnummer `YYYYMMDD-NNNC` for a generated person.
pub fn personnummer(rng_seed: u64) -> String {
    let mut r = Rng(rng_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let year = 1940 + r.below(70);
    let month = 1 + r.below(12);
    let day = 1 + r.below(28);
    let serial = r.below(1000);
    let nine = format!("{:02}{month:02}{day:02}{serial:03}", year % 100);
    let check = callvault_types::check_digit(&nine).unwrap_or_default();
    format!("{year}{month:02}{day:02}-{serial:03}{check}")
}

/// G.711 A-law encoding of one 16-bit sample (ITU-T G.711).
fn alaw(sample: i16) -> u8 {
    callvault_types::g711::Law::A.encode(sample)
}

fn tone(seconds: u32, rate: u32, channels: u16, f1: f64, f2: f64) -> Vec<i16> {
    let n = (seconds * rate) as usize;
    let mut v = Vec::with_capacity(n * usize::from(channels));
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let env = (t * 3.0).sin().abs() * 0.6 + 0.2;
        let a = ((2.0 * std::f64::consts::PI * f1 * t).sin() * env * 9000.0) as i16;
        let b = ((2.0 * std::f64::consts::PI * f2 * t).sin() * env * 7000.0) as i16;
        v.push(a);
        if channels == 2 {
            v.push(b);
        }
    }
    v
}

/// Writes `count` recordings and `manifest.csv` into `dir`; returns the manifest path.
pub fn write_archive(dir: &Path, count: usize, seconds: u32) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let manifest = dir.join("manifest.csv");
    let mut m = std::fs::File::create(&manifest)?;
    writeln!(m, "{}", FIELDS.join(","))?;
    for i in 0..count {
        let (cp, units, _) = CARE_PROVIDERS[i % 2];
        let unit = units[(i / 2) % 2];
        let file = format!("call-{i:04}.wav");
        let samples = tone(
            seconds,
            8000,
            if i % 3 == 0 { 2 } else { 1 },
            300.0 + i as f64 * 7.0,
            440.0,
        );
        let channels = if i % 3 == 0 { 2 } else { 1 };
        let bytes = if i % 4 == 1 {
            let data: Vec<u8> = samples.iter().map(|s| alaw(*s)).collect();
            let mut out = wav::header(6, channels, 8000, 8, data.len() as u32);
            out.extend_from_slice(&data);
            out
        } else {
            let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut out = wav::header(1, channels, 8000, 16, data.len() as u32);
            out.extend_from_slice(&data);
            out
        };
        std::fs::write(dir.join(&file), bytes)?;
        let day = 1 + (i % 27);
        let hour = 7 + (i % 12);
        writeln!(
            m,
            "{file},demo-call-{i:04},{cp},{unit},2026-10-{day:02}T{hour:02}:{:02}:00Z,{},+4670{:07},{}",
            (i * 7) % 60,
            personnummer(i as u64 + 1),
            1_234_567 + i,
            format_args!("{}-N{:03}", &cp[..12], i % 5 + 1),
        )?;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_names_every_unit() {
        let c = crate::config::Config::parse(
            &config_toml("audit.example"),
            Path::new("/data"),
            Path::new("/data/callvault.toml"),
        )
        .expect("demo config");
        for ((_, units, _), names) in CARE_PROVIDERS.iter().zip(UNIT_NAMES) {
            for (u, n) in units.iter().zip(names) {
                let u = callvault_types::CareUnit::parse(u).expect("unit");
                assert_eq!(c.names.unit(&u), Some(n));
            }
        }
    }

    #[test]
    fn generated_personnummer_are_valid() {
        for i in 0..200 {
            let p = personnummer(i);
            callvault_types::PatientId::parse(&p).expect(&p);
        }
    }

    #[test]
    fn alaw_matches_reference_points() {
        // Reference values of ITU-T G.711 A-law.
        assert_eq!(alaw(0), 0xD5);
        assert_eq!(alaw(-1), 0x55);
        assert_eq!(alaw(i16::MAX), 0xAA);
        assert_eq!(alaw(i16::MIN), 0x2A);
    }
}
