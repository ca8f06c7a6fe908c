//! The crate graph is the one ARCHITECTURE.md draws: its "Crate dependencies" table names,
//! for every crate, exactly the callvault crates it depends on (dev-dependencies aside), and
//! every crate there appears in the layer picture above it. Change a manifest without the
//! document, or the document without the manifests, and this fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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

/// ARCHITECTURE.md's layer picture (the first fenced block of "## Code map") and its
/// "Crate dependencies" table: `| `crate` | `dep`, `dep` |` rows, `—` for none.
fn documented_graph() -> (String, BTreeMap<String, BTreeSet<String>>) {
    let doc =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = doc.split("## Code map").nth(1).expect("a Code map section");
    let picture = map
        .split("```")
        .nth(1)
        .expect("the layer picture")
        .to_owned();
    let table = doc
        .split("Crate dependencies")
        .nth(1)
        .expect("a Crate dependencies table");
    let mut graph = BTreeMap::new();
    for row in table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let [krate, deps] = cells[..] else {
            panic!("a Crate dependencies row has two cells: {row}");
        };
        let Some(krate) = krate.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue; // the header and its rule
        };
        let deps = deps
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_owned())
            .filter(|d| !d.is_empty() && d != "—")
            .collect();
        assert!(
            graph.insert(krate.to_owned(), deps).is_none(),
            "{krate} is listed twice"
        );
    }
    (picture, graph)
}

#[test]
fn every_crate_depends_exactly_on_what_the_architecture_draws() {
    let (picture, graph) = documented_graph();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let documented = graph
            .get(&name)
            .unwrap_or_else(|| panic!("crate {name} is not in ARCHITECTURE.md's table"));
        assert!(
            picture.contains(name.as_str()),
            "crate {name} is missing from ARCHITECTURE.md's layer picture"
        );
        let used = normal_dependencies(&manifest);
        assert_eq!(
            &used, documented,
            "{name}'s manifest and ARCHITECTURE.md disagree on its dependencies"
        );
        seen.insert(name);
    }
    let listed: BTreeSet<_> = graph.keys().cloned().collect();
    assert_eq!(
        seen, listed,
        "ARCHITECTURE.md lists crates that do not exist"
    );
}

#[test]
fn the_documented_graph_is_layered() {
    // No cycles: repeatedly remove the crates whose dependencies are all removed.
    let (_, mut graph) = documented_graph();
    while !graph.is_empty() {
        let ready: Vec<String> = graph
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !graph.contains_key(d)))
            .map(|(k, _)| k.clone())
            .collect();
        assert!(!ready.is_empty(), "the crate graph has a cycle: {graph:?}");
        for k in ready {
            graph.remove(&k);
        }
    }
}

/// The crates whose normal dependencies may enable a `test-support` feature (write access to
/// the catalog, …): tools that measure, never a crate the `callvault` binary is built from.
const MAY_USE_TEST_SUPPORT: &[&str] = &["bench"];

#[test]
fn no_production_crate_enables_test_support() {
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates") {
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
