//! Each kind of damage, planted into a copy of a faithful file (llama.cpp's own F32 GGUFs and
//! the real apr's imports), is found in the planted tensors only and named with its kind: the
//! classifier's test against known causes.

mod common;
#[path = "common/plant.rs"]
mod plant;

use checks_structure::source::SourceModel;
use checks_weights::classify::Departure;
use checks_weights::judge::FileJudgement;
use checks_weights::map::rope_rows;
use common::{apr_import, judge, root};
use plant::{Located, copy, f16_times_pow2, locate, read_bytes, swap, write_bytes, write_f32};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A copy of llama.cpp's F32 conversion of `model` in a fresh tempdir, checked faithful first.
fn native_copy(model: &str, name: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let file = copy(
        &root().join("native").join(model).join("f32.gguf"),
        dir.path(),
        name,
    );
    assert_faithful(model, &file);
    (dir, file)
}

fn assert_faithful(model: &str, file: &Path) {
    let j = judge(model, file);
    assert!(j.faithful(), "{model} {}: {}", file.display(), j.summary());
    assert!(j.departing.is_empty());
    assert_eq!(j.tensors_compared, j.expected);
}

/// Judges `file` and checks that exactly the `planted` tensors depart, every expected tensor
/// is compared, nothing is missing, extra or reshaped, and the summary says each departure.
fn judge_planted(model: &str, file: &Path, planted: &[&str]) -> FileJudgement {
    let j = judge(model, file);
    let mut got: Vec<&str> = j.departing.iter().map(|d| d.tensor.as_str()).collect();
    got.sort_unstable();
    let mut want = planted.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{}", j.summary());
    assert_eq!(j.departing.len(), planted.len());
    assert_eq!(j.tensors_compared, j.expected);
    assert_eq!(j.agreeing + planted.len(), j.expected);
    assert!(
        j.missing.is_empty() && j.extra.is_empty() && j.reshaped.is_empty(),
        "{}",
        j.summary()
    );
    let summary = j.summary();
    assert!(
        summary.starts_with(&format!(
            "{} of {} tensors depart",
            planted.len(),
            j.expected
        )),
        "{summary}"
    );
    for d in &j.departing {
        let said = format!("{} {}", d.tensor, d.departure);
        assert!(summary.contains(&said), "`{summary}` lacks `{said}`");
    }
    j
}

/// The departure of `tensor`.
fn departure<'a>(j: &'a FileJudgement, tensor: &str) -> &'a Departure {
    &j.departing
        .iter()
        .find(|d| d.tensor == tensor)
        .unwrap_or_else(|| panic!("{tensor} does not depart: {}", j.summary()))
        .departure
}

fn says(j: &FileJudgement, phrase: &str) {
    let summary = j.summary();
    assert!(summary.contains(phrase), "`{summary}` lacks `{phrase}`");
}

/// `t`'s values with `f` applied to each.
fn mapped(t: &Located, f: impl Fn(f32) -> f32) -> Vec<f32> {
    t.values.iter().map(|&v| f(v)).collect()
}

#[test]
fn gguf_gate_and_up_swapped_are_each_named_swapped_with_the_other() {
    let (_dir, file) = native_copy("tiny-llama", "swapped.gguf");
    swap(&file, "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight");
    let j = judge_planted(
        "tiny-llama",
        &file,
        &["blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"],
    );
    assert_eq!(
        departure(&j, "blk.0.ffn_gate.weight"),
        &Departure::EqualsOther {
            other: "blk.0.ffn_up.weight".into(),
            swapped: true
        }
    );
    assert_eq!(
        departure(&j, "blk.0.ffn_up.weight"),
        &Departure::EqualsOther {
            other: "blk.0.ffn_gate.weight".into(),
            swapped: true
        }
    );
    says(
        &j,
        "blk.0.ffn_gate.weight is swapped with blk.0.ffn_up.weight",
    );
}

