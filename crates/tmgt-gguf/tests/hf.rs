//! The HF safetensors export of tiny LLaMA GGUFs, read back with the safetensors crate.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{F16, Q4_0, Q4_1, Q8_0, Tensor, write_gguf};
use safetensors::{Dtype, SafeTensors};
use tempfile::TempDir;
use tmgt_gguf::{GgufError, GgufFile, HfWriteSummary, Value, llama_to_hf_safetensors};

const HIDDEN: u64 = 8;
const KV_DIM: u64 = 4; // 1 kv head of size 4
const FFN: u64 = 32;
const VOCAB: u64 = 10;

fn llama_metadata(arch: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String(arch.to_owned())),
        ("llama.block_count", Value::U32(2)),
        ("llama.embedding_length", Value::U32(HIDDEN as u32)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.attention.head_count_kv", Value::U32(1)),
    ]
}

/// Distinct, exactly representable values so any misplaced element shows.
fn counting(base: f32, dims: &[u64]) -> Vec<f32> {
    let n: u64 = dims.iter().product();
    (0..n).map(|k| base + k as f32).collect()
}

/// A 2-layer LLaMA (hidden 8, 2 heads, 1 KV head) in F32, with F16 `ffn_norm` and 4-bit
/// `ffn_down`.
fn tiny_llama(tied: bool) -> Vec<Tensor> {
    let mut tensors = Vec::new();
    let mut base = 0.0;
    let mut dense = |name: String, dims: &[u64]| {
        base += 1000.0;
        Tensor::f32(&name, dims, &counting(base, dims))
    };
    tensors.push(dense("token_embd.weight".to_owned(), &[HIDDEN, VOCAB]));
    for layer in 0..2 {
        let blk = |part: &str| format!("blk.{layer}.{part}.weight");
        tensors.push(dense(blk("attn_norm"), &[HIDDEN]));
        tensors.push(dense(blk("attn_q"), &[HIDDEN, HIDDEN]));
        tensors.push(dense(blk("attn_k"), &[HIDDEN, KV_DIM]));
        tensors.push(dense(blk("attn_v"), &[HIDDEN, KV_DIM]));
        tensors.push(dense(blk("attn_output"), &[HIDDEN, HIDDEN]));
        let norm = (0..HIDDEN as u16)
            .flat_map(|k| (0x3c00 + 3 * k + layer).to_le_bytes())
            .collect();
        tensors.push(Tensor::new(&blk("ffn_norm"), &[HIDDEN], F16, norm));
        tensors.push(dense(blk("ffn_gate"), &[HIDDEN, FFN]));
        tensors.push(dense(blk("ffn_up"), &[HIDDEN, FFN]));
        // One 32-element block per row, Q4_1 (d = 0.5, m = -1) in layer 0 and Q4_0 (d = -2)
        // in layer 1, with varying nibbles.
        let (kind, scales): (u32, &[u8]) = if layer == 0 {
            (Q4_1, &[0x00, 0x38, 0x00, 0xbc])
        } else {
            (Q4_0, &[0x00, 0xc0])
        };
        let down = (0..HIDDEN as u8)
            .flat_map(|row| {
                let mut block = scales.to_vec();
                block.extend((0..16u8).map(|j| j.wrapping_mul(7).wrapping_add(row + layer as u8)));
                block
            })
            .collect();
        tensors.push(Tensor::new(&blk("ffn_down"), &[FFN, HIDDEN], kind, down));
    }
    tensors.push(dense("output_norm.weight".to_owned(), &[HIDDEN]));
    if !tied {
        tensors.push(dense("output.weight".to_owned(), &[HIDDEN, VOCAB]));
    }
    tensors
}

struct Converted {
    dir: TempDir,
    gguf: GgufFile,
    summary: HfWriteSummary,
    bytes: Vec<u8>,
}

