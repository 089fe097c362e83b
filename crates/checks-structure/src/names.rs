//! The tensors an `.apr` should hold, derived from the source safetensors header.
//!
//! apr's canonical names are HuggingFace's LLaMA-style names (`model.embed_tokens.weight`,
//! `model.layers.N.self_attn.q_proj.weight`, ...), as `apr tensors` shows on imported models:
//!
//! * LLaMA-family sources (llama, qwen2, mistral, ...) already use them: one to one, same
//!   shapes.
//! * GPT-2 (`[transformer.]h.N.*`, `wte`, `wpe`, `ln_f`) is renamed to them; apr 0.72.3 keeps the
//!   Conv1D `[in, out]` layout of every weight (e.g. `mlp.up_proj.weight` is
//!   `[hidden, 4*hidden]`) and splits the fused `attn.c_attn` `[hidden, 3*hidden]` along its
//!   output axis into q/k/v `[hidden, hidden]` (bias `[3*hidden]` into three `[hidden]`).
//! * A model with tied embeddings and no `lm_head.weight` gets one: apr 0.72.3 materializes the
//!   tie as its own tensor with the embedding's shape.

use crate::source::SourceTensor;
use serde::Serialize;

/// One tensor the `.apr` should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedTensor {
    /// apr's name.
    pub name: String,
    /// The logical shape apr should report.
    pub shape: Vec<usize>,
    /// The source tensor it comes from.
    pub source: String,
}

impl ExpectedTensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// A norm or a bias: 1-D parameters apr keeps in f32 at every quantization level.
    pub fn is_vector(&self) -> bool {
        self.shape.len() < 2
    }
}

/// apr's name of the output projection.
pub const LM_HEAD: &str = "lm_head.weight";

