//! Where each source tensor should be in a converted file, and in what layout: written once
//! per target format from the HF safetensors names and shapes.
//!
//! * **apr** (`.apr`): apr's own names (`checks_structure::names`); values kept in HF's
//!   layout, GPT-2's fused `c_attn` split along its output axis, a tied output projection
//!   materialized as a copy of the embedding.
//! * **llama.cpp GGUF**: `convert_hf_to_gguf.py`'s names; ggml dims are the reverse of the
//!   numpy shape with the same row-major values; LLaMA and Mistral q/k rows permuted for
//!   ggml's RoPE (`LlamaModel.permute`); GPT-2's Conv1D weights transposed to `[out, in]`,
//!   `c_attn` kept fused as `attn_qkv`; Phi-3's fused `qkv_proj` and `gate_up_proj` kept fused;
//!   Gemma's RMSNorm weights stored as `1 + w`; a tied output projection absent.

use checks_structure::names::{ExpectedTensor, expected_tensors};
use checks_structure::source::SourceTensor;
use serde::Serialize;

/// A file format whose expected content tmgt derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Apr,
    Gguf,
}

/// The model facts the maps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    /// HF `model_type` (apr spells it the same for the families it runs).
    pub name: String,
    pub heads: usize,
    pub kv_heads: usize,
    pub tied: bool,
}

impl Arch {
    /// The facts of a configured model.
    pub fn of(facts: &tmgt_check::ModelFacts) -> Arch {
        Arch {
            name: facts.architecture.clone(),
            heads: facts.heads,
            kv_heads: facts.kv_heads,
            tied: facts.tied_embeddings,
        }
    }

    /// Whether llama.cpp's converter permutes q/k rows for this architecture.
    fn permutes_rope(&self) -> bool {
        matches!(self.name.as_str(), "llama" | "mistral")
    }

    /// Gemma's RMSNorm scales by `1 + w`; llama.cpp's converter stores `1 + w`.
    fn shifts_norms(&self) -> bool {
        self.name.starts_with("gemma")
    }

    /// Gemma 2 and 3 norm each block's output too: there HF's `post_attention_layernorm` is
    /// the attention's output norm, not the MLP's input norm.
    fn norms_block_outputs(&self) -> bool {
        matches!(self.name.as_str(), "gemma2" | "gemma3" | "gemma3_text")
    }
}

/// How a file's tensor is made from one source tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Transform {
    Same,
    /// A 2-D tensor's rows and columns swapped.
    Transpose,
    /// ggml's RoPE row order: within each of `heads` heads, rows `(j, i)` of the HF layout
    /// `(2, head_dim / 2)` become `(i, j)`.
    RopeRows {
        heads: usize,
    },
    /// `len` values of the last axis starting at `start` (a fused projection's part).
    Slice {
        start: usize,
        len: usize,
    },
    /// Every value plus one (Gemma's norms, stored as the scale `1 + w` they apply).
    PlusOne,
}

/// One tensor a file should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub name: String,
    /// numpy order.
    pub shape: Vec<usize>,
    pub source: String,
    pub transform: Transform,
}

impl Expected {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors `target` should hold for a source of this architecture, sorted by name.
pub fn expected(
    target: Target,
    arch: &Arch,
    source: &[SourceTensor],
) -> Result<Vec<Expected>, String> {
    let mut out = match target {
        Target::Apr => for_apr(arch, source)?,
        Target::Gguf => for_gguf(arch, source)?,
    };
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!("two source tensors map to `{}`", w[0].name));
    }
    Ok(out)
}

fn for_apr(arch: &Arch, source: &[SourceTensor]) -> Result<Vec<Expected>, String> {
    let named = expected_tensors(&arch.name, arch.tied, source)?;
    Ok(named
        .into_iter()
        .map(
            |ExpectedTensor {
                 name,
                 shape,
                 source: from,
             }| {
                let transform = match from.contains("c_attn") {
                    true => {
                        let part = ["q_proj", "k_proj", "v_proj"]
                            .iter()
                            .position(|p| name.contains(p))
                            .unwrap_or(0);
                        let len = *shape.last().unwrap_or(&0);
                        Transform::Slice {
                            start: part * len,
                            len,
                        }
                    }
                    false => Transform::Same,
                };
                Expected {
                    name,
                    shape,
                    source: from,
                    transform,
                }
            },
        )
        .collect())
}

