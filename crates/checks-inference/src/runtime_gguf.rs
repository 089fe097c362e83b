use crate::RuntimeThresholds;
use crate::compare::{judge_chosen_logprobs, judge_tokens};
use crate::generation::{Generation, generate};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Status, Verdict, declare_check};
use tmgt_oracle::Trajectory;

declare_check! {
    /// apr running its own f32 GGUF export reproduces the oracle's greedy tokens exactly, and
    /// the chosen tokens' log-probabilities stay within float noise of the oracle's. The run
    /// is compared with the oracle trajectory whose prompt ids equal apr's (plain or
    /// BOS-prefixed), so a BOS difference reported by PRM002 is not blamed again here.
    pub RuntimeGguf {
        code: "RUN002",
        name: "f32-gguf-runtime-diverges",
        suite: "runtime",
        scope: Scope::ModelPrompt,
        summary: "f32 GGUF reproduces the oracle's tokens and log-probabilities",
    }
}

impl Check for RuntimeGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let generation = generate(cx, &gguf, true)?;
        let prompt_ids = generation.prompt_ids.clone().unwrap_or_default();
        let Some(trajectory) = oracle.trajectory_for_prompt(&prompt_ids) else {
            return Ok(Verdict::skip(format!(
                "apr's prompt ids {prompt_ids:?} match no oracle trajectory: the tokenizer difference is PRM001's finding"
            )));
        };
        let label = if trajectory.bos.is_some() {
            "f32 GGUF (vs BOS-prefixed oracle)"
        } else {
            "f32 GGUF"
        };
        judge_gguf_run(cx, label, &trajectory, generation)
    }
}

/// RUN002's judgement of an apr run on a GGUF against the oracle trajectory that starts from
/// the ids apr fed: its greedy tokens (near-ties forgiven by `[thresholds.runtime]`), then,
/// where they agree, its chosen-token log-probabilities within float noise.
pub fn judge_gguf_run(
    cx: &dyn Context,
    label: &str,
    trajectory: &Trajectory<'_>,
    generation: Generation,
) -> Result<Verdict, CheckError> {
    let t = &cx.thresholds().get::<RuntimeThresholds>()?;
    let verdict = judge_tokens(
        label,
        trajectory.tokens,
        &generation.produced(),
        Some(trajectory),
        0,
        t.tie_margin,
    );
    if verdict.status != Status::Pass {
        return Ok(verdict);
    }
    judge_chosen_logprobs(
        "apr",
        verdict,
        trajectory,
        &generation.steps.unwrap_or_default(),
        t.max_logprob_diff,
    )
}
