//! The llama.cpp suites end to end: the built `tmgt`, the real apr (TMGT_APR or PATH), the
//! real llama.cpp linked into it, the bundled tiny models and their committed native GGUFs.
//! Every expectation below was checked by hand against apr 0.72.3 and llama-cpp-2 0.1.160.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `tmgt run` in `dir` with the given filters and returns (exit code, report, stderr).
fn run_in(dir: &Path, filters: &[&str]) -> (i32, Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run".to_string(),
        "--no-known-issues".into(),
        "--out".into(),
        out_dir.path().display().to_string(),
    ];
    for f in filters {
        args.push("--filter".into());
        args.push((*f).into());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("apr binary not found"),
        "these tests need the real apr: run scripts/install-apr or set TMGT_APR\n{stderr}"
    );
    let report = std::fs::read(out_dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}"));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&report).unwrap(),
        stderr,
    )
}

fn select<'a>(report: &'a Value, code: &str, model: &str) -> Vec<&'a Value> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == code && r["model"] == model)
        .collect()
}

fn one<'a>(report: &'a Value, code: &str, model: &str, prompt: &str) -> &'a Value {
    select(report, code, model)
        .into_iter()
        .find(|r| r["prompt"] == prompt)
        .unwrap_or_else(|| panic!("no {code} result for {model}/{prompt}"))
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

