//! Registry invariants over every check linked into tmgt, and proof through the built binary
//! that no checks crate went missing at link time.

use tmgt_suites as _;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use tmgt_check::Registry;

#[test]
fn names_and_codes_are_unique() {
    let registry = Registry::load().expect("duplicate names or codes");
    assert!(
        registry.checks().len() >= 20,
        "only {} checks registered",
        registry.checks().len()
    );
}

#[test]
fn each_suite_has_one_code_prefix_of_its_own() {
    let registry = Registry::load().unwrap();
    let mut prefixes: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in registry.checks() {
        let code = r.meta.code;
        let split = code
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or_else(|| panic!("{code} has no number"));
        assert!(
            split >= 2 && code[..split].chars().all(|c| c.is_ascii_uppercase()),
            "{code}: expected LETTERS then digits"
        );
        assert!(
            code[split..].chars().all(|c| c.is_ascii_digit()) && code.len() - split == 3,
            "{code}: three digits"
        );
        prefixes
            .entry(r.meta.suite)
            .or_default()
            .insert(code[..split].to_string());
    }
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for (suite, set) in &prefixes {
        assert_eq!(set.len(), 1, "suite {suite} uses several prefixes: {set:?}");
        let prefix = set.iter().next().unwrap().clone();
        if let Some(other) = owner.insert(prefix.clone(), suite) {
            panic!("prefix {prefix} used by both {other} and {suite}");
        }
    }
}

#[test]
fn names_are_kebab_case_and_every_check_is_documented() {
    let registry = Registry::load().unwrap();
    for r in registry.checks() {
        let m = r.meta;
        assert!(
            m.name.split('-').all(|w| !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
            "{}: name {:?} is not kebab-case",
            m.code,
            m.name
        );
        assert!(
            m.docs.trim().len() >= 80,
            "{} {}: doc comment too short to say what and why",
            m.code,
            m.name
        );
        assert!(
            !m.summary.is_empty() && !m.summary.ends_with('.'),
            "{}: summary is one line without a full stop",
            m.code
        );
    }
}

#[test]
fn the_repository_config_runs_every_registered_suite() {
    let registry = Registry::load().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites.toml");
    let config = tmgt_runner::config::Config::load(&file, None, &registry).unwrap();
    let registered: Vec<String> = registry.suites().iter().map(|s| s.to_string()).collect();
    assert_eq!(config.suites, registered);
}

#[test]
fn did_you_mean_finds_close_names() {
    let registry = Registry::load().unwrap();
    assert_eq!(registry.suggest("tokn"), Some("token"));
    assert_eq!(registry.suggest("zzzzzz"), None);
}

#[test]
fn list_checks_through_the_binary_shows_every_checks_crate() {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(["list-checks", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let linked: BTreeSet<&str> = rows.iter().map(|r| r["crate"].as_str().unwrap()).collect();
    // Every suite crate `tmgt-suites` depends on registers checks in the binary.
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tmgt-suites/Cargo.toml"),
    )
    .unwrap();
    let declared: BTreeSet<&str> = manifest
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| k.starts_with("checks-"))
        .collect();
    assert!(declared.len() >= 7, "{declared:?}");
    assert_eq!(
        linked, declared,
        "the binary's checks come from other crates than tmgt-suites names"
    );
    let in_process = Registry::load().unwrap().checks().len();
    assert_eq!(
        rows.len(),
        in_process,
        "the binary lists a different number of checks than the registry"
    );
    for row in &rows {
        for key in ["code", "name", "suite", "scope", "summary", "docs"] {
            assert!(
                row[key].as_str().is_some_and(|s| !s.is_empty()),
                "{row}: empty {key}"
            );
        }
    }
}

#[test]
fn list_checks_table_has_a_header_and_one_row_per_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(["list-checks"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("CODE"));
    assert_eq!(
        text.lines().count() - 1,
        Registry::load().unwrap().checks().len()
    );
}
