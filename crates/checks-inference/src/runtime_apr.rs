use crate::RuntimeThresholds;
use crate::compare::judge_tokens;
use crate::generation::generate_for;
use std::path::Path;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Prompt, Quant, Scope, Verdict, declare_check,
};
use tmgt_oracle::Oracle;

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
        judge_f32_apr(cx, &model, cx.prompt()?, &oracle)
    }
}

/// RUN001's judgement of the f32 `.apr` at `model` on one prompt: its greedy tokens exactly
/// the oracle's, a stop written out, near-ties forgiven by `[thresholds.runtime]`.
pub fn judge_f32_apr(
    cx: &dyn Context,
    model: &Path,
    prompt: &Prompt,
    oracle: &Oracle,
) -> Result<Verdict, CheckError> {
    let generation = generate_for(cx, model, prompt, false)?;
    let trajectory = oracle.conventional().ok();
    Ok(judge_tokens(
        "f32 .apr",
        oracle.conventional_tokens(),
        &generation.produced(),
        trajectory.as_ref(),
        0,
        cx.thresholds().get::<RuntimeThresholds>()?.tie_margin,
    ))
}
