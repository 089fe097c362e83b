use crate::common::{f32_apr, operate};
use apr_client::{Invocation, parse};
use checks_structure::source::source_model;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// How far apr's planned fraction of zeros may be from the fraction the reference's magnitude
/// pruning left: ties at the threshold and the reference's choice of what to prune (it kept
/// 0.2992 for a target of 0.3) move it by less than this.
const SPARSITY_SLACK: f64 = 0.005;

declare_check! {
    /// apr's plans state what the reference measured when torch and peft did the same
    /// operation on the same architecture (`oracle-ops/`): `apr finetune --method lora --rank R
    /// --plan` counts the model's parameters and plans the trainable parameters of a rank-R
    /// LoRA of the modules peft adapted; `apr prune --method magnitude --target-ratio S
    /// --plan` counts the parameters and plans the fraction of zeros the reference's pruning
    /// left. The reference's parameter count is first held against the model's own source
    /// file, so figures of another model are an input error, not apr's fault.
    pub ReferencePlans {
        code: "OPS001",
        name: "plans-disagree-with-reference-ops",
        suite: "ops-oracle",
        scope: Scope::Model,
        summary: "apr's finetune and prune plans state the reference's measured figures",
        cost: 2,
    }
}

impl Check for ReferencePlans {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        let Some(reference) = &model.ops_oracle else {
            return Err(CheckError::NotApplicable(format!(
                "{} has no reference operations figures (`ops_oracle` in its config)",
                model.name
            )));
        };
        let ops = tmgt_oracle::load_ops(&reference.dir, &reference.slug)?;
        let (lora_file, lora) = &ops.lora;
        let (prune_file, prune) = &ops.prune;
        let model_params = lora
            .total_params
            .checked_sub(lora.trainable_params)
            .ok_or_else(|| CheckError::Input {
                what: lora_file.display().to_string(),
                reason: "its trainable_params exceed its total_params".into(),
            })?;
        let twin = match source_model(cx)? {
            Some(source) => {
                let counted: u64 = source.tensors().iter().map(|t| t.elements() as u64).sum();
                if counted != prune.total_params || counted != model_params {
                    return Err(CheckError::Input {
                        what: prune_file.display().to_string(),
                        reason: format!(
                            "its {} parameters (and {model_params} in {}) are not the {counted} of {}'s source: these are another model's figures",
                            prune.total_params,
                            lora_file.display(),
                            model.name
                        ),
                    });
                }
                format!("the reference's {counted} parameters are the source's")
            }
            None => "the reference's parameter count taken as the hub model's".to_string(),
        };
        let input = f32_apr(cx)?;
        let planned = match operate(
            cx,
            &Invocation::finetune_plan(&input, lora.rank)?,
            parse::finetune_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let pruning = match operate(
            cx,
            &Invocation::prune(&input, prune.target_sparsity, None)?,
            parse::prune_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let modules = lora.target_modules.join(", ");
        let facts = &model.facts;
        // A tied output matrix counted a second time is the commonest miscount: say so.
        let why = |counted: u64, want: u64| {
            let head = (facts.vocab * facts.hidden) as u64;
            if facts.tied_embeddings && counted == want + head {
                format!(
                    " (the difference, {head} = vocab {} x hidden {}, is the tied output matrix counted again)",
                    facts.vocab, facts.hidden
                )
            } else {
                String::new()
            }
        };
        let mut problems = Vec::new();
        if planned.model_params != model_params {
            problems.push(format!(
                "finetune --plan counts {} parameters, the reference {model_params}{}",
                planned.model_params,
                why(planned.model_params, model_params)
            ));
        }
        if planned.trainable_params != lora.trainable_params {
            problems.push(format!(
                "finetune --rank {} --plan trains {} parameters where peft's rank-{} LoRA of {modules} trains {}",
                lora.rank, planned.trainable_params, lora.rank, lora.trainable_params
            ));
        }
        if pruning.parameters_in != prune.total_params {
            problems.push(format!(
                "prune --plan counts {} parameters, the reference {}{}",
                pruning.parameters_in,
                prune.total_params,
                why(pruning.parameters_in, prune.total_params)
            ));
        }
        let zeros = pruning.weights_zeroed_pct / 100.0;
        if (zeros - prune.actual_sparsity).abs() > SPARSITY_SLACK {
            problems.push(format!(
                "prune --target-ratio {} --plan zeroes {zeros:.4} of the weights, the reference's pruning left {:.4}",
                prune.target_sparsity, prune.actual_sparsity
            ));
        }
        let message = if problems.is_empty() {
            format!(
                "{model_params} parameters; rank {} trains {}; pruning to {} zeroes {zeros:.4} (reference {:.4}); {twin}",
                lora.rank, lora.trainable_params, prune.target_sparsity, prune.actual_sparsity
            )
        } else {
            format!("{}; {twin}", problems.join("; "))
        };
        Ok(
            Verdict::judge(problems.is_empty(), Evidence::new(4, "figures"), message).with_facts(
                serde_json::json!({
                    "reference": { "finetune": lora_file, "prune": prune_file },
                    "finetune_plan": planned, "prune_plan": pruning,
                    "expected": {
                        "model_params": model_params,
                        "trainable_params": lora.trainable_params,
                        "prune_parameters": prune.total_params,
                        "sparsity": prune.actual_sparsity,
                    },
                }),
            ),
        )
    }
}
