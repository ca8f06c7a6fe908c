//! An import manifest (jsonl): every row is valid or refused with its line and a reason that
//! never shows a patient's or caller's number.
#![no_main]

use callvault_vault::manifest::ManifestFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| callvault_fuzz::check_manifest(data, ManifestFormat::Jsonl));
