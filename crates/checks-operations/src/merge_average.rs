use crate::common::{f32_apr, merge_is};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A A --strategy average` of a model with itself is that model: (x + x) / 2 is
    /// x exactly in floating point, so the output must hold the input's tensors byte for byte,
    /// stay an `.apr` apr can run, and generate the input's greedy tokens.
    pub MergeSelfAverage {
        code: "MRG001",
        name: "merge-self-average-changes-model",
        suite: "merge",
        scope: Scope::Model,
        summary: "an average merge of a model with itself is the model",
        // The merge and two generations.
        cost: 3,
    }
}

impl Check for MergeSelfAverage {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        merge_is(cx, &[&model, &model], "average", None, &model)
    }
}
