//! Loading rules: reference oracles load with their two fields, tmgt oracles must be
//! internally consistent, and an oracle refuses a model whose files differ from its record.

use std::path::Path;
use tmgt_oracle::{OracleError, load, sha256_hex};

fn write(dir: &Path, name: &str, json: &serde_json::Value) {
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(json).unwrap(),
    )
    .unwrap();
}

fn step(token: u32, margin: f64) -> serde_json::Value {
    serde_json::json!({ "token_id": token, "logprob": -0.1, "margin": margin, "top": [{ "token_id": token, "logprob": -0.1 }] })
}

fn tmgt_oracle(model_sha: &str) -> serde_json::Value {
    serde_json::json!({
        "model": "tmgt/tiny", "model_slug": "tiny", "prompt": "Hi", "tokens": [5, 6], "text": " a b",
        "max_new_tokens": 2, "schema_version": 1, "prompt_token_ids": [1, 2], "top_k": 1,
        "steps": [step(5, 2.0), step(6, 0.1)],
        "bos": { "bos_token_id": 0, "prompt_token_ids": [0, 1, 2], "tokens": [7, 6], "text": "x", "steps": [step(7, 1.0), step(6, 3.0)] },
        "provenance": { "model_files": { "model.safetensors": model_sha } }
    })
}

#[test]
fn a_reference_oracle_loads_without_the_extra_fields() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../oracle/smollm-135m");
    let oracle = load(&seed, "arithmetic").unwrap();
    assert_eq!(oracle.tokens.len(), 32);
    assert!(matches!(
        oracle.plain(),
        Err(OracleError::Missing {
            field: "prompt_token_ids",
            ..
        })
    ));
    assert!(oracle.with_bos().is_err());
}

#[test]
fn trajectories_are_found_by_prompt_ids() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"weights").unwrap();
    write(dir.path(), "p", &tmgt_oracle(&sha256_hex(b"weights")));
    let oracle = load(dir.path(), "p").unwrap();
    assert_eq!(
        oracle.trajectory_for_prompt(&[1, 2]).unwrap().tokens,
        &[5, 6]
    );
    let bos = oracle.trajectory_for_prompt(&[0, 1, 2]).unwrap();
    assert_eq!((bos.bos, bos.tokens), (Some(0), &[7u32, 6][..]));
    assert!(oracle.trajectory_for_prompt(&[9]).is_none());
    assert_eq!(oracle.plain().unwrap().margin(1), Some(0.1));
    oracle.verify_model(dir.path()).unwrap();
}

#[test]
fn a_different_model_file_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"other weights").unwrap();
    write(dir.path(), "p", &tmgt_oracle(&sha256_hex(b"weights")));
    let err = load(dir.path(), "p")
        .unwrap()
        .verify_model(dir.path())
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, OracleError::ModelMismatch { .. }));
    assert!(
        message.contains("p.json") && message.contains("model.safetensors"),
        "{message}"
    );
}

#[test]
fn steps_that_disagree_with_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = tmgt_oracle("x");
    json["steps"][1]["token_id"] = 99.into();
    write(dir.path(), "p", &json);
    assert!(matches!(
        load(dir.path(), "p"),
        Err(OracleError::Inconsistent { .. })
    ));
}

#[test]
fn missing_and_malformed_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load(dir.path(), "nope").unwrap_err().to_string();
    assert!(missing.contains("nope.json"), "{missing}");
    std::fs::write(dir.path().join("bad.json"), b"{ not json").unwrap();
    let bad = load(dir.path(), "bad").unwrap_err().to_string();
    assert!(
        bad.contains("bad.json") && bad.contains("not valid oracle JSON"),
        "{bad}"
    );
}

#[test]
fn a_rung_s_oracle_stands_for_the_file_whose_sha256_it_records() {
    let dir = tempfile::tempdir().unwrap();
    let rung = dir.path().join("tiny@q4_k_m.gguf");
    let mut json = tmgt_oracle(&sha256_hex(b"weights"));
    write(dir.path(), "unkeyed", &json);
    json["provenance"]["source_gguf_sha256"] = sha256_hex(b"the rung").into();
    write(dir.path(), "p", &json);
    let oracle = load(dir.path(), "p").unwrap();
    oracle
        .verify_gguf(&rung, &sha256_hex(b"the rung"), "tiny@q4_k_m")
        .unwrap();
    let err = oracle
        .verify_gguf(&rung, &sha256_hex(b"remade"), "tiny@q4_k_m")
        .unwrap_err();
    assert!(matches!(err, OracleError::FileMismatch { .. }));
    assert!(
        err.to_string()
            .contains("remake the oracles from this file with `tmgt oracle tiny@q4_k_m`"),
        "{err}"
    );
    let unkeyed = load(dir.path(), "unkeyed")
        .unwrap()
        .verify_gguf(&rung, &sha256_hex(b"the rung"), "tiny@q4_k_m")
        .unwrap_err();
    assert!(matches!(unkeyed, OracleError::Unkeyed { .. }), "{unkeyed}");
}
