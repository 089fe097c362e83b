use crate::compare::judge_tokens;
use crate::generation::generate;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// apr running the unquantized `.apr` reproduces the oracle's greedy tokens exactly. There
    /// is no quantization to blame at f32, so any divergence the oracle did not nearly tie is
    /// a runtime bug (kernels, RoPE, attention, normalisation).
    pub RuntimeApr {
        code: "RUN001",
        name: "f32-apr-runtime-diverges",
        suite: "runtime",
        scope: Scope::ModelPrompt,
        summary: "f32 .apr reproduces the oracle's tokens exactly",
    }
}

impl Check for RuntimeApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let model = cx.artifact(ArtifactKind::Apr(Quant::F32))?;
        let generation = generate(cx, &model, false)?;
        let trajectory = oracle.plain().ok();
        let t = &cx.thresholds().runtime;
        Ok(judge_tokens(
            "f32 .apr",
            &oracle.tokens,
            &generation.produced(),
            trajectory.as_ref(),
            0,
            t.tie_margin,
        ))
    }
}