#[test]
fn gguf_transposed_output_projection_is_named_transposed() {
    let (_dir, file) = native_copy("tiny-llama", "transposed.gguf");
    let t = locate(&file, "blk.1.attn_output.weight");
    assert_eq!(t.shape, [64, 64]);
    write_f32(
        &file,
        &t,
        &checks_weights::map::transpose(&t.values, &t.shape),
    );
    let j = judge_planted("tiny-llama", &file, &["blk.1.attn_output.weight"]);
    assert_eq!(
        departure(&j, "blk.1.attn_output.weight"),
        &Departure::Transposed
    );
    says(&j, "transposed");
}

#[test]
fn gguf_norm_plus_one_is_named_offset_by_one() {
    let (_dir, file) = native_copy("tiny-llama", "offset.gguf");
    let t = locate(&file, "blk.0.attn_norm.weight");
    write_f32(&file, &t, &mapped(&t, |v| v + 1.0));
    let j = judge_planted("tiny-llama", &file, &["blk.0.attn_norm.weight"]);
    match departure(&j, "blk.0.attn_norm.weight") {
        Departure::Offset { by } => assert!((by - 1.0).abs() < 1e-6, "{by}"),
        other => panic!("offset expected, got {other:?}"),
    }
    says(&j, "blk.0.attn_norm.weight equals the source plus 1.0000");
}

#[test]
fn gguf_embedding_times_sqrt_hidden_is_named_scaled_by_8() {
    let (_dir, file) = native_copy("tiny-llama", "scaled.gguf");
    let t = locate(&file, "token_embd.weight");
    assert_eq!(t.shape, [2048, 64]);
    write_f32(&file, &t, &mapped(&t, |v| v * 8.0));
    let j = judge_planted("tiny-llama", &file, &["token_embd.weight"]);
    match departure(&j, "token_embd.weight") {
        Departure::Scaled { factor } => assert!((factor - 8.0).abs() < 1e-9, "{factor}"),
        other => panic!("scaled expected, got {other:?}"),
    }
    says(&j, "token_embd.weight equals the source scaled by 8.0000");
}

#[test]
fn gguf_output_head_holding_the_embedding_is_named_with_it() {
    let (_dir, file) = native_copy("tiny-llama", "tied.gguf");
    let embd = locate(&file, "token_embd.weight");
    let head = locate(&file, "output.weight");
    assert_eq!(head.shape, embd.shape);
    write_f32(&file, &head, &embd.values);
    let j = judge_planted("tiny-llama", &file, &["output.weight"]);
    assert_eq!(
        departure(&j, "output.weight"),
        &Departure::EqualsOther {
            other: "token_embd.weight".into(),
            swapped: false
        }
    );
    says(&j, "output.weight holds token_embd.weight's values");
}

#[test]
fn gguf_q_without_the_rope_permutation_is_named_rope_missing() {
    let (_dir, file) = native_copy("tiny-llama", "rope-missing.gguf");
    let q = locate(&file, "blk.0.attn_q.weight");
    assert_eq!(q.shape, [64, 64]);
    // llama.cpp's order undone: the HF rows, as a converter that forgot the permutation writes.
    write_f32(&file, &q, &rope_rows(&q.values, &q.shape, 4, true));
    let j = judge_planted("tiny-llama", &file, &["blk.0.attn_q.weight"]);
    assert_eq!(
        departure(&j, "blk.0.attn_q.weight"),
        &Departure::RopeMissing
    );
    says(&j, "without llama.cpp's RoPE row permutation");
}

#[test]
fn gguf_k_permuted_twice_is_named_rope_twice() {
    let (_dir, file) = native_copy("tiny-llama", "rope-twice.gguf");
    let k = locate(&file, "blk.0.attn_k.weight");
    assert_eq!(k.shape, [32, 64], "2 KV heads of 16");
    write_f32(&file, &k, &rope_rows(&k.values, &k.shape, 2, false));
    let j = judge_planted("tiny-llama", &file, &["blk.0.attn_k.weight"]);
    assert_eq!(departure(&j, "blk.0.attn_k.weight"), &Departure::RopeTwice);
    says(&j, "RoPE row permutation applied twice");
}

