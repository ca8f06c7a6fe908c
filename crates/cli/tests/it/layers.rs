//! The crate graph is the one ARCHITECTURE.md draws: each crate's normal dependencies on
//! other callvault crates are exactly those the picture allows (dev-dependencies aside).

use std::collections::BTreeSet;

/// Each crate and the callvault crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("types", &[]),
    ("testkit", &[]),
    ("crypto", &["types"]),
    ("blobstore", &["types"]),
    ("audit", &["types"]),
    ("auth", &["types"]),
    ("pki", &["types"]),
    ("catalog", &["types", "audit"]),
    (
        "vault",
        &["types", "crypto", "blobstore", "audit", "catalog", "auth"],
    ),
    (
        "server",
        &["types", "crypto", "audit", "catalog", "auth", "vault"],
    ),
    ("cli", &["types", "audit", "auth", "pki", "vault", "server"]),
    (
        "bench",
        &[
            "types", "audit", "auth", "catalog", "pki", "vault", "server",
        ],
    ),
];

/// The callvault crates named in a manifest's `[dependencies]` table.
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some(name) = line.strip_prefix("callvault-") {
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn every_crate_depends_only_on_the_layers_the_architecture_allows() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&crates).expect("crates") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let allowed: BTreeSet<String> = ALLOWED
            .iter()
            .find(|(c, _)| *c == name)
            .unwrap_or_else(|| panic!("crate {name} is not in ARCHITECTURE.md's picture"))
            .1
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let used = normal_dependencies(&manifest);
        let extra: Vec<_> = used.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{name} depends on {extra:?}, which the layer picture does not allow"
        );
        seen.insert(name);
    }
    assert_eq!(seen.len(), ALLOWED.len(), "{seen:?}");
}

/// The crates whose normal dependencies may enable a `test-support` feature (write access to
/// the catalog, …): tools that measure, never a crate the `callvault` binary is built from.
const MAY_USE_TEST_SUPPORT: &[&str] = &["bench"];

#[test]
fn no_production_crate_enables_test_support() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(&crates).expect("crates") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        let mut section = String::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            if section == "[dependencies]" && line.contains("test-support") {
                assert!(
                    MAY_USE_TEST_SUPPORT.contains(&name),
                    "{name} enables test-support in its normal dependencies: {line}"
                );
            }
            // Policies are built by the vault, over the approved assignments only.
            if line.contains("policy-source") && !line.starts_with('#') {
                assert!(
                    name == "vault" || (name == "auth" && section == "[features]"),
                    "{name} enables policy-source: {line}"
                );
            }
        }
    }
}