#[test]
fn the_three_llamacpp_suites_on_the_bundled_models() {
    let (code, report, stderr) = run_in(
        &repo_root(),
        &[
            "suite=llamacpp-text",
            "suite=cross-runtime",
            "suite=llamacpp-loads-apr-gguf",
        ],
    );
    assert_eq!(code, 1, "two findings fail the run\n{stderr}");
    let models = ["tiny-llama", "tiny-qwen2", "tiny-gpt2"];

    // llama.cpp on its own F32 conversion reproduces every oracle, prompt ids, tokens and
    // log-probabilities (GPT-2's within 7e-4: ggml's fp16 GELU table).
    for model in models {
        for check in ["LCT001", "LCT002", "LCT004"] {
            let results = select(&report, check, model);
            assert_eq!(results.len(), 4, "{check} {model}");
            for r in results {
                assert_eq!(r["verdict"], "pass", "{r}");
            }
        }
        for r in select(&report, "LCT002", model) {
            assert!(
                message(r).contains("all 32 tokens equal the oracle's"),
                "{r}"
            );
        }
    }

    // llama.cpp's own Q8_0 is token-exact everywhere; its Q4_0 flips near-ties (passing as
    // tie-flips) and, on tiny-gpt2/greeting, a 0.97-logit step: a real divergence.
    for r in report["results"].as_array().unwrap() {
        if r["code"] == "LCT003" && r["quant"] == "int8" {
            assert_eq!(r["verdict"], "pass", "{r}");
            assert!(message(r).contains("Q8_0 GGUF: all 32 tokens"), "{r}");
        }
        if r["code"] == "LCT003" && r["quant"] == "f32" {
            assert_eq!(r["verdict"], "skip", "{r}");
        }
    }
    let int4 = |model: &str, prompt: &str| -> &Value {
        select(&report, "LCT003", model)
            .into_iter()
            .find(|r| r["quant"] == "int4" && r["prompt"] == prompt)
            .unwrap()
    };
    let flip = int4("tiny-qwen2", "code");
    assert_eq!(flip["verdict"], "pass", "{flip}");
    assert!(
        message(flip).contains("tie-flip at step 1 (oracle margin 0.359"),
        "{flip}"
    );
    let diverged = int4("tiny-gpt2", "greeting");
    assert_eq!(diverged["verdict"], "fail", "{diverged}");
    assert!(
        message(diverged).contains("divergence at step 3 (oracle margin 0.974"),
        "{diverged}"
    );

    // The native GGUF through both runtimes: apr and llama.cpp agree with the oracle on all
    // 32 steps. For LLaMA and Qwen2 apr feeds a BOS (PRM002's finding), so llama.cpp is fed
    // apr's ids and both are compared with the oracle's BOS-prefixed trajectory.
    for model in models {
        for r in select(&report, "XRT002", model) {
            assert_eq!(r["verdict"], "pass", "{r}");
            assert!(
                message(r).contains("apr, llama.cpp and the oracle agree on all 32 steps"),
                "{r}"
            );
            let fed_bos = message(r).contains("Prompt: apr feeds [0, ");
            assert_eq!(fed_bos, model != "tiny-gpt2", "{r}");
        }
    }

    // apr's own GGUF of tiny-llama: both runtimes agree token for token, and the oracle is
    // the outlier: the exported file (apr's conversion) departs from the HF model.
    let steps = [
        ("arithmetic", 3),
        ("code", 4),
        ("completion", 4),
        ("greeting", 11),
    ];
    for (prompt, step) in steps {
        let r = one(&report, "XRT001", "tiny-llama", prompt);
        assert_eq!(r["verdict"], "pass", "{r}");
        assert_eq!(r["details"]["outlier"], "the oracle", "{r}");
        assert!(
            message(r).contains(&format!(
                "the oracle disagrees with apr and llama.cpp from step {step}"
            )),
            "{r}"
        );
    }
    for r in select(&report, "XRT001", "tiny-qwen2") {
        assert_eq!(r["verdict"], "pass", "{r}");
        assert!(message(r).contains("agree on all 32 steps"), "{r}");
        assert!(r["details"]["outlier"].is_null(), "{r}");
    }
    // Where llama.cpp was fed apr's prompt ids, the verdict says which runtime follows the
    // file's metadata: apr prepends a BOS the file does not ask for, and on tiny-llama's
    // `code` prompt the two also split the text apart (apr wrote pre-tokenizer `default`).
    for r in select(&report, "XRT001", "tiny-qwen2") {
        assert!(
            message(r).contains(
                "the file asks for no BOS, add_bos_token false as llama.cpp reads it: llama.cpp follows it, apr ignores it and prepends one"
            ),
            "{r}"
        );
    }
    assert!(
        message(one(&report, "XRT001", "tiny-llama", "code"))
            .contains("the two split the text differently (pre-tokenizer `default`")
    );

    // llama.cpp loads apr's LLaMA and Qwen2 GGUFs, but apr declares pre-tokenizer `default`
    // for tiny-llama, so llama.cpp splits `fibonacci` differently.
    for model in ["tiny-llama", "tiny-qwen2"] {
        let r = &select(&report, "LLA001", model)[0];
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    let split = one(&report, "LLA002", "tiny-llama", "code");
    assert_eq!(split["verdict"], "fail", "{split}");
    assert!(
        message(split).contains("HF [508, 764, 850, 1220], llama.cpp [508, 764, 8, 78, 1220]")
            && message(split).contains("declares pre-tokenizer `default`")
            && message(split).contains("writes `qwen2`"),
        "{split}"
    );
    for r in select(&report, "LLA002", "tiny-qwen2") {
        assert_eq!(r["verdict"], "pass", "{r}");
    }

    // apr 0.72.3 cannot export GPT-2 to GGUF: the checks that need that file say so.
    for code in ["XRT001", "LLA001", "LLA002"] {
        for r in select(&report, code, "tiny-gpt2") {
            assert_eq!(r["verdict"], "error", "{r}");
            assert_eq!(r["error_class"], "artifact-unavailable", "{r}");
        }
    }
}

#[test]
fn a_native_gguf_converted_from_other_model_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for link in ["models", "oracle", "oracle-ops", "prompts"] {
        std::os::unix::fs::symlink(root.join(link), dir.path().join(link)).unwrap();
    }
    let config = std::fs::read_to_string(root.join("suites.toml")).unwrap();
    std::fs::write(
        dir.path().join("suites.toml"),
        crate::common::without_ladders(&config),
    )
    .unwrap();
    let native = dir.path().join("native/tiny-qwen2");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::copy(
        root.join("native/tiny-qwen2/f32.gguf"),
        native.join("f32.gguf"),
    )
    .unwrap();
    let provenance =
        std::fs::read_to_string(root.join("native/tiny-qwen2/provenance.json")).unwrap();
    let mut json: Value = serde_json::from_str(&provenance).unwrap();
    json["model_files"]["model.safetensors"] = Value::from("0".repeat(64));
    std::fs::write(native.join("provenance.json"), json.to_string()).unwrap();

    let (_, report, stderr) = run_in(
        dir.path(),
        &["check=native-f32-llamacpp-diverges model=tiny-qwen2 prompt=code"],
    );
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{stderr}");
    let r = &results[0];
    assert_eq!(r["verdict"], "error", "{r}");
    assert_eq!(r["error_class"], "artifact-unavailable", "{r}");
    assert!(
        message(r).contains("was converted from another model.safetensors")
            && message(r).contains("make-native-gguf.py"),
        "{r}"
    );
}
