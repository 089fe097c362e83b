//! The localize suite through the built `tmgt` against the real apr on the bundled tiny
//! models: where each diverging f32 `.apr` departs from HF, the faithful Qwen2 agreeing at
//! every stage, and one projection the test alters found at its layer and stage.

use crate::common;
use common::{link_repository_data, repo_root, run_report};

use checks_structure::layout::Layout;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A project of the bundled models with `extra` appended to the repository's suites.toml.
fn project(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    std::fs::write(dir.path().join("suites.toml"), format!("{config}\n{extra}")).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Vec<Value> {
    run_report(dir, args).1["results"]
        .as_array()
        .unwrap()
        .clone()
}

fn localization(r: &Value) -> &Value {
    assert_eq!(r["details"]["kind"], "localization", "{r}");
    &r["details"]
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

fn loc_of<'a>(results: &'a [Value], model: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["code"] == "LOC001" && r["model"] == model)
        .unwrap_or_else(|| panic!("no LOC001 for {model}: {results:?}"))
}

/// Every stage before the first departure agrees; the departure and every later stage named.
fn assert_consistent(r: &Value) {
    let loc = localization(r);
    let stages = loc["stages"].as_array().unwrap();
    assert!(!stages.is_empty(), "{r}");
    let first = stages.iter().position(|s| s["departs"] == true);
    assert_eq!(
        loc["first_departure"].as_str(),
        first.map(|i| stages[i]["key"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["evidence"]["count"], stages.len(), "{r}");
    assert_eq!(
        r["verdict"],
        if first.is_some() { "fail" } else { "pass" },
        "{r}"
    );
}

#[test]
fn every_diverging_f32_apr_is_localized_and_a_model_that_agrees_is_not_traced() {
    let results = run(&repo_root(), &["--filter", "suite=runtime|localize"]);
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        let diverged = results
            .iter()
            .any(|r| r["code"] == "RUN001" && r["model"] == model && r["verdict"] == "fail");
        let r = loc_of(&results, model);
        if diverged {
            assert_consistent(r);
            assert!(
                !localization(r)["diverged_prompts"]
                    .as_array()
                    .unwrap()
                    .is_empty()
            );
        } else {
            assert_eq!(r["verdict"], "skip", "{r}");
            assert!(message(r).contains("not traced"), "{r}");
        }
    }
    // What apr 0.72.3 does: LLaMA's RoPE rotates the wrong pairs of dimensions (the
    // projection before it agrees); GPT-2's first norm is already wrong (the token embedding
    // before it agrees); the faithful Qwen2 is not traced.
    for (model, first, before) in [
        (
            "tiny-llama",
            "layer-0/q_post_rope",
            "while layer 0 `qkv_matmul` agrees",
        ),
        (
            "tiny-gpt2",
            "layer-0/attn_norm",
            "while layer 0 `embedding` agrees",
        ),
    ] {
        let r = loc_of(&results, model);
        assert_eq!(localization(r)["first_departure"], first, "{r}");
        assert!(message(r).contains(before), "{r}");
    }
    assert_eq!(loc_of(&results, "tiny-qwen2")["verdict"], "skip");
    // apr 0.72.3 traces no dense GGUF: LOC002 says so in apr's words (GPT-2 has no GGUF).
    for model in ["tiny-llama", "tiny-qwen2"] {
        let r = results
            .iter()
            .find(|r| r["code"] == "LOC002" && r["model"] == model)
            .unwrap();
        assert_eq!(r["verdict"], "skip", "{r}");
        assert!(
            message(r).starts_with("apr cannot trace the GGUF: exit 6")
                && message(r).contains("only qwen3_moe arch supported"),
            "{r}"
        );
    }
}

#[test]
fn the_faithful_qwen2_localizes_to_no_stage_beyond_noise() {
    let dir = project("");
    std::fs::write(
        dir.path().join("suites.toml"),
        std::fs::read_to_string(dir.path().join("suites.toml"))
            .unwrap()
            .replace("trace_passing = false", "trace_passing = true"),
    )
    .unwrap();
    let results = run(dir.path(), &["--filter", "suite=localize model=tiny-qwen2"]);
    let r = loc_of(&results, "tiny-qwen2");
    assert_consistent(r);
    assert_eq!(r["verdict"], "pass", "{r}");
    assert!(message(r).starts_with("no stage beyond noise"), "{r}");
    // Far inside the tolerance: the noise it was calibrated on.
    let tolerance = localization(r)["tolerance"].as_f64().unwrap();
    for s in localization(r)["stages"].as_array().unwrap() {
        let worst = s["rel_l2"]
            .as_f64()
            .unwrap()
            .max(s["norm_rel"].as_f64().unwrap());
        assert!(worst < tolerance / 10.0, "{s}");
    }
}

/// tiny-qwen2's f32 `.apr`, imported by the real apr into `dir`.
fn imported(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-qwen2.apr");
    let status = std::process::Command::new(common::real_apr())
        .arg("import")
        .arg(repo_root().join("models/tiny-qwen2"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn one_altered_projection_localizes_to_its_layer_and_stage() {
    let scratch = tempfile::tempdir().unwrap();
    let apr = imported(scratch.path());
    let layout = Layout::read(&apr).unwrap();
    let tensor = layout
        .tensors
        .iter()
        .find(|t| t.name.ends_with("layers.1.self_attn.o_proj.weight"))
        .unwrap_or_else(|| panic!("no layer-1 o_proj in {:?}", layout.tensors));
    assert!(tensor.is_f32);
    let mut bytes = std::fs::read(&apr).unwrap();
    let range = tensor.bytes.start as usize..tensor.bytes.end as usize;
    for chunk in bytes[range].chunks_exact_mut(4) {
        let v = f32::from_le_bytes(chunk.try_into().unwrap());
        chunk.copy_from_slice(&(v * 1.5).to_le_bytes());
    }
    let altered = scratch.path().join("altered.apr");
    std::fs::write(&altered, bytes).unwrap();
    let dir = project(&format!(
        "[models.altered]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\n\
         quants = [\"f32\"]\nppl_ceiling = 450.0\nartifact = \"{}\"\n\
         [profiles.altered]\nmodels = [\"altered\"]\n",
        altered.display()
    ));
    let text = std::fs::read_to_string(dir.path().join("suites.toml"))
        .unwrap()
        .replace("trace_passing = false", "trace_passing = true");
    std::fs::write(dir.path().join("suites.toml"), text).unwrap();
    let results = run(
        dir.path(),
        &["--profile", "altered", "--filter", "suite=localize"],
    );
    let r = loc_of(&results, "altered");
    assert_consistent(r);
    assert_eq!(
        localization(r)["first_departure"],
        "layer-1/attn_out",
        "{r}"
    );
    assert!(
        message(r).starts_with("layer 1 `attn_out` departs from HF")
            && message(r).contains("while layer 1 `attention` agrees"),
        "{r}"
    );
}
