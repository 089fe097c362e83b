use crate::judge::trajectory_for;
use crate::llama::generate_native;
use checks_inference::compare::{LogprobAgreement, StepLogprobs};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp's per-step top-k log-probabilities on the native F32 GGUF agree with the
    /// oracle's, by the same measures the logprobs suite holds apr to: mean KL divergence over
    /// the shared top-k (renormalised), same-top-1 rate, largest log-probability difference.
    /// It shows how close an independent runtime gets, which calibrates apr's numbers.
    pub TextLogprobs {
        code: "LCT004",
        name: "native-f32-llamacpp-logprobs-disagree",
        suite: "llamacpp-text",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp's F32 top-k log-probabilities match the oracle's",
    }
}

impl Check for TextLogprobs {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let generation = generate_native(cx, &native)?;
        let trajectory = match trajectory_for(&oracle, &generation, "the native F32 GGUF") {
            Ok(t) => t,
            Err(skip) => return Ok(skip),
        };
        let ours: Vec<StepLogprobs> = trajectory
            .steps
            .iter()
            .map(|s| StepLogprobs {
                chosen: s.token_id,
                top: s.top.iter().map(|t| (t.token_id, t.logprob)).collect(),
            })
            .collect();
        let theirs: Vec<StepLogprobs> = generation
            .steps
            .iter()
            .map(|s| StepLogprobs {
                chosen: s.chosen,
                top: s.top.clone(),
            })
            .collect();
        let a = LogprobAgreement::new(&ours, &theirs);
        if a.shared_entries == 0 {
            return Err(CheckError::NoEvidence(
                "no top-k token in common between llama.cpp and the oracle".into(),
            ));
        }
        let t = &cx.thresholds().logprobs;
        let ok = a.mean_kl <= t.max_mean_kl
            && a.same_top1_rate() >= t.min_same_top1
            && a.max_abs_logprob_diff <= t.max_abs_logprob_diff;
        let containment = a.containment.map(|c| {
            format!(
                "; first different top-1 at step {}: oracle's choice in llama.cpp's top-k: {}, llama.cpp's in the oracle's: {}",
                c.step, c.oracle_choice_in_apr_top_k, c.apr_choice_in_oracle_top_k
            )
        });
        Ok(Verdict::judge(
            ok,
            Evidence::new(a.shared_entries, "log-probs"),
            format!(
                "llama.cpp over {} steps: mean KL {:.2e} (max {:.0e}), same top-1 {:.0}% (min {:.0}%), max |Δ log-prob| {:.2e} (max {:.0e}){}",
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
