use crate::common::{f32_apr, judge_identity, operate, scratch};
use crate::lora::train;
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// LoRA training at learning rate 0 changes nothing: the adapter's B matrices stay at their
    /// zero start, so `apr finetune --merge` of that adapter into the model must give the
    /// model back, every tensor byte for byte, and the same greedy tokens. (apr refuses zero
    /// epochs; a zero learning rate is the zero-step run it accepts.)
    pub FinetuneZeroRate {
        code: "FTN002",
        name: "finetune-zero-rate-changes-model",
        suite: "finetune",
        scope: Scope::Model,
        summary: "a LoRA adapter trained at learning rate 0, merged, leaves the model unchanged",
        // Training, the merge and two generations.
        cost: 4,
    }
}

impl Check for FinetuneZeroRate {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        let trained = match train(cx, 0.0)? {
            Ok(t) => t,
            Err(refused) => return Ok(refused),
        };
        let Some(adapter) = &trained.adapter else {
            return Ok(Verdict::fail(
                Evidence::new(1, "files"),
                trained.nothing_written(),
            ));
        };
        let merged = scratch(cx, "merged.apr")?;
        let invocation = Invocation::finetune_merge(&model, adapter, &merged)?;
        if let Err(refused) = operate(cx, &invocation, parse::finetune_merge)? {
            return Ok(refused);
        }
        judge_identity(
            cx,
            "finetune --learning-rate 0, then --merge",
            &model,
            &merged,
        )
    }
}
