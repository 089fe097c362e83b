//! A copy without some metadata keys keeps every other key and every tensor as it was.

mod common;

use common::{Q4_1, Tensor, write_gguf};
use tempfile::TempDir;
use tmgt_gguf::{GgufFile, Value, copy_without_keys};

#[test]
fn the_copy_drops_only_the_named_keys_and_keeps_the_tensors() {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("model.gguf");
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        (
            "tokenizer.chat_template",
            Value::String("{{ messages }}".into()),
        ),
        (
            "tokenizer.ggml.tokens",
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
        ),
        ("general.alignment", Value::U32(64)),
    ];
    let mut q4_1 = vec![0u8; 20];
    q4_1[0..2].copy_from_slice(&0x3c00u16.to_le_bytes());
    q4_1[4] = 0x21;
    let tensors = [
        Tensor::f32("norm.weight", &[3], &[1.0, -2.0, 0.5]),
        Tensor::new("blk.0.attn_q.weight", &[32], Q4_1, q4_1),
    ];
    write_gguf(&src, &metadata, &tensors);
    let original = GgufFile::open(&src).unwrap();

    let out = dir.path().join("copy.gguf");
    let bytes = copy_without_keys(&original, &out, &["tokenizer.chat_template"]).unwrap();
    assert_eq!(bytes, std::fs::metadata(&out).unwrap().len());
    let copy = GgufFile::open(&out).unwrap();
    let keys: Vec<&str> = copy.metadata().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "general.architecture",
            "tokenizer.ggml.tokens",
            "general.alignment"
        ]
    );
    assert_eq!(
        copy.get("tokenizer.ggml.tokens"),
        original.get("tokenizer.ggml.tokens")
    );
    assert_eq!(copy.tensors(), original.tensors());
    for (a, b) in copy.tensors().iter().zip(original.tensors()) {
        assert_eq!(copy.read_f32(a).unwrap(), original.read_f32(b).unwrap());
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no partial file is left beside the copy"
    );
}

#[test]
fn a_copy_into_a_missing_folder_fails_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("model.gguf");
    write_gguf(&src, &[], &[Tensor::f32("x", &[1], &[1.0])]);
    let gguf = GgufFile::open(&src).unwrap();
    let out = dir.path().join("missing").join("copy.gguf");
    assert!(copy_without_keys(&gguf, &out, &[]).is_err());
    assert!(!out.exists());
}
