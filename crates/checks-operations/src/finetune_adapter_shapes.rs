use crate::lora::{RANK, train};
use checks_structure::source::{NO_LOCAL_SOURCE, SourceModel, SourceTensor, source_model};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// The LoRA adapter `apr finetune --rank 4` writes follows the rank and the model: each
    /// adapted weight W of shape [out, in] gets A of shape [4, in] and B of shape [out, 4]
    /// (so B·A has W's shape), under a name that says which layer and projection it adapts,
    /// and no A without its B. The base shapes are read from the source safetensors.
    pub FinetuneAdapterShapes {
        code: "FTN003",
        name: "finetune-adapter-shapes-wrong",
        suite: "finetune",
        scope: Scope::Model,
        summary: "apr finetune's LoRA adapter has rank-4 matrices shaped by the weights they adapt",
    }
}

impl Check for FinetuneAdapterShapes {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(source) = source_model(cx)? else {
            return Ok(Verdict::skip(NO_LOCAL_SOURCE));
        };
        let trained = match train(cx, 2e-4)? {
            Ok(t) => t,
            Err(refused) => return Ok(refused),
        };
        let Some(path) = &trained.adapter else {
            return Ok(Verdict::fail(
                Evidence::new(1, "files"),
                trained.nothing_written(),
            ));
        };
        let adapter = SourceModel::open(path).map_err(|reason| CheckError::Input {
            what: path.display().to_string(),
            reason: reason.to_string(),
        })?;
        let tensors = adapter.tensors();
        let problems = shape_problems(&tensors, &source.tensors());
        let pairs = tensors
            .iter()
            .filter(|t| t.name.ends_with(".lora_a"))
            .count();
        let (ok, message) = if tensors.is_empty() {
            (
                false,
                format!("the adapter {} holds no tensor", path.display()),
            )
        } else if problems.is_empty() {
            (
                true,
                format!("{pairs} rank-{RANK} pairs, each shaped by the weight it adapts"),
            )
        } else {
            (false, tmgt_check::first_few(&problems, 3, "; "))
        };
        Ok(
            Verdict::judge(ok, Evidence::new(tensors.len(), "adapter tensors"), message)
                .with_facts(serde_json::json!({
                    "adapter": path,
                    "rank": RANK,
                    "tensors": tensors.iter().map(|t| (&t.name, &t.shape)).collect::<Vec<_>>(),
                    "problems": problems,
                })),
        )
    }
}

/// What is wrong with each adapter tensor, given the model's weights.
fn shape_problems(adapter: &[SourceTensor], model: &[SourceTensor]) -> Vec<String> {
    let rank = RANK as usize;
    let mut problems = Vec::new();
    for t in adapter {
        let Some((layer, projection, half)) = lora_name(&t.name) else {
            problems.push(format!("`{}` names no layer and projection", t.name));
            continue;
        };
        let base_suffix = format!(".{projection}.weight");
        let Some(base) = model.iter().find(|w| {
            w.name.ends_with(&base_suffix) && w.name.contains(&format!("layers.{layer}."))
        }) else {
            problems.push(format!(
                "`{}` adapts `{projection}` of layer {layer}, which the model lacks",
                t.name
            ));
            continue;
        };
        let [out, inp] = base.shape[..] else {
            problems.push(format!("`{}` adapts `{}`, not a matrix", t.name, base.name));
            continue;
        };
        let want = match half {
            Half::A => vec![rank, inp],
            Half::B => vec![out, rank],
        };
        if t.shape != want {
            problems.push(format!(
                "`{}` is {:?} where `{}` {:?} at rank {rank} needs {want:?}",
                t.name, t.shape, base.name, base.shape
            ));
        }
        let partner = match half {
            Half::A => t.name.replace(".lora_a", ".lora_b"),
            Half::B => t.name.replace(".lora_b", ".lora_a"),
        };
        if !adapter.iter().any(|o| o.name == partner) {
            problems.push(format!("`{}` has no `{partner}`", t.name));
        }
    }
    problems
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    A,
    B,
}

/// `lora.3.q_proj.lora_a` → (3, `q_proj`, A).
fn lora_name(name: &str) -> Option<(u32, &str, Half)> {
    let rest = name.strip_prefix("lora.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (projection, half) = rest.rsplit_once('.')?;
    let half = match half {
        "lora_a" => Half::A,
        "lora_b" => Half::B,
        _ => return None,
    };
    Some((layer.parse().ok()?, projection, half))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[usize]) -> SourceTensor {
        SourceTensor {
            name: name.into(),
            dtype: "F32".into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn rank_four_pairs_shaped_by_their_weight_pass_and_a_transposed_one_fails() {
        let model = [
            t("model.layers.0.self_attn.q_proj.weight", &[64, 64]),
            t("model.layers.0.self_attn.v_proj.weight", &[32, 64]),
        ];
        let good = [
            t("lora.0.q_proj.lora_a", &[4, 64]),
            t("lora.0.q_proj.lora_b", &[64, 4]),
            t("lora.0.v_proj.lora_a", &[4, 64]),
            t("lora.0.v_proj.lora_b", &[32, 4]),
        ];
        assert!(shape_problems(&good, &model).is_empty());
        let mut bad = good.clone();
        bad[3] = t("lora.0.v_proj.lora_b", &[4, 32]);
        let problems = shape_problems(&bad, &model);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("needs [32, 4]"), "{problems:?}");
    }

    #[test]
    fn a_lone_half_an_unknown_layer_and_a_foreign_name_are_named() {
        let model = [t("model.layers.0.self_attn.q_proj.weight", &[64, 64])];
        let adapter = [
            t("lora.0.q_proj.lora_a", &[4, 64]),
            t("lora.7.q_proj.lora_a", &[4, 64]),
            t("adapter.weight", &[4]),
        ];
        let problems = shape_problems(&adapter, &model);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("has no `lora.0.q_proj.lora_b`"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("layer 7, which the model lacks"))
        );
        assert!(problems.iter().any(|p| p.contains("names no layer")));
    }
}