#[test]
fn gguf_two_embedding_rows_swapped_are_named_rows_permuted() {
    let (_dir, file) = native_copy("tiny-llama", "rows-permuted.gguf");
    let t = locate(&file, "token_embd.weight");
    let width = t.shape[1];
    let mut v = t.values.clone();
    v[3 * width..4 * width].copy_from_slice(t.row(17));
    v[17 * width..18 * width].copy_from_slice(t.row(3));
    write_f32(&file, &t, &v);
    let j = judge_planted("tiny-llama", &file, &["token_embd.weight"]);
    assert_eq!(
        departure(&j, "token_embd.weight"),
        &Departure::RowsPermuted {
            rows: vec![(3, 17), (17, 3)]
        }
    );
    says(&j, "token_embd.weight has 2 rows permuted (3<-17, 17<-3)");
}

#[test]
fn gguf_two_rows_overwritten_are_named_rows_changed() {
    let (_dir, file) = native_copy("tiny-llama", "rows-changed.gguf");
    let t = locate(&file, "blk.0.ffn_down.weight");
    assert_eq!(t.shape, [64, 128]);
    let width = t.shape[1];
    let mut v = t.values.clone();
    for r in [5, 9] {
        for (c, x) in v[r * width..(r + 1) * width].iter_mut().enumerate() {
            *x = 0.25 + (r * 1000 + c) as f32 * 1e-3;
        }
    }
    write_f32(&file, &t, &v);
    let j = judge_planted("tiny-llama", &file, &["blk.0.ffn_down.weight"]);
    assert_eq!(
        departure(&j, "blk.0.ffn_down.weight"),
        &Departure::RowsChanged {
            rows: vec![5, 9],
            of: 64
        }
    );
    says(&j, "blk.0.ffn_down.weight has 2 of 64 rows changed (5, 9)");
}

#[test]
fn gguf_zeroed_tensor_is_named_zeroed() {
    let (_dir, file) = native_copy("tiny-llama", "zeroed.gguf");
    let t = locate(&file, "blk.1.ffn_up.weight");
    write_f32(&file, &t, &vec![0.0; t.values.len()]);
    let j = judge_planted("tiny-llama", &file, &["blk.1.ffn_up.weight"]);
    assert_eq!(departure(&j, "blk.1.ffn_up.weight"), &Departure::Zeroed);
    says(&j, "blk.1.ffn_up.weight zeroed");
}

#[test]
fn gguf_one_nan_is_named_non_finite_at_its_index() {
    let (_dir, file) = native_copy("tiny-llama", "nan.gguf");
    let t = locate(&file, "blk.0.attn_v.weight");
    let mut v = t.values.clone();
    v[100] = f32::NAN;
    write_f32(&file, &t, &v);
    let j = judge_planted("tiny-llama", &file, &["blk.0.attn_v.weight"]);
    assert_eq!(
        departure(&j, "blk.0.attn_v.weight"),
        &Departure::NonFinite {
            nan: 1,
            inf: 0,
            first: 100
        }
    );
    says(&j, "1 NaN and 0 infinite values, the first at 100");
}

#[test]
fn gguf_qwen2_zeroed_bias_is_named_zeroed() {
    let (_dir, file) = native_copy("tiny-qwen2", "zeroed-bias.gguf");
    let t = locate(&file, "blk.0.attn_q.bias");
    assert!(
        t.values.iter().any(|&v| v != 0.0),
        "the source bias is not zero"
    );
    write_f32(&file, &t, &vec![0.0; t.values.len()]);
    let j = judge_planted("tiny-qwen2", &file, &["blk.0.attn_q.bias"]);
    assert_eq!(departure(&j, "blk.0.attn_q.bias"), &Departure::Zeroed);
    says(&j, "blk.0.attn_q.bias zeroed");
}

