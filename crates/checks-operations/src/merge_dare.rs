use crate::common::{f32_apr, merge_is_with};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A A --strategy dare --base-model A` is A: both task vectors are zero, and
    /// dropping or rescaling zeros leaves zeros, whatever the seed. The output must hold A's
    /// tensors byte for byte and generate A's greedy tokens.
    pub MergeSelfDare {
        code: "MRG005",
        name: "merge-self-dare-changes-model",
        suite: "merge",
        scope: Scope::Model,
        summary: "a DARE merge of a model with itself over itself is the model",
        // The merge and two generations.
        cost: 3,
    }
}

impl Check for MergeSelfDare {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        merge_is_with(cx, &[&model, &model], "dare", None, Some(&model), &model)
    }
}
