use crate::LogprobThresholds;
use crate::compare::judge_logprobs;
use crate::generation::generate;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's per-step top-k log-probabilities on the f32 GGUF agree with the oracle's: mean
    /// KL divergence over the shared top-k (renormalised), same-top-1 rate, and the largest
    /// log-probability difference, over the steps both sides share a context for. Agreement of
    /// the whole distribution catches numeric drift long before it flips a token.
    pub Logprobs {
        code: "LPB001",
        name: "gguf-logprobs-disagree",
        suite: "logprobs",
        scope: Scope::ModelPrompt,
        summary: "GGUF top-k log-probabilities match the oracle's",
    }
}

impl Check for Logprobs {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let generation = generate(cx, &cx.artifact(ArtifactKind::Gguf)?, true)?;
        let prompt_ids = generation.prompt_ids.clone().unwrap_or_default();
        let Some(trajectory) = oracle.trajectory_for_prompt(&prompt_ids) else {
            return Ok(Verdict::skip(format!(
                "apr's prompt ids {prompt_ids:?} match no oracle trajectory (PRM001 reports it), or the oracle has no log-probs"
            )));
        };
        let theirs = generation.steps.unwrap_or_default();
        if theirs.is_empty() && generation.stopped {
            // apr lists no step for the EOS it stops at, so a stop at once leaves nothing.
            return Ok(Verdict::skip(
                "apr stopped at EOS before its first token and reports no log-probabilities for the step it stopped at: nothing to compare (RUN002 judges the stop)",
            ));
        }
        judge_logprobs(
            "apr",
            &trajectory,
            &theirs,
            &cx.thresholds().get::<LogprobThresholds>()?,
        )
    }
}
