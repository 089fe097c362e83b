use crate::compare::judge_tokens;
use crate::generation::generate;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Status, Verdict, declare_check,
};

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
        let t = &cx.thresholds().runtime;
        let label = if trajectory.bos.is_some() {
            "f32 GGUF (vs BOS-prefixed oracle)"
        } else {
            "f32 GGUF"
        };
        let verdict = judge_tokens(
            label,
            trajectory.tokens,
            &generation.produced(),
            Some(&trajectory),
            0,
            t.tie_margin,
        );
        if verdict.status != Status::Pass {
            return Ok(verdict);
        }
        // Tokens agree: hold the chosen tokens' log-probabilities to float noise.
        let steps = generation.steps.unwrap_or_default();
        let mut worst = (0usize, 0.0f64);
        let mut compared = 0usize;
        for (i, (ours, theirs)) in trajectory.steps.iter().zip(&steps).enumerate() {
            if let Some((_, lp)) = theirs.top.iter().find(|(id, _)| *id == ours.token_id) {
                compared += 1;
                let diff = (ours.logprob - lp).abs();
                if diff > worst.1 {
                    worst = (i, diff);
                }
            }
        }
        if compared == 0 {
            return Err(CheckError::NoEvidence(
                "apr reported no log-probability for any oracle token".into(),
            ));
        }
        let ok = worst.1 <= t.max_logprob_diff;
        Ok(Verdict::judge(
            ok,
            Evidence::new(trajectory.tokens.len() + compared, "tokens and log-probs"),
            format!(
                "{}; chosen-token log-probs differ by at most {:.2e} (step {}, allowed {:.0e}) over {compared} steps",
                verdict.message, worst.1, worst.0, t.max_logprob_diff
            ),
        )
        .with_details(verdict.details))
    }
}
