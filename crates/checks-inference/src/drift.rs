use crate::DriftThresholds;
use crate::generation::generate;
use tmgt_check::outcome::TokenComparison;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// Int8 keeps more precision than Int4, so it may not drift further from the oracle:
    /// Int8 mismatches <= Int4 mismatches + slack. The opposite points at a broken Int8 path
    /// (scales, block layout) rather than at quantization itself.
    pub Drift {
        code: "DRF001",
        name: "int8-drifts-more-than-int4",
        suite: "drift",
        scope: Scope::ModelPrompt,
        summary: "Int8 does not mismatch more than Int4 plus slack",
        // Two generations.
        cost: 2,
    }
}

impl Check for Drift {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let oracle = cx.oracle()?;
        let int8 = generate(cx, &cx.artifact(ArtifactKind::Apr(Quant::Int8))?, false)?;
        let int4 = generate(cx, &cx.artifact(ArtifactKind::Apr(Quant::Int4))?, false)?;
        let c8 = TokenComparison::new(&oracle.tokens, &int8.tokens);
        let c4 = TokenComparison::new(&oracle.tokens, &int4.tokens);
        let slack = cx.thresholds().get::<DriftThresholds>()?.slack;
        Ok(Verdict::judge(
            c8.mismatches <= c4.mismatches + slack,
            Evidence::new(c8.evidence() + c4.evidence(), "tokens"),
            format!(
                "Int8 {} mismatches (first at {:?}), Int4 {} (first at {:?}); allowed Int8 <= Int4 + {slack}",
                c8.mismatches, c8.first_divergence, c4.mismatches, c4.first_divergence
            ),
        ))
    }
}
