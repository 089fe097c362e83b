//! Every kind of configuration mistake is reported with the file, the line, a label under the
//! offending text and a help line; several mistakes are reported together.

use crate::common;
use common::{link_repository_data, repo_root};

use std::path::{Path, PathBuf};
use tmgt_check::Registry;
use tmgt_runner::config::{Config, ConfigError};

/// A temp folder that looks like the repository (models, oracles, prompts linked in) with
/// `suites.toml` replaced by `text`.
fn workspace_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let file = dir.path().join("suites.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn pristine() -> String {
    std::fs::read_to_string(repo_root().join("suites.toml")).unwrap()
}

/// A small, stable configuration the diagnostics are snapshotted against, so that editing the
/// repository's suites.toml does not move every snapshot's line numbers.
const BASE: &str = r#"# Snapshot base.
[apr]
binary = ""
version = "0.72.3"
min_version = "0.72.3"

[run]
max_new_tokens = 32
jobs = 0
profile = "default"

[paths]
artifacts = ".tmgt/artifacts"
out = "tmgt-out"
eval_text = "prompts/eval-text.txt"

[timeouts]
default = 120
import = 600
export = 600
run = 300

[prompts]
arithmetic = "prompts/arithmetic.txt"
code = "prompts/code.txt"

[suites]
enabled = [
  "token",
  "drift",
  "runtime",
]

[thresholds.drift]
slack = 1

[models.tiny-qwen2]
source = "models/tiny-qwen2"
oracle = "oracle/tiny-qwen2"
quants = ["f32", "int8", "int4"]
ppl_ceiling = 450.0

[models.tiny-gpt2]
source = "models/tiny-gpt2"
oracle = "oracle/tiny-gpt2"
quants = ["f32", "int8", "int4"]
ppl_ceiling = 200.0

[profiles.default]
models = ["tiny-qwen2", "tiny-gpt2"]
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    let (_dir, file) = workspace_with(text);
    Config::load(&file, None, &Registry::load().unwrap())
}

/// The diagnostic as a person sees it, without colour, with the temp path replaced.
fn render(text: &str) -> String {
    let (dir, file) = workspace_with(text);
    let err = Config::load(&file, None, &Registry::load().unwrap())
        .expect_err("config should be refused");
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, &err)
        .unwrap();
    out.replace(&dir.path().display().to_string(), "[TMP]")
}

fn edit(from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "the base config does not contain {from:?}"
    );
    BASE.replacen(from, to, 1)
}

#[test]
fn the_snapshot_base_loads() {
    let config = load(BASE).unwrap();
    assert_eq!(config.models.len(), 2);
}

#[test]
fn the_repository_config_loads() {
    let config = load(&pristine()).unwrap();
    assert_eq!(config.profile, "default");
    // The three tiny models, the ten position-scheme variants (their long and metadata suites
    // only), and the 21 rungs of each wide model's ladder without it.
    assert_eq!(
        config.models.iter().filter(|m| m.rung.is_none()).count(),
        13
    );
    assert_eq!(config.models.len(), 55);
    let limited: Vec<&Option<Vec<String>>> =
        config.model_suites.iter().filter(|s| s.is_some()).collect();
    assert_eq!(limited.len(), 10);
    assert!(
        limited
            .iter()
            .all(|s| s.as_deref() == Some(&["long".to_string(), "metadata".to_string()][..]))
    );
    assert_eq!(config.rungs.len(), 42);
    assert_eq!(config.prompts.len(), 4);
    assert_eq!(config.thresholds.suites["token"]["int4"], 5);
    assert_eq!(config.thresholds.suites["token"]["int8"], 3);
    assert_eq!(config.apr.pinned_version.to_string(), "0.72.3");
}

#[test]
fn the_hub_profile_describes_the_reference_models() {
    let (_dir, file) = workspace_with(&pristine());
    let config = Config::load(&file, Some("hub"), &Registry::load().unwrap()).unwrap();
    let names: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["smollm-135m", "qwen2-0.5b", "gpt2-124m"]);
    assert!(config.models.iter().all(|m| m.local_dir().is_none()));
}

