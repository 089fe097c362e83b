use crate::PerplexityThresholds;
use crate::ppl_ceiling::perplexity;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// Int4 and Int8 perplexities of the evaluation text stay within the reference's 0.5 of
    /// each other: a larger gap means one quantization path lost more than its bits explain.
    pub PerplexityDrift {
        code: "PPL002",
        name: "int4-int8-perplexity-drift",
        suite: "ppl",
        scope: Scope::Model,
        summary: "abs(PPL Int4 - PPL Int8) stays below the drift bound",
        // Two `eval`s.
        cost: 3,
    }
}

impl Check for PerplexityDrift {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let p8 = perplexity(cx, ArtifactKind::Apr(Quant::Int8))?;
        let p4 = perplexity(cx, ArtifactKind::Apr(Quant::Int4))?;
        let bound = cx.thresholds().get::<PerplexityThresholds>()?.drift;
        let gap = (p4.perplexity - p8.perplexity).abs();
        Ok(Verdict::judge(
            gap.is_finite() && gap < bound,
            Evidence::new(p8.tokens_evaluated + p4.tokens_evaluated, "tokens"),
            format!(
                "PPL Int4 {:.3}, Int8 {:.3}: gap {gap:.3} (bound {bound})",
                p4.perplexity, p8.perplexity
            ),
        ))
    }
}
