use crate::common::{f32_apr, layout_of, operate};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The LoRA rank asked for.
const RANK: u32 = 4;

declare_check! {
    /// `apr finetune --method lora --rank 4 --plan --json` describes the model it was given:
    /// its parameter count is the float32 values tmgt counts in the file, it keeps the rank
    /// asked for, and it trains a fraction of those parameters (LoRA adds two thin matrices
    /// per adapted weight: never more parameters than the model has).
    pub FinetunePlan {
        code: "FTN001",
        name: "finetune-plan-inconsistent",
        suite: "finetune",
        scope: Scope::Model,
        summary: "apr finetune --plan counts the model's parameters and trains fewer",
    }
}

impl Check for FinetunePlan {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let input = f32_apr(cx)?;
        let plan = match operate(
            cx,
            &Invocation::finetune_plan(&input, RANK)?,
            parse::finetune_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let params: u64 = layout_of(&input)?
            .tensors
            .iter()
            .filter(|t| t.is_f32)
            .map(|t| (t.bytes.end - t.bytes.start) / 4)
            .sum();
        let mut problems = Vec::new();
        if plan.model_params != params {
            problems.push(format!(
                "model_params {} where the file holds {params} values",
                plan.model_params
            ));
        }
        if plan.recommended_rank != u64::from(RANK) {
            problems.push(format!(
                "rank {} where {RANK} was asked",
                plan.recommended_rank
            ));
        }
        if plan.trainable_params >= plan.model_params {
            problems.push(format!(
                "{} trainable parameters ({:.0}%) for a model of {}",
                plan.trainable_params, plan.trainable_percent, plan.model_params
            ));
        }
        let message = if problems.is_empty() {
            format!(
                "{} parameters as counted; rank {RANK} trains {} ({:.2}%)",
                plan.model_params, plan.trainable_params, plan.trainable_percent
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(3, "figures"),
            message,
        ))
    }
}
