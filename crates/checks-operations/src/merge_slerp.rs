use crate::common::{f32_apr, merge_is};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A A --strategy slerp` of a model with itself is that model: between two equal
    /// vectors the arc is a point (slerp falls back to the linear mix, 0.5x + 0.5x = x exactly),
    /// so the output must hold the input's tensors byte for byte and generate its tokens.
    pub MergeSelfSlerp {
        code: "MRG002",
        name: "merge-self-slerp-changes-model",
        suite: "merge",
        scope: Scope::Model,
        summary: "a slerp merge of a model with itself is the model",
        // The merge and two generations.
        cost: 3,
    }
}

impl Check for MergeSelfSlerp {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        merge_is(cx, &[&model, &model], "slerp", None, &model)
    }
}
