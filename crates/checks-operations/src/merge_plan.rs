use crate::common::{f32_apr, operate};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A A --strategy average --plan --json` validates the inputs and states what
    /// tmgt measures of them: two models, their sizes summed, the strategy asked for.
    pub MergePlan {
        code: "MRG006",
        name: "merge-plan-disagrees",
        suite: "merge",
        scope: Scope::Model,
        summary: "apr merge --plan states the inputs as they are",
    }
}

impl Check for MergePlan {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        let plan = match operate(
            cx,
            &Invocation::merge_plan(&[&model, &model], "average")?,
            parse::merge_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let bytes = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
        let mut problems = Vec::new();
        if plan.status != "valid" {
            problems.push(format!(
                "status `{}` for two identical, valid inputs",
                plan.status
            ));
        }
        if plan.model_count != 2 {
            problems.push(format!("model_count {} for two inputs", plan.model_count));
        }
        if plan.total_input_size != 2 * bytes {
            problems.push(format!(
                "total_input_size {} where the inputs hold {}",
                plan.total_input_size,
                2 * bytes
            ));
        }
        if plan.strategy != "average" {
            problems.push(format!(
                "strategy `{}` where average was asked",
                plan.strategy
            ));
        }
        let message = if problems.is_empty() {
            format!(
                "{} models, {} bytes, strategy {}: as measured",
                plan.model_count, plan.total_input_size, plan.strategy
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(4, "figures"),
            message,
        ))
    }
}
