//! An oracle's self-check on the bundled models: llama.cpp's own GGUF of each model against an
//! HF folder standing in for what transformers derived from it, with conversion losses planted
//! in the folder and policy changes planted in the file.

use checks_metadata::{Standing, vouch_derived_folder};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tmgt_gguf::{GgufFile, Value as G};
use tmgt_testkit::repo_root;

/// A scratch copy of a bundled model's folder, its config.json edited by `edit`.
fn derived_folder(
    model: &str,
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> PathBuf {
    let folder = dir.join(model);
    std::fs::create_dir_all(&folder).unwrap();
    for entry in std::fs::read_dir(repo_root().join("models").join(model)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
    }
    let config_path = folder.join("config.json");
    let mut config: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    folder
}

fn native(model: &str) -> PathBuf {
    repo_root().join("native").join(model).join("f32.gguf")
}

fn config(folder: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("config.json")).unwrap()).unwrap()
}

#[test]
fn a_faithful_folder_agrees_on_every_behaviour_field() {
    let dir = tempfile::tempdir().unwrap();
    for model in tmgt_testkit::bundled_models() {
        let folder = derived_folder(model, dir.path(), |_| {});
        let vouching = vouch_derived_folder(&folder, &native(model)).unwrap();
        let differing: Vec<_> = vouching.disagreements().collect();
        assert!(differing.is_empty(), "{model}: {differing:?}");
        assert!(
            vouching.restored.is_empty(),
            "{model}: {:?}",
            vouching.restored
        );
        assert!(vouching.compared() >= 13, "{model}: {:?}", vouching.fields);
        assert_eq!(vouching.file_adds_bos, Some(false), "{model}");
    }
}

#[test]
fn a_rope_base_lost_in_conversion_is_restored_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // transformers' default base (10000) where the file says 1e6.
    let folder = derived_folder("tiny-qwen2", dir.path(), |c| {
        c.remove("rope_theta");
        c["rope_parameters"]["rope_theta"] = Value::from(10_000.0);
    });
    let vouching = vouch_derived_folder(&folder, &native("tiny-qwen2")).unwrap();
    assert_eq!(vouching.restored.len(), 1, "{:?}", vouching.restored);
    assert!(
        vouching.restored[0].contains("`rope_theta` null -> 1000000.0")
            && vouching.restored[0].contains("qwen2.rope.freq_base"),
        "{}",
        vouching.restored[0]
    );
    assert_eq!(vouching.disagreements().count(), 0, "{:?}", vouching.fields);
    let config = config(&folder);
    assert_eq!(config["rope_theta"], 1e6);
    assert_eq!(config["rope_parameters"]["rope_theta"], 1e6);
}

#[test]
fn gpt2s_context_that_transformers_reads_from_another_key_is_restored() {
    // transformers maps gpt2.context_length to `n_ctx`, so the derived `n_positions` is its
    // default 1024 where the file says 512.
    let dir = tempfile::tempdir().unwrap();
    let folder = derived_folder("tiny-gpt2", dir.path(), |c| {
        c.insert("n_positions".into(), Value::from(1024));
    });
    let vouching = vouch_derived_folder(&folder, &native("tiny-gpt2")).unwrap();
    assert_eq!(vouching.restored.len(), 1, "{:?}", vouching.restored);
    assert!(vouching.restored[0].starts_with("config.json `n_positions` 1024 -> 512"));
    assert_eq!(config(&folder)["n_positions"], 512);
    assert_eq!(vouching.disagreements().count(), 0);
}

#[test]
fn a_head_count_the_weights_decide_is_a_disagreement_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let folder = derived_folder("tiny-llama", dir.path(), |c| {
        c.insert("num_key_value_heads".into(), Value::from(4));
    });
    let vouching = vouch_derived_folder(&folder, &native("tiny-llama")).unwrap();
    let differing: Vec<_> = vouching.disagreements().map(|f| f.field.as_str()).collect();
    assert_eq!(differing, ["KvHeads"], "{:?}", vouching.fields);
    assert!(vouching.restored.is_empty());
    assert_eq!(config(&folder)["num_key_value_heads"], 4);
}

