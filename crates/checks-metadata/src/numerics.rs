use crate::field::Family;
use crate::judge::judge_family;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every file states the numbers the forward pass uses besides the weights as the source
    /// does: the RoPE base (and the local layers' own, where they have one), scaling and
    /// rotated dimensions, the norm epsilon, the attention window and the soft-caps. A wrong
    /// RoPE base, a lost scaling or a lost window changes tokens only past the first
    /// positions, so short prompts can miss it.
    pub MetadataNumerics {
        code: "MET002",
        name: "metadata-numerics-wrong",
        suite: "metadata",
        scope: Scope::Model,
        summary: "each file's RoPE bases, scaling and dimensions, norm epsilon, window and soft-caps are the source's",
    }
}

impl Check for MetadataNumerics {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_family(cx, Family::Numerics)
    }
}
