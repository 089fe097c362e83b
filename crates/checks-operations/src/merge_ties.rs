use crate::common::{f32_apr, merge_is_with};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A A --strategy ties --base-model A` is A: both task vectors (model minus
    /// base) are zero, so trimming, sign election and their mean add nothing to the base. The
    /// output must hold A's tensors byte for byte and generate A's greedy tokens.
    pub MergeSelfTies {
        code: "MRG004",
        name: "merge-self-ties-changes-model",
        suite: "merge",
        scope: Scope::Model,
        summary: "a TIES merge of a model with itself over itself is the model",
        // The merge and two generations.
        cost: 3,
    }
}

impl Check for MergeSelfTies {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        merge_is_with(cx, &[&model, &model], "ties", None, Some(&model), &model)
    }
}
