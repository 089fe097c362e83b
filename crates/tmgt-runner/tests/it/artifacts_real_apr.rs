//! Artifact preparation against the real apr: the cache is keyed by the apr binary, and a file
//! made elsewhere is checked like tmgt's own artifact, so an altered tensor is caught.

use crate::common;
use common::{link_repository_data, real_apr, repo_root, tmgt_in as tmgt};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A project folder that shares the repository's models, oracles and prompts.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    dir
}

fn only_qwen2(extra_models: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    let text = common::default_profile_models(&text, &["tiny-qwen2"]);
    format!("{text}\n{extra_models}")
}

#[test]
fn each_call_names_the_call_that_made_its_input_under_the_name_it_was_kept() {
    // A fresh cache: the f32 import, its GGUF export and the round trip's import run here.
    let dir = project(&only_qwen2(""));
    let out = dir.path().join("out");
    let run = tmgt(
        dir.path(),
        &[
            "run",
            "--out",
            out.to_str().unwrap(),
            "--filter",
            "suite=prepare",
        ],
    );
    let report: Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    let calls = report["invocations"].as_array().unwrap();
    let export = calls.iter().find(|c| c["subcommand"] == "export").unwrap();
    let input = &export["inputs"][0];
    let maker = &calls[input["made_by"].as_u64().unwrap() as usize - 1];
    assert_eq!(maker["subcommand"], "import", "{maker}");
    // apr wrote into a folder of its own beside the final name; tmgt moved it there.
    let written = maker["outputs"][0]["path"].as_str().unwrap();
    assert!(written.contains("/.partial-"), "{maker}");
    assert_eq!(maker["outputs"][0]["kept_as"], input["path"], "{maker}");
    assert!(
        maker["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == written)
    );
    // The round trip imports the export's GGUF.
    let round_trip = calls
        .iter()
        .find(|c| {
            c["subcommand"] == "import"
                && c["inputs"][0]["path"].as_str().unwrap().ends_with(".gguf")
        })
        .unwrap();
    assert_eq!(
        round_trip["inputs"][0]["made_by"], export["id"],
        "{round_trip}"
    );
}

#[test]
fn a_different_apr_binary_rebuilds_the_cache() {
    let dir = project(&only_qwen2(""));
    let first = tmgt(dir.path(), &["prepare"]);
    let first_err = String::from_utf8_lossy(&first.stderr);
    assert!(
        first_err.contains("built"),
        "a fresh cache builds: {first_err}"
    );
    let again = tmgt(dir.path(), &["prepare"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains(" 0 apr calls"));
    // A wrapper is another binary (another hash): its artifacts are not the old ones.
    let wrapper = dir.path().join("apr-wrapper");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\"\n", real_apr().display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let rebuilt = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(["prepare", "--apr", wrapper.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(
        stderr.contains("built") && !stderr.contains(" 0 apr calls"),
        "{stderr}"
    );
}

/// The f32 GGUF apr exports for tiny-qwen2, made through tmgt's own cache.
fn exported_gguf(dir: &Path) -> PathBuf {
    let out = tmgt(dir, &["prepare"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("tiny-qwen2/gguf-f32"))
        .unwrap_or_else(|| panic!("{stderr}"));
    PathBuf::from(line.split_whitespace().last().unwrap())
}

fn runtime_results(dir: &Path, model: &str) -> Vec<Value> {
    let out = tmgt(
        dir,
        &[
            "run",
            "--out",
            "out",
            "--filter",
            &format!("check=f32-gguf-runtime-diverges model={model}"),
        ],
    );
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.join("out/report.json"))
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    report["results"].as_array().unwrap().clone()
}

#[test]
fn a_given_gguf_is_checked_against_its_source_and_an_altered_tensor_fails() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = project(&only_qwen2(""));
    let gguf = exported_gguf(dir.path());
    let faithful = scratch.path().join("given.gguf");
    std::fs::copy(&gguf, &faithful).unwrap();
    let altered = scratch.path().join("altered.gguf");
    let mut bytes = std::fs::read(&gguf).unwrap();
    // Tensor data sits at the end of a GGUF: scale a run of float32 weights there.
    let end = bytes.len();
    for chunk in bytes[end - 64 * 1024..end].chunks_exact_mut(4) {
        let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        chunk.copy_from_slice(&(v * -3.0).to_le_bytes());
    }
    std::fs::write(&altered, bytes).unwrap();
    let entries = format!(
        "[models.given]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\nquants = []\nppl_ceiling = 200.0\nartifact = \"{}\"\n\
         [models.altered]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\nquants = []\nppl_ceiling = 200.0\nartifact = \"{}\"\n\
         [profiles.given]\nmodels = [\"given\", \"altered\"]\n",
        faithful.display(),
        altered.display()
    );
    std::fs::write(
        dir.path().join("suites.toml"),
        only_qwen2(&entries).replace("profile = \"default\"", "profile = \"given\""),
    )
    .unwrap();
    let given = runtime_results(dir.path(), "given");
    assert_eq!(given.len(), 4);
    assert!(
        given.iter().all(|r| r["verdict"] == "pass"),
        "the faithful copy reproduces the oracle: {given:?}"
    );
    let bad = runtime_results(dir.path(), "altered");
    assert_eq!(bad.len(), 4);
    assert!(
        bad.iter().all(|r| r["verdict"] == "fail"),
        "an altered tensor must fail runtime parity: {bad:?}"
    );
}
