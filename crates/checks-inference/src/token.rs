use crate::compare::judge_tokens;
use crate::generation::generate;
use crate::{TieThresholds, TokenThresholds};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A quantized `.apr` generates the oracle's greedy tokens, within the reference's
    /// per-level budget of mismatches (Int8 <= 3/32, Int4 <= 5/32). The first divergence is
    /// located and classified: a tie-flip at a step the oracle nearly tied passes, since
    /// quantization noise may legitimately choose the other branch there.
    pub Token {
        code: "TOK001",
        name: "quantized-tokens-diverge",
        suite: "token",
        scope: Scope::ModelQuantPrompt,
        summary: "quantized tokens stay within the mismatch budget of the oracle",
    }
}

impl Check for Token {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let quant = cx.quant()?;
        let oracle = cx.oracle()?;
        let model = cx.artifact(ArtifactKind::Apr(quant))?;
        let generation = generate(cx, &model, false)?;
        let t = cx.thresholds();
        let (budget, tie) = (t.get::<TokenThresholds>()?, t.get::<TieThresholds>()?);
        let trajectory = oracle.conventional().ok();
        Ok(judge_tokens(
            &format!("{quant} .apr"),
            oracle.conventional_tokens(),
            &generation.produced(),
            trajectory.as_ref(),
            budget.for_quant(quant),
            tie.margin,
        ))
    }
}