#[test]
fn a_file_that_adds_bos_is_a_policy_the_oracle_follows_not_a_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("adds-bos.gguf");
    let original = GgufFile::open(&native("tiny-llama")).unwrap();
    tmgt_gguf::copy_with_metadata(&original, &gguf, |m| {
        m.retain(|(k, _)| k != "tokenizer.ggml.add_bos_token");
        m.push(("tokenizer.ggml.add_bos_token".into(), G::Bool(true)));
    })
    .unwrap();
    let folder = derived_folder("tiny-llama", dir.path(), |_| {});
    let vouching = vouch_derived_folder(&folder, &gguf).unwrap();
    assert_eq!(vouching.file_adds_bos, Some(true));
    let add_bos = vouching
        .fields
        .iter()
        .find(|f| f.field == "AddBos")
        .unwrap();
    assert_eq!(add_bos.standing, Standing::Differs, "{add_bos:?}");
    assert_eq!(vouching.disagreements().count(), 0);
}

#[test]
fn a_sliding_window_lost_in_conversion_is_restored_and_a_soft_cap_held_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A derived config without Gemma 2's window (it would attend to every position) and with
    // another final soft-cap than the file's.
    let folder = derived_folder("tiny-gemma2", dir.path(), |c| {
        c.insert("sliding_window".into(), Value::Null);
        c.insert("final_logit_softcapping".into(), Value::from(15.0));
    });
    let vouching = vouch_derived_folder(&folder, &native("tiny-gemma2")).unwrap();
    let restored = vouching.restored.join("; ");
    assert!(
        restored.contains("`sliding_window` null -> 4096")
            && restored.contains("gemma2.attention.sliding_window"),
        "{restored}"
    );
    assert!(
        restored.contains("`final_logit_softcapping` 15.0 -> 30.0"),
        "{restored}"
    );
    assert_eq!(vouching.disagreements().count(), 0, "{:?}", vouching.fields);
    let config = config(&folder);
    assert_eq!(config["sliding_window"], 4096);
    assert_eq!(config["final_logit_softcapping"], 30.0);
}

#[test]
fn gemma3s_local_rope_base_is_its_own_field() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("one-base.gguf");
    let original = GgufFile::open(&native("tiny-gemma3")).unwrap();
    // A file with the global base for every layer: the local layers' base is lost.
    tmgt_gguf::copy_without_keys(&original, &gguf, &["gemma3.rope.freq_base_swa"]).unwrap();
    let folder = derived_folder("tiny-gemma3", dir.path(), |_| {});
    let vouching = vouch_derived_folder(&folder, &gguf).unwrap();
    let differing: Vec<_> = vouching.disagreements().map(|f| f.field.as_str()).collect();
    assert_eq!(differing, ["RopeThetaLocal"], "{:?}", vouching.fields);
}

#[test]
fn a_rope_scaling_the_derived_config_lacks_is_a_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("linear.gguf");
    let original = GgufFile::open(&native("tiny-llama")).unwrap();
    // Linear scaling by 8 in the file; transformers' GGUF conversion of a LLaMA drops it.
    tmgt_gguf::copy_with_metadata(&original, &gguf, |m| {
        m.push(("llama.rope.scaling.type".into(), G::String("linear".into())));
        m.push(("llama.rope.scaling.factor".into(), G::F32(8.0)));
    })
    .unwrap();
    let folder = derived_folder("tiny-llama", dir.path(), |_| {});
    let vouching = vouch_derived_folder(&folder, &gguf).unwrap();
    let differing: Vec<_> = vouching.disagreements().map(|f| f.field.as_str()).collect();
    assert_eq!(differing, ["RopeScaling"], "{:?}", vouching.fields);

    // The other way round: a config that scales where the file does not.
    let scaled = derived_folder("tiny-qwen2", &dir.path().join("scaled"), |c| {
        c["rope_parameters"]["rope_type"] = Value::from("yarn");
        c["rope_parameters"]["factor"] = Value::from(4.0);
    });
    let vouching = vouch_derived_folder(&scaled, &native("tiny-qwen2")).unwrap();
    let differing: Vec<_> = vouching.disagreements().map(|f| f.field.as_str()).collect();
    assert_eq!(
        differing,
        ["RopeScaling", "RopeScalingFactor"],
        "{:?}",
        vouching.fields
    );
}
