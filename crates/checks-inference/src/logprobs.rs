use crate::compare::{LogprobAgreement, StepLogprobs};
use crate::generation::generate;
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

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
        let ours: Vec<StepLogprobs> = trajectory
            .steps
            .iter()
            .map(|s| StepLogprobs {
                chosen: s.token_id,
                top: s.top.iter().map(|t| (t.token_id, t.logprob)).collect(),
            })
            .collect();
        let theirs = generation.steps.unwrap_or_default();
        let a = LogprobAgreement::new(&ours, &theirs);
        if a.shared_entries == 0 {
            return Err(CheckError::NoEvidence(
                "no top-k token in common between apr and the oracle".into(),
            ));
        }
        let t = &cx.thresholds().logprobs;
        let ok = a.mean_kl <= t.max_mean_kl
            && a.same_top1_rate() >= t.min_same_top1
            && a.max_abs_logprob_diff <= t.max_abs_logprob_diff;
        let containment = a.containment.map(|c| {
            format!(
                "; first different top-1 at step {}: oracle's choice in apr's top-k: {}, apr's in the oracle's: {}",
                c.step, c.oracle_choice_in_apr_top_k, c.apr_choice_in_oracle_top_k
            )
        });
        Ok(Verdict::judge(
            ok,
            Evidence::new(a.shared_entries, "log-probs"),
            format!(
                "over {} steps: mean KL {:.2e} (max {:.0e}), same top-1 {:.0}% (min {:.0}%), max |Δ log-prob| {:.2e} (max {:.0e}){}",
                a.steps,
                a.mean_kl,
                t.max_mean_kl,
                a.same_top1_rate() * 100.0,
                t.min_same_top1 * 100.0,
                a.max_abs_logprob_diff,
                t.max_abs_logprob_diff,
                containment.unwrap_or_default()
            ),
        )
        .with_details(json!({ "agreement": a, "bos": trajectory.bos })))
    }
}