#[test]
fn apr_f32_swap_and_head_from_embedding_are_named_with_their_origin() {
    let dir = tempfile::tempdir().expect("tmp");
    let imported = apr_import("tiny-llama", "f32", dir.path());
    assert_faithful("tiny-llama", &imported);

    let swapped = copy(&imported, dir.path(), "swapped.apr");
    let (gate, up) = (
        "model.layers.1.mlp.gate_proj.weight",
        "model.layers.1.mlp.up_proj.weight",
    );
    swap(&swapped, gate, up);
    let j = judge_planted("tiny-llama", &swapped, &[gate, up]);
    for (a, b) in [(gate, up), (up, gate)] {
        assert_eq!(
            departure(&j, a),
            &Departure::EqualsOther {
                other: b.into(),
                swapped: true
            }
        );
    }
    says(&j, &format!("{gate} is swapped with {up}"));

    let tied = copy(&imported, dir.path(), "tied.apr");
    let embed = locate(&tied, "model.embed_tokens.weight");
    let head = locate(&tied, "lm_head.weight");
    write_f32(&tied, &head, &embed.values);
    let j = judge_planted("tiny-llama", &tied, &["lm_head.weight"]);
    assert_eq!(
        departure(&j, "lm_head.weight"),
        &Departure::EqualsOther {
            other: "model.embed_tokens.weight".into(),
            swapped: false
        }
    );
    says(
        &j,
        "lm_head.weight holds model.embed_tokens.weight's values",
    );
}

#[test]
fn apr_int4_block_scale_times_4_is_named_as_its_row_changed() {
    let dir = tempfile::tempdir().expect("tmp");
    let imported = apr_import("tiny-llama", "int4", dir.path());
    assert_faithful("tiny-llama", &imported);
    let file = copy(&imported, dir.path(), "block-scale.apr");
    let name = "model.layers.0.mlp.up_proj.weight";
    let t = locate(&file, name);
    assert_eq!(t.shape, [128, 64]);
    assert_eq!(t.len, 128 * 64 / 32 * 18, "APR_Q4: 18 bytes per 32 values");
    // Block 0 (row 0's first 32 values): its f16 scale, the block's first 2 bytes.
    let raw = read_bytes(&file, t.at, 2);
    let h = u16::from_le_bytes([raw[0], raw[1]]);
    let h4 = f16_times_pow2(h, 2);
    assert_eq!(
        tmgt_gguf::f16_to_f32(h4),
        4.0 * tmgt_gguf::f16_to_f32(h),
        "{h:#06x}"
    );
    write_bytes(&file, t.at, &h4.to_le_bytes());
    let after = locate(&file, name);
    assert_eq!(&after.values[32..], &t.values[32..], "only block 0 moved");
    let j = judge_planted("tiny-llama", &file, &[name]);
    assert_eq!(
        departure(&j, name),
        &Departure::RowsChanged {
            rows: vec![0],
            of: 128
        }
    );
    says(&j, &format!("{name} has 1 of 128 rows changed (0)"));
}

#[test]
fn apr_int8_scale_doubled_is_named_scaled_by_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let imported = apr_import("tiny-llama", "int8", dir.path());
    assert_faithful("tiny-llama", &imported);
    let file = copy(&imported, dir.path(), "scale.apr");
    let name = "model.layers.0.self_attn.o_proj.weight";
    let t = locate(&file, name);
    assert_eq!(
        t.len,
        4 + 64 * 64,
        "APR_Q8: an f32 scale, then one i8 per value"
    );
    let raw = read_bytes(&file, t.at, 4);
    let scale = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    write_bytes(&file, t.at, &(scale * 2.0).to_le_bytes());
    let j = judge_planted("tiny-llama", &file, &[name]);
    match departure(&j, name) {
        Departure::Scaled { factor } => assert!((factor - 2.0).abs() < 1e-2, "{factor}"),
        other => panic!("scaled expected, got {other:?}"),
    }
    says(&j, &format!("{name} equals the source scaled by 1.99"));
}

#[test]
fn gemma_norm_written_as_hf_stores_it_is_named_norm_shift_missing() {
    let (_dir, file) = native_copy("tiny-gemma2", "unshifted.gguf");
    let t = locate(&file, "blk.1.post_attention_norm.weight");
    // HF's w where llama.cpp's layout holds the scale 1 + w.
    let source = SourceModel::open_dir(&root().join("models/tiny-gemma2")).expect("source");
    let hf = source
        .read_range("model.layers.1.post_attention_layernorm.weight", 0..64)
        .expect("reads");
    write_f32(&file, &t, &hf);
    let j = judge_planted("tiny-gemma2", &file, &["blk.1.post_attention_norm.weight"]);
    assert_eq!(
        departure(&j, "blk.1.post_attention_norm.weight"),
        &Departure::NormShiftMissing
    );
    says(&j, "without the 1 + w");
}