fn convert(metadata: &[(&str, Value)], tensors: &[Tensor]) -> Converted {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.gguf");
    write_gguf(&path, metadata, tensors);
    let gguf = GgufFile::open(&path).unwrap();
    let out = dir.path().join("model.safetensors");
    let summary = llama_to_hf_safetensors(&gguf, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    Converted {
        dir,
        gguf,
        summary,
        bytes,
    }
}

fn try_convert(metadata: &[(&str, Value)], tensors: &[Tensor]) -> (TempDir, GgufError) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.gguf");
    write_gguf(&path, metadata, tensors);
    let gguf = GgufFile::open(&path).unwrap();
    let err = llama_to_hf_safetensors(&gguf, &dir.path().join("model.safetensors")).unwrap_err();
    (dir, err)
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// HF rows of `hf` (row length `cols`) must be GGUF rows `order` of `gguf_values`.
fn assert_rows(hf: &[u8], gguf_values: &[f32], cols: usize, order: &[usize]) {
    let expected: Vec<f32> = order
        .iter()
        .flat_map(|&r| gguf_values[r * cols..(r + 1) * cols].iter().copied())
        .collect();
    assert_eq!(hf, le_bytes(&expected));
}

#[test]
fn tiny_llama_converts_to_hf_names_shapes_and_values() {
    let c = convert(&llama_metadata("llama"), &tiny_llama(false));
    let st = SafeTensors::deserialize(&c.bytes).unwrap();

    let mut expected: Vec<String> = vec![
        "lm_head.weight".to_owned(),
        "model.embed_tokens.weight".to_owned(),
        "model.norm.weight".to_owned(),
    ];
    for layer in 0..2 {
        for part in [
            "input_layernorm",
            "mlp.down_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "post_attention_layernorm",
            "self_attn.k_proj",
            "self_attn.o_proj",
            "self_attn.q_proj",
            "self_attn.v_proj",
        ] {
            expected.push(format!("model.layers.{layer}.{part}.weight"));
        }
    }
    expected.sort();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, expected);
    assert_eq!(
        c.summary,
        HfWriteSummary {
            tensors: 21,
            bytes: c.bytes.len() as u64
        }
    );

    // Like Python's safetensors for same-dtype tensors: data laid out in name order.
    let (_, header) = SafeTensors::read_metadata(&c.bytes).unwrap();
    assert_eq!(header.offset_keys(), expected);
    assert_eq!(
        header.metadata(),
        &Some(HashMap::from([("format".to_owned(), "pt".to_owned())]))
    );

    let hf = |name: &str| st.tensor(name).unwrap();
    let gguf_values = |name: &str| c.gguf.read_f32(c.gguf.tensor(name).unwrap()).unwrap();
    let shapes = [
        (
            "model.embed_tokens.weight",
            "token_embd.weight",
            vec![10, 8],
        ),
        ("lm_head.weight", "output.weight", vec![10, 8]),
        ("model.norm.weight", "output_norm.weight", vec![8]),
        (
            "model.layers.1.input_layernorm.weight",
            "blk.1.attn_norm.weight",
            vec![8],
        ),
        (
            "model.layers.1.post_attention_layernorm.weight",
            "blk.1.ffn_norm.weight",
            vec![8],
        ),
        (
            "model.layers.0.self_attn.v_proj.weight",
            "blk.0.attn_v.weight",
            vec![4, 8],
        ),
        (
            "model.layers.0.self_attn.o_proj.weight",
            "blk.0.attn_output.weight",
            vec![8, 8],
        ),
        (
            "model.layers.1.mlp.gate_proj.weight",
            "blk.1.ffn_gate.weight",
            vec![32, 8],
        ),
        (
            "model.layers.1.mlp.up_proj.weight",
            "blk.1.ffn_up.weight",
            vec![32, 8],
        ),
        (
            "model.layers.0.mlp.down_proj.weight",
            "blk.0.ffn_down.weight",
            vec![8, 32],
        ),
        (
            "model.layers.1.mlp.down_proj.weight",
            "blk.1.ffn_down.weight",
            vec![8, 32],
        ),
    ];
    for (hf_name, gguf_name, shape) in shapes {
        let t = hf(hf_name);
        assert_eq!(t.dtype(), Dtype::F32, "{hf_name}");
        assert_eq!(t.shape(), shape.as_slice(), "{hf_name}");
        assert_eq!(
            t.data(),
            le_bytes(&gguf_values(gguf_name)),
            "{hf_name} copies {gguf_name}"
        );
    }

    // q: 2 heads, dim 2: HF row h*4 + j*2 + i is GGUF row h*4 + i*2 + j.
    for layer in 0..2 {
        let q = hf(&format!("model.layers.{layer}.self_attn.q_proj.weight"));
        assert_eq!(q.shape(), [8, 8]);
        let q_rows = gguf_values(&format!("blk.{layer}.attn_q.weight"));
        assert_rows(q.data(), &q_rows, 8, &[0, 2, 1, 3, 4, 6, 5, 7]);
        // k: 1 KV head, dim 2.
        let k = hf(&format!("model.layers.{layer}.self_attn.k_proj.weight"));
        assert_eq!(k.shape(), [4, 8]);
        let k_rows = gguf_values(&format!("blk.{layer}.attn_k.weight"));
        assert_rows(k.data(), &k_rows, 8, &[0, 2, 1, 3]);
    }

    assert_eq!(
        files_in(c.dir.path()),
        ["model.gguf", "model.safetensors"],
        "no temp file left"
    );
}

#[test]
fn a_tied_model_has_no_lm_head() {
    let c = convert(&llama_metadata("llama"), &tiny_llama(true));
    let st = SafeTensors::deserialize(&c.bytes).unwrap();
    assert_eq!(st.len(), 20);
    assert!(st.tensor("lm_head.weight").is_err());
    assert!(st.tensor("model.embed_tokens.weight").is_ok());
    assert_eq!(c.summary.tensors, 20);
}

