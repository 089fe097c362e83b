//! The README's example suite crate (`tests/example-suite`) plugs in by being linked: no runner
//! file names it, the repository's suites.toml runs it because `enabled` defaults to every
//! registered suite, and its check reads its own `[thresholds.example]` table. It runs here
//! against the real apr on the bundled tiny models.

mod common;
use common::{link_repository_data, repo_root, run_in_process};

use example_suite as _;
use tmgt_check::Registry;
use tmgt_runner::config::Config;

/// A project of the bundled models: the repository's suites.toml with `extra` appended.
fn project(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    let file = dir.path().join("suites.toml");
    std::fs::write(&file, format!("{config}\n{extra}")).unwrap();
    (dir, file)
}

fn problems(extra: &str) -> String {
    let (_dir, file) = project(extra);
    let err = Config::load(&file, None, &Registry::load().unwrap()).unwrap_err();
    format!("{:?}", miette::Report::new(err))
}

#[test]
fn the_example_suite_registers_and_runs_with_its_own_thresholds() {
    let (dir, file) = project("[thresholds.example]\nmax_growth = 0.25\n");
    let out = dir.path().join("out");
    let (exit, report) = run_in_process(&file, &out, "suite=example");
    let results = report["results"].as_array().unwrap();
    let verdict = |model: &str| {
        let r = results.iter().find(|r| r["model"] == model).unwrap();
        assert_eq!(r["code"], "EXA001", "{r}");
        assert_eq!(r["evidence"]["count"], 2, "{r}");
        r["verdict"].as_str().unwrap().to_string()
    };
    // tiny-llama's f32 import is 2.5% bigger than its safetensors; tiny-qwen2's (tied
    // embeddings) 68% and tiny-gpt2's 53%: the tied matrix is stored twice.
    assert_eq!(verdict("tiny-llama"), "pass");
    assert_eq!(verdict("tiny-qwen2"), "fail");
    assert_eq!(verdict("tiny-gpt2"), "fail");
    assert_eq!(results.len(), 3);
    assert_eq!(exit as u8, tmgt_runner::Exit::ChecksFailed as u8);
}

#[test]
fn the_example_suite_s_table_is_checked_when_the_configuration_loads() {
    let missing = problems("");
    assert!(
        missing.contains("[thresholds.example] is required"),
        "{missing}"
    );
    let misspelt = problems("[thresholds.exmaple]\nmax_growth = 0.25\n");
    assert!(
        misspelt.contains("unknown table [thresholds.exmaple]"),
        "{misspelt}"
    );
    assert!(misspelt.contains("did you mean `example`?"), "{misspelt}");
    let mistyped = problems("[thresholds.example]\nmax_growth = \"a quarter\"\n");
    assert!(
        mistyped.contains("[thresholds.example]: invalid type"),
        "{mistyped}"
    );
}
