use crate::common::{f32_apr, layout_of, merge_is, negated_copy, scratch};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge A B --strategy weighted --weights 1,0` is A: 1·a + 0·b is a exactly for
    /// finite b. B is A with the sign of every float32 weight flipped (tmgt's own byte edit:
    /// the same structure, every weight different), so a merge that ignores its weights,
    /// averages, or swaps its inputs shows in every tensor.
    pub MergeWeightedFirst {
        code: "MRG003",
        name: "merge-weighted-one-zero-is-not-first",
        suite: "merge",
        scope: Scope::Model,
        summary: "a weighted merge with weights 1 and 0 is the first model",
        // The merge and two generations.
        cost: 3,
    }
}

impl Check for MergeWeightedFirst {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let first = f32_apr(cx)?;
        let second = scratch(cx, "negated.apr")?;
        negated_copy(&first, &layout_of(&first)?, &second).map_err(|e| CheckError::Input {
            what: second.display().to_string(),
            reason: e.to_string(),
        })?;
        merge_is(
            cx,
            &[&first, &second],
            "weighted",
            Some(&[1.0, 0.0]),
            &first,
        )
    }
}
