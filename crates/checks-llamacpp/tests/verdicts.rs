//! The llama.cpp checks' verdicts on the committed native GGUFs, in process, without apr.

use checks_llamacpp as _;
use tmgt_check::{ArtifactKind, NativeGguf, Status};
use tmgt_testkit::{Replay, repo_root};

const NATIVE: ArtifactKind = ArtifactKind::Native(NativeGguf::F32);

#[test]
fn llama_cpp_encodes_the_prompt_as_the_hf_tokenizer_does_on_its_own_gguf() {
    let native = repo_root().join("native/tiny-qwen2/f32.gguf");
    let replay = Replay::bundled("tiny-qwen2")
        .prompt("code")
        .artifact_at(NATIVE, &native);
    let verdict = replay.run("LCT001").unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert!(verdict.evidence.count > 0);
    assert!(
        replay.asked().is_empty(),
        "llama.cpp runs in process: no apr call"
    );
}

#[test]
fn ids_of_another_text_than_the_oracle_s_fail() {
    let native = repo_root().join("native/tiny-qwen2/f32.gguf");
    let verdict = Replay::bundled("tiny-qwen2")
        .prompt("code")
        .prompt_text("class Stack:")
        .artifact_at(NATIVE, &native)
        .run("LCT001")
        .unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
}

#[test]
fn a_gguf_llama_cpp_cannot_load_is_an_error_naming_the_file() {
    let not_gguf = repo_root().join("models/tiny-qwen2/config.json");
    let error = Replay::bundled("tiny-qwen2")
        .prompt("code")
        .artifact_at(NATIVE, &not_gguf)
        .run("LCT001")
        .unwrap_err();
    assert!(error.to_string().contains("config.json"), "{error}");
}