fn for_gguf(arch: &Arch, source: &[SourceTensor]) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for t in source {
        let mapped = if arch.name == "gpt2" {
            gpt2_gguf(&t.name)
        } else {
            llama_gguf(arch, &t.name)
        };
        let Some((name, transform)) = mapped else {
            if is_buffer(&t.name) {
                continue;
            }
            return Err(format!(
                "`{}` has no llama.cpp GGUF name tmgt knows for {}",
                t.name, arch.name
            ));
        };
        // A tied model's converter drops a saved copy of the embedding.
        if arch.tied && name == "output.weight" {
            continue;
        }
        let transform = match transform {
            Transform::RopeRows { .. } if !arch.permutes_rope() => Transform::Same,
            Transform::RopeRows { .. } if name.contains("attn_k.") => Transform::RopeRows {
                heads: arch.kv_heads,
            },
            Transform::RopeRows { .. } => Transform::RopeRows { heads: arch.heads },
            Transform::Same if arch.shifts_norms() && name.ends_with("norm.weight") => {
                Transform::PlusOne
            }
            other => other,
        };
        let shape = match transform {
            Transform::Transpose => t.shape.iter().rev().copied().collect(),
            _ => t.shape.clone(),
        };
        out.push(Expected {
            name,
            shape,
            source: t.name.clone(),
            transform,
        });
    }
    Ok(out)
}

/// Causal-mask buffers some exports carry: not parameters.
fn is_buffer(name: &str) -> bool {
    name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")
}