#[test]
fn quantized_q_and_k_rows_move_whole() {
    // hidden 32, 4 heads of 8 (dim 4), 2 KV heads: one Q8_0 block per row.
    let rows = |n: u8| -> Vec<u8> {
        (0..n)
            .flat_map(|r| {
                let mut block = vec![0x00, 0x3c]; // d = 1
                block.extend((0..32u8).map(|k| r.wrapping_mul(32).wrapping_add(k)));
                block
            })
            .collect()
    };
    let mut metadata = llama_metadata("llama");
    metadata[3].1 = Value::U64(4);
    metadata[4].1 = Value::I32(2);
    let tensors = [
        Tensor::new("blk.0.attn_q.weight", &[32, 32], Q8_0, rows(32)),
        Tensor::new("blk.0.attn_k.weight", &[32, 16], Q8_0, rows(16)),
    ];
    let c = convert(&metadata, &tensors);
    let st = SafeTensors::deserialize(&c.bytes).unwrap();

    for (hf_name, gguf_name, heads, n_rows) in [
        (
            "model.layers.0.self_attn.q_proj.weight",
            "blk.0.attn_q.weight",
            4,
            32,
        ),
        (
            "model.layers.0.self_attn.k_proj.weight",
            "blk.0.attn_k.weight",
            2,
            16,
        ),
    ] {
        let dim = n_rows / heads / 2;
        let mut order = Vec::new();
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..dim {
                    order.push(h * 2 * dim + i * 2 + j);
                }
            }
        }
        let t = st.tensor(hf_name).unwrap();
        assert_eq!(t.shape(), [n_rows, 32]);
        let gguf_rows = c.gguf.read_f32(c.gguf.tensor(gguf_name).unwrap()).unwrap();
        assert_rows(t.data(), &gguf_rows, 32, &order);
    }
}

#[test]
fn an_unknown_tensor_is_refused_and_nothing_is_written() {
    let mut tensors = tiny_llama(true);
    tensors.push(Tensor::f32("rope_freqs.weight", &[2], &[1.0, 2.0]));
    let (dir, err) = try_convert(&llama_metadata("llama"), &tensors);
    assert!(
        matches!(&err, GgufError::UnknownTensor { tensor, .. } if tensor == "rope_freqs.weight"),
        "{err}"
    );
    assert_eq!(files_in(dir.path()), ["model.gguf"]);

    let (_dir, err) = try_convert(
        &llama_metadata("llama"),
        &[Tensor::f32("blk.01.attn_norm.weight", &[1], &[0.0])],
    );
    assert!(matches!(err, GgufError::UnknownTensor { .. }), "{err}");
}

#[test]
fn other_architectures_are_refused_by_name() {
    let (_dir, err) = try_convert(&llama_metadata("qwen2"), &tiny_llama(true));
    assert!(
        matches!(&err, GgufError::NotLlama { architecture, .. } if architecture == "qwen2"),
        "{err}"
    );
    assert!(err.to_string().contains("qwen2"), "{err}");

    let (_dir, err) = try_convert(&[], &tiny_llama(true));
    assert!(
        matches!(
            err,
            GgufError::MissingMetadata {
                key: "general.architecture",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn heads_that_do_not_divide_the_rows_are_refused() {
    let mut metadata = llama_metadata("llama");
    metadata[3].1 = Value::U32(3);
    let (dir, err) = try_convert(&metadata, &tiny_llama(true));
    assert!(
        matches!(&err, GgufError::HeadSplit { tensor, rows: 8, heads: 3, .. } if tensor == "blk.0.attn_q.weight"),
        "{err}"
    );
    assert_eq!(files_in(dir.path()), ["model.gguf"]);

    metadata.remove(3);
    let (_dir, err) = try_convert(&metadata, &tiny_llama(true));
    assert!(
        matches!(
            err,
            GgufError::MissingMetadata {
                key: "llama.attention.head_count",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_existing_output_is_replaced_whole() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.gguf");
    write_gguf(&path, &llama_metadata("llama"), &tiny_llama(true));
    let gguf = GgufFile::open(&path).unwrap();
    let out = dir.path().join("out.safetensors");
    std::fs::write(&out, b"stale").unwrap();
    let summary = llama_to_hf_safetensors(&gguf, &out).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), summary.bytes);
    SafeTensors::deserialize(&std::fs::read(&out).unwrap()).unwrap();
}

#[test]
fn a_read_failure_while_writing_is_reported_and_leaves_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.gguf");
    write_gguf(&path, &llama_metadata("llama"), &tiny_llama(true));
    let gguf = GgufFile::open(&path).unwrap();
    // Shrink the file under the parsed header, so a tensor read fails mid-write.
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let err = llama_to_hf_safetensors(&gguf, &dir.path().join("model.safetensors")).unwrap_err();
    assert!(matches!(err, GgufError::BadTensor { .. }), "{err}");
    assert_eq!(files_in(dir.path()), ["model.gguf"]);
}