/// The `.apr` tensors expected from a source of this architecture (`ModelFacts::architecture`),
/// `tied` when the output projection shares the embedding matrix.
pub fn expected_tensors(
    architecture: &str,
    tied: bool,
    source: &[SourceTensor],
) -> Result<Vec<ExpectedTensor>, String> {
    let mut out = Vec::new();
    for t in source {
        if architecture.eq_ignore_ascii_case("gpt2") {
            out.extend(gpt2(t)?);
        } else {
            out.push(ExpectedTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                source: t.name.clone(),
            });
        }
    }
    if tied && !out.iter().any(|t| t.name == LM_HEAD) {
        let embedding = token_embedding(source)
            .ok_or("tied embeddings, but no token embedding in the source")?;
        out.push(ExpectedTensor {
            name: LM_HEAD.to_string(),
            shape: embedding.shape.clone(),
            source: embedding.name.clone(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!("two source tensors map to `{}`", w[0].name));
    }
    Ok(out)
}

/// The source tensor holding the token embedding (the `hex` probe).
pub fn token_embedding(source: &[SourceTensor]) -> Option<&SourceTensor> {
    const NAMES: [&str; 3] = [
        "embed_tokens.weight",
        "wte.weight",
        "word_embeddings.weight",
    ];
    source.iter().find(|t| {
        t.shape.len() == 2
            && NAMES
                .iter()
                .any(|n| t.name == *n || t.name.ends_with(&format!(".{n}")))
    })
}

fn expected(name: String, shape: Vec<usize>, source: &SourceTensor) -> ExpectedTensor {
    ExpectedTensor {
        name,
        shape,
        source: source.name.clone(),
    }
}

/// GPT-2: `[transformer.]h.N.<part>` and `[transformer.]{wte,wpe,ln_f}`, shapes kept.
fn gpt2(t: &SourceTensor) -> Result<Vec<ExpectedTensor>, String> {
    let base = t.name.strip_prefix("transformer.").unwrap_or(&t.name);
    if let Some(rest) = base.strip_prefix("h.") {
        let (layer, part) = rest
            .split_once('.')
            .ok_or_else(|| format!("unexpected GPT-2 tensor `{}`", t.name))?;
        let p = |s: &str| format!("model.layers.{layer}.{s}");
        let one = |name: String, shape: Vec<usize>| Ok(vec![expected(name, shape, t)]);
        return match part {
            "ln_1.weight" | "ln_1.bias" => {
                one(p(&part.replace("ln_1", "input_layernorm")), t.shape.clone())
            }
            "ln_2.weight" | "ln_2.bias" => one(
                p(&part.replace("ln_2", "post_attention_layernorm")),
                t.shape.clone(),
            ),
            "attn.c_proj.weight" => one(p("self_attn.o_proj.weight"), t.shape.clone()),
            "attn.c_proj.bias" => one(p("self_attn.o_proj.bias"), t.shape.clone()),
            "mlp.c_fc.weight" => one(p("mlp.up_proj.weight"), t.shape.clone()),
            "mlp.c_fc.bias" => one(p("mlp.up_proj.bias"), t.shape.clone()),
            "mlp.c_proj.weight" => one(p("mlp.down_proj.weight"), t.shape.clone()),
            "mlp.c_proj.bias" => one(p("mlp.down_proj.bias"), t.shape.clone()),
            "attn.c_attn.weight" | "attn.c_attn.bias" => split_qkv(t, &p),
            // Causal-mask buffers some exports carry: not parameters.
            "attn.bias" | "attn.masked_bias" => Ok(Vec::new()),
            other => Err(format!(
                "unexpected GPT-2 layer tensor `{other}` in `{}`",
                t.name
            )),
        };
    }
    let name = match base {
        "wte.weight" => "model.embed_tokens.weight",
        "wpe.weight" => "model.position_embedding.weight",
        "ln_f.weight" => "model.norm.weight",
        "ln_f.bias" => "model.norm.bias",
        "lm_head.weight" => LM_HEAD,
        other => return Err(format!("unexpected GPT-2 tensor `{other}`")),
    };
    Ok(vec![expected(name.to_string(), t.shape.clone(), t)])
}

/// `c_attn`: weight `[hidden, 3*hidden]` into three `[hidden, hidden]` (split along the output
/// axis, which Conv1D stores last), bias `[3*hidden]` into three `[hidden]`.
fn split_qkv(t: &SourceTensor, p: &dyn Fn(&str) -> String) -> Result<Vec<ExpectedTensor>, String> {
    let kind = if t.name.ends_with(".bias") {
        "bias"
    } else {
        "weight"
    };
    let shape = match t.shape.as_slice() {
        [n] if n % 3 == 0 => vec![n / 3],
        [h, n] if n % 3 == 0 => vec![*h, n / 3],
        other => {
            return Err(format!(
                "`{}` has shape {other:?}, not a fused q/k/v",
                t.name
            ));
        }
    };
    Ok(["q_proj", "k_proj", "v_proj"]
        .iter()
        .map(|proj| expected(p(&format!("self_attn.{proj}.{kind}")), shape.clone(), t))
        .collect())
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

    #[test]
    fn llama_family_maps_one_to_one() {
        let src = [
            st("model.layers.0.self_attn.k_proj.weight", &[32, 64]),
            st("model.embed_tokens.weight", &[2048, 64]),
        ];
        let e = expected_tensors("llama", false, &src).expect("maps");
        assert_eq!(
            e.iter()
                .map(|t| (t.name.as_str(), t.shape.clone()))
                .collect::<Vec<_>>(),
            [
                ("model.embed_tokens.weight", vec![2048, 64]),
                ("model.layers.0.self_attn.k_proj.weight", vec![32, 64])
            ]
        );
        // Tied: apr materializes the output projection.
        let tied = expected_tensors("qwen2", true, &src).expect("maps");
        assert_eq!(tied.len(), 3);
        assert_eq!(
            tied[0],
            ExpectedTensor {
                name: LM_HEAD.into(),
                shape: vec![2048, 64],
                source: "model.embed_tokens.weight".into()
            }
        );
        // A tied model that ships its lm_head anyway gets no second one.
        let with_head = [
            st("lm_head.weight", &[2048, 64]),
            st("model.embed_tokens.weight", &[2048, 64]),
        ];
        assert_eq!(
            expected_tensors("qwen2", true, &with_head)
                .expect("maps")
                .len(),
            2
        );
        assert!(expected_tensors("qwen2", true, &[st("model.norm.weight", &[64])]).is_err());
        assert_eq!(
            token_embedding(&src).map(|t| t.name.as_str()),
            Some("model.embed_tokens.weight")
        );
    }

    #[test]
    fn gpt2_renames_and_splits() {
        let src = [
            st("transformer.wte.weight", &[100, 8]),
            st("transformer.wpe.weight", &[16, 8]),
            st("transformer.h.0.attn.c_attn.weight", &[8, 24]),
            st("transformer.h.0.attn.c_attn.bias", &[24]),
            st("transformer.h.0.mlp.c_fc.weight", &[8, 32]),
            st("transformer.h.0.ln_2.bias", &[8]),
            st("transformer.h.0.attn.bias", &[1, 1, 16, 16]),
            st("transformer.ln_f.weight", &[8]),
        ];
        let e = expected_tensors("gpt2", true, &src).expect("maps");
        let got: Vec<(&str, Vec<usize>)> = e
            .iter()
            .map(|t| (t.name.as_str(), t.shape.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("lm_head.weight", vec![100, 8]),
                ("model.embed_tokens.weight", vec![100, 8]),
                ("model.layers.0.mlp.up_proj.weight", vec![8, 32]),
                ("model.layers.0.post_attention_layernorm.bias", vec![8]),
                ("model.layers.0.self_attn.k_proj.bias", vec![8]),
                ("model.layers.0.self_attn.k_proj.weight", vec![8, 8]),
                ("model.layers.0.self_attn.q_proj.bias", vec![8]),
                ("model.layers.0.self_attn.q_proj.weight", vec![8, 8]),
                ("model.layers.0.self_attn.v_proj.bias", vec![8]),
                ("model.layers.0.self_attn.v_proj.weight", vec![8, 8]),
                ("model.norm.weight", vec![8]),
                ("model.position_embedding.weight", vec![16, 8]),
            ]
        );
        assert_eq!(
            token_embedding(&src).map(|t| t.name.as_str()),
            Some("transformer.wte.weight")
        );
        assert!(
            e.iter()
                .find(|t| t.name.ends_with("k_proj.weight"))
                .is_some_and(|t| t.source == "transformer.h.0.attn.c_attn.weight")
        );
    }

    #[test]
    fn gpt2_rejects_what_it_cannot_place() {
        assert!(
            expected_tensors(
                "gpt2",
                false,
                &[st("transformer.h.0.attn.c_attn.weight", &[8, 25])]
            )
            .is_err()
        );
        assert!(
            expected_tensors("gpt2", false, &[st("transformer.h.0.new.weight", &[8])]).is_err()
        );
        assert!(
            expected_tensors(
                "gpt2",
                false,
                &[
                    st("transformer.h.0.ln_1.weight", &[8]),
                    st("h.0.ln_1.weight", &[8])
                ]
            )
            .is_err()
        );
    }
}