/// LLaMA-family HF names to llama.cpp's (`gguf-py` `tensor_mapping.py`), Qwen, Mistral, Phi-3
/// and Gemma included.
fn llama_gguf(arch: &Arch, name: &str) -> Option<(String, Transform)> {
    let whole = match name {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(w) = whole {
        return Some((w.to_owned(), Transform::Same));
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let (kind, suffix) = part.rsplit_once('.')?;
    let (gguf, transform) = match kind {
        "input_layernorm" => ("attn_norm", Transform::Same),
        "post_attention_layernorm" if arch.norms_block_outputs() => {
            ("post_attention_norm", Transform::Same)
        }
        "post_attention_layernorm" | "pre_feedforward_layernorm" => ("ffn_norm", Transform::Same),
        "post_feedforward_layernorm" => ("post_ffw_norm", Transform::Same),
        "self_attn.qkv_proj" => ("attn_qkv", Transform::Same),
        "mlp.gate_up_proj" => ("ffn_up", Transform::Same),
        "self_attn.q_proj" => ("attn_q", Transform::RopeRows { heads: 0 }),
        "self_attn.k_proj" => ("attn_k", Transform::RopeRows { heads: 0 }),
        "self_attn.v_proj" => ("attn_v", Transform::Same),
        "self_attn.o_proj" => ("attn_output", Transform::Same),
        "self_attn.q_norm" => ("attn_q_norm", Transform::Same),
        "self_attn.k_norm" => ("attn_k_norm", Transform::Same),
        "mlp.gate_proj" => ("ffn_gate", Transform::Same),
        "mlp.up_proj" => ("ffn_up", Transform::Same),
        "mlp.down_proj" => ("ffn_down", Transform::Same),
        _ => return None,
    };
    Some((format!("blk.{layer}.{gguf}.{suffix}"), transform))
}

/// GPT-2 HF names to llama.cpp's; Conv1D weights are stored `[in, out]` and transposed.
fn gpt2_gguf(name: &str) -> Option<(String, Transform)> {
    let base = name.strip_prefix("transformer.").unwrap_or(name);
    let whole = match base {
        "wte.weight" => Some("token_embd.weight"),
        "wpe.weight" => Some("position_embd.weight"),
        "ln_f.weight" => Some("output_norm.weight"),
        "ln_f.bias" => Some("output_norm.bias"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(w) = whole {
        return Some((w.to_owned(), Transform::Same));
    }
    let rest = base.strip_prefix("h.")?;
    let (layer, part) = rest.split_once('.')?;
    let (kind, suffix) = part.rsplit_once('.')?;
    let gguf = match kind {
        "ln_1" => "attn_norm",
        "ln_2" => "ffn_norm",
        "attn.c_attn" => "attn_qkv",
        "attn.c_proj" => "attn_output",
        "mlp.c_fc" => "ffn_up",
        "mlp.c_proj" => "ffn_down",
        _ => return None,
    };
    let transform = if suffix == "weight" && kind.contains("c_") {
        Transform::Transpose
    } else {
        Transform::Same
    };
    Some((format!("blk.{layer}.{gguf}.{suffix}"), transform))
}

/// Applies `transform` to a source tensor's row-major values of shape `shape`.
pub fn apply(transform: Transform, values: &[f32], shape: &[usize]) -> Vec<f32> {
    match transform {
        Transform::Same => values.to_vec(),
        Transform::Transpose => transpose(values, shape),
        Transform::RopeRows { heads } => rope_rows(values, shape, heads, false),
        Transform::Slice { start, len } => {
            let last = *shape.last().unwrap_or(&1);
            values
                .chunks_exact(last.max(1))
                .flat_map(|row| row[start..start + len].iter().copied())
                .collect()
        }
        Transform::PlusOne => values.iter().map(|v| v + 1.0).collect(),
    }
}

/// A 2-D tensor transposed; anything else returned as is.
pub fn transpose(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let [rows, cols] = shape[..] else {
        return values.to_vec();
    };
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// llama.cpp's RoPE row permutation (`inverse = false`) or its inverse, over `heads` heads of
/// the leading axis; any trailing axes move with their row.
pub fn rope_rows(values: &[f32], shape: &[usize], heads: usize, inverse: bool) -> Vec<f32> {
    let rows = shape.first().copied().unwrap_or(0);
    if heads == 0 || rows % (2 * heads) != 0 {
        return values.to_vec();
    }
    let width = values.len() / rows.max(1);
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let ggml = h * head_dim + i * 2 + j;
                let hf = h * head_dim + j * half + i;
                let (to, from) = if inverse { (hf, ggml) } else { (ggml, hf) };
                out[to * width..(to + 1) * width]
                    .copy_from_slice(&values[from * width..(from + 1) * width]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, shape: &[usize]) -> SourceTensor {
        SourceTensor {
            name: name.into(),
            dtype: "F32".into(),
            shape: shape.to_vec(),
        }
    }

    fn llama() -> Arch {
        Arch {
            name: "llama".into(),
            heads: 4,
            kv_heads: 2,
            tied: true,
        }
    }

    #[test]
    fn rope_rows_round_trips_and_moves_rows_as_llama_cpp_does() {
        // 2 heads of 4 rows, 1 column: HF rows [0 1 2 3 | 4 5 6 7] become [0 2 1 3 | 4 6 5 7].
        let v: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let p = rope_rows(&v, &[8, 1], 2, false);
        assert_eq!(p, [0., 2., 1., 3., 4., 6., 5., 7.]);
        assert_eq!(rope_rows(&p, &[8, 1], 2, true), v);
    }

    #[test]
    fn gguf_map_names_permutes_and_drops_the_tied_head() {
        let src = [
            st("model.layers.3.self_attn.q_proj.weight", &[64, 64]),
            st("model.layers.3.self_attn.k_proj.weight", &[32, 64]),
            st("model.layers.3.mlp.down_proj.weight", &[64, 128]),
            st("lm_head.weight", &[2048, 64]),
        ];
        let e = expected(Target::Gguf, &llama(), &src).expect("maps");
        let got: Vec<(&str, Transform)> =
            e.iter().map(|t| (t.name.as_str(), t.transform)).collect();
        assert_eq!(
            got,
            [
                ("blk.3.attn_k.weight", Transform::RopeRows { heads: 2 }),
                ("blk.3.attn_q.weight", Transform::RopeRows { heads: 4 }),
                ("blk.3.ffn_down.weight", Transform::Same),
            ]
        );
        let qwen = Arch {
            name: "qwen2".into(),
            ..llama()
        };
        let e = expected(Target::Gguf, &qwen, &src[..1]).expect("maps");
        assert_eq!(
            e[0].transform,
            Transform::Same,
            "Qwen2 uses NEOX RoPE: no permutation"
        );
    }

    #[test]
    fn gemma_norms_are_stored_plus_one_and_gemma2_norms_block_outputs() {
        let src = [
            st("model.layers.0.post_attention_layernorm.weight", &[64]),
            st("model.layers.0.pre_feedforward_layernorm.weight", &[64]),
            st("model.layers.0.mlp.up_proj.weight", &[128, 64]),
        ];
        let names = |arch: &str| {
            let a = Arch {
                name: arch.into(),
                ..llama()
            };
            expected(Target::Gguf, &a, &src[..1])
                .expect("maps")
                .into_iter()
                .map(|t| (t.name, t.transform))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("gemma"),
            [("blk.0.ffn_norm.weight".to_string(), Transform::PlusOne)]
        );
        assert_eq!(
            names("llama"),
            [("blk.0.ffn_norm.weight".to_string(), Transform::Same)]
        );
        let gemma2 = Arch {
            name: "gemma2".into(),
            ..llama()
        };
        let e = expected(Target::Gguf, &gemma2, &src).expect("maps");
        let got: Vec<(&str, Transform)> =
            e.iter().map(|t| (t.name.as_str(), t.transform)).collect();
        assert_eq!(
            got,
            [
                ("blk.0.ffn_norm.weight", Transform::PlusOne),
                ("blk.0.ffn_up.weight", Transform::Same),
                ("blk.0.post_attention_norm.weight", Transform::PlusOne),
            ]
        );
    }

    #[test]
    fn phi3_keeps_its_fused_projections() {
        let phi3 = Arch {
            name: "phi3".into(),
            ..llama()
        };
        let src = [
            st("model.layers.1.self_attn.qkv_proj.weight", &[128, 64]),
            st("model.layers.1.mlp.gate_up_proj.weight", &[256, 64]),
        ];
        let e = expected(Target::Gguf, &phi3, &src).expect("maps");
        let got: Vec<(&str, Transform)> =
            e.iter().map(|t| (t.name.as_str(), t.transform)).collect();
        assert_eq!(
            got,
            [
                ("blk.1.attn_qkv.weight", Transform::Same),
                ("blk.1.ffn_up.weight", Transform::Same),
            ]
        );
    }

    #[test]
    fn gpt2_maps_transpose_conv1d_for_gguf_and_split_c_attn_for_apr() {
        let gpt2 = Arch {
            name: "gpt2".into(),
            heads: 4,
            kv_heads: 4,
            tied: true,
        };
        let src = [
            st("h.0.attn.c_attn.weight", &[2, 6]),
            st("h.0.attn.bias", &[1, 1, 4, 4]),
            st("wte.weight", &[10, 2]),
        ];
        let g = expected(Target::Gguf, &gpt2, &src).expect("maps");
        assert_eq!(g[0].name, "blk.0.attn_qkv.weight");
        assert_eq!(
            (g[0].shape.clone(), g[0].transform),
            (vec![6, 2], Transform::Transpose)
        );
        let a = expected(Target::Apr, &gpt2, &src).expect("maps");
        let k = a
            .iter()
            .find(|t| t.name.ends_with("k_proj.weight"))
            .expect("k");
        assert_eq!(k.transform, Transform::Slice { start: 2, len: 2 });
        let v: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(apply(k.transform, &v, &[2, 6]), [2., 3., 8., 9.]);
        assert_eq!(
            transpose(&[1., 2., 3., 4., 5., 6.], &[2, 3]),
            [1., 4., 2., 5., 3., 6.]
        );
    }
}
