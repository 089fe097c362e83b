use crate::ppl_ceiling::perplexity;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr's perplexity of the evaluation text on the f32 GGUF equals the oracle's (HF float32,
    /// same text, no BOS) within a ratio bound. A ceiling only catches a model that stopped
    /// working; this catches a runtime that scores the same text differently.
    pub PerplexityOracle {
        code: "PPL003",
        name: "perplexity-differs-from-oracle",
        suite: "ppl",
        scope: Scope::Model,
        summary: "f32 GGUF perplexity matches the oracle's",
        // An `eval` of the evaluation text on the GGUF: the longest call of a run.
        cost: 8,
    }
}

impl Check for PerplexityOracle {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.perplexity_oracle()?;
        let apr = perplexity(cx, ArtifactKind::Gguf)?;
        let max_ratio = cx.thresholds().perplexity.max_ratio;
        let ratio = apr.perplexity / oracle.perplexity;
        let evidence = Evidence::new(
            apr.tokens_evaluated.min(oracle.token_count as u64),
            "tokens",
        );
        if apr.tokens_evaluated != oracle.token_count as u64 {
            return Ok(Verdict::fail(
                evidence,
                format!(
                    "apr scored {} tokens of the text, the oracle {}: the tokenizers split it differently (PPL apr {:.3}, oracle {:.3})",
                    apr.tokens_evaluated, oracle.token_count, apr.perplexity, oracle.perplexity
                ),
            ));
        }
        Ok(Verdict::judge(
            ratio.is_finite() && ratio <= max_ratio && ratio >= 1.0 / max_ratio,
            evidence,
            format!(
                "PPL apr {:.4}, oracle {:.4}: ratio {ratio:.4}, difference {:+.4} (allowed ratio within {max_ratio})",
                apr.perplexity,
                oracle.perplexity,
                apr.perplexity - oracle.perplexity
            ),
        ))
    }
}