#[test]
fn syntax_error() {
    insta::assert_snapshot!(render(&edit(
        "max_new_tokens = 32",
        "max_new_tokens = \"32"
    )));
}

#[test]
fn unknown_section_with_suggestion() {
    insta::assert_snapshot!(render(&edit("[timeouts]", "[timeout]")));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(render(&edit(
        "max_new_tokens = 32",
        "max_new_tokens = 32\nmax_tokens = 32"
    )));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(render(&edit("jobs = 0", "jobs = \"two\"")));
}

#[test]
fn unknown_suite_with_suggestion() {
    insta::assert_snapshot!(render(&edit("  \"drift\",", "  \"drfit\",")));
}

#[test]
fn unknown_model_in_profile() {
    insta::assert_snapshot!(render(&edit(
        "models = [\"tiny-qwen2\", \"tiny-gpt2\"]",
        "models = [\"tiny-qwen3\", \"tiny-gpt2\"]"
    )));
}

#[test]
fn missing_model_folder() {
    insta::assert_snapshot!(render(&edit(
        "source = \"models/tiny-gpt2\"",
        "source = \"models/tiny-gpt3\""
    )));
}

#[test]
fn unknown_quantization_level() {
    insta::assert_snapshot!(render(&edit(
        "oracle = \"oracle/tiny-qwen2\"\nquants = [\"f32\", \"int8\", \"int4\"]",
        "oracle = \"oracle/tiny-qwen2\"\nquants = [\"f32\", \"int3\", \"int4\"]"
    )));
}

#[test]
fn bad_version() {
    insta::assert_snapshot!(render(&edit(
        "min_version = \"0.72.3\"",
        "min_version = \"latest\""
    )));
}

#[test]
fn unknown_threshold_key() {
    insta::assert_snapshot!(render(&edit("slack = 1", "slak = 1")));
}

#[test]
fn unknown_profile() {
    insta::assert_snapshot!(render(&edit(
        "profile = \"default\"",
        "profile = \"nightly\""
    )));
}

#[test]
fn every_problem_at_once() {
    let text = edit("jobs = 0", "jobs = 0\nparallel = true");
    let text = text.replacen("  \"drift\",", "  \"drfit\",", 1);
    let text = text.replacen(
        "source = \"models/tiny-gpt2\"",
        "source = \"models/tiny-gpt3\"",
        1,
    );
    let err = load(&text).expect_err("three problems");
    assert_eq!(err.messages().len(), 3, "{:?}", err.messages());
    insta::assert_snapshot!(render(&text));
}

#[test]
fn unreadable_file() {
    let err = Config::load(
        Path::new("/nonexistent/suites.toml"),
        None,
        &Registry::load().unwrap(),
    )
    .unwrap_err();
    assert!(err.messages()[0].contains("cannot read /nonexistent/suites.toml"));
}

#[test]
fn a_model_s_thresholds_lay_over_the_suite_tables_key_by_key() {
    let text = edit(
        "ppl_ceiling = 450.0\n",
        "ppl_ceiling = 450.0\nthresholds = { token = { int4 = 9 }, qa = { min_gates = 1 } }\n",
    );
    let config = load(&text).unwrap();
    let (qwen, gpt2) = (&config.model_thresholds[0], &config.model_thresholds[1]);
    assert_eq!(qwen.suites["token"]["int4"], 9);
    assert_eq!(
        qwen.suites["token"]["int8"], 3,
        "the other keys keep the global values"
    );
    assert_eq!(qwen.suites["qa"]["min_gates"], 1);
    assert_eq!(
        gpt2.suites["token"]["int4"], 5,
        "another model keeps the global table"
    );
    let misspelt = render(&edit(
        "ppl_ceiling = 450.0\n",
        "ppl_ceiling = 450.0\nthresholds = { token = { int5 = 9 } }\n",
    ));
    assert!(
        misspelt.contains("unknown key `int5` in [thresholds.token]"),
        "{misspelt}"
    );
}

#[test]
fn unknown_suite_of_a_model() {
    insta::assert_snapshot!(render(&edit(
        "source = \"models/tiny-gpt2\"",
        "source = \"models/tiny-gpt2\"\nsuites = [\"lnog\"]"
    )));
}
