use crate::draw::{draw, sampling};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::judge_tokens;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Status, Verdict, declare_check};

declare_check! {
    /// At its limits apr's sampler decodes greedily, as HF's warpers do: temperature 1 with
    /// top-k 1; temperature 1 with top-k off and top-p 1e-6 (the nucleus is the top token);
    /// and temperature 1e-3 (differences of a hundredth of a logit become ten logits, so a
    /// flip is allowed only where the oracle's margin is under 1e-2). Each run's tokens are
    /// judged against the greedy oracle as the inference suites judge them. A sampler that
    /// ignores a flag, applies it after drawing or draws from the wrong end fails here,
    /// deterministically, before any statistics.
    pub DegenerateLimits {
        code: "SMP001",
        name: "sampling-limits-not-greedy",
        suite: "sampling",
        scope: Scope::ModelPrompt,
        summary: "apr run at top-k 1, top-p 1e-6 and temperature 1e-3 decodes greedily",
        cost: 2,
    }
}

impl Check for DegenerateLimits {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let tie = cx.thresholds().get::<RuntimeThresholds>()?.tie_margin;
        let limits = [
            ("temperature 1, top-k 1", sampling(1.0, 1, None, None), tie),
            (
                "temperature 1, top-p 1e-6",
                sampling(1.0, 0, Some(1e-6), None),
                tie,
            ),
            (
                "temperature 1e-3",
                sampling(1e-3, 0, None, None),
                tie.max(1e-2),
            ),
        ];
        let mut evidence = 0u64;
        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        for (label, flags, tie_margin) in limits {
            let generation = draw(cx, &cx.prompt()?.text, flags, cx.max_new_tokens(), true)?;
            let fed = generation.prompt_ids.clone().unwrap_or_default();
            let Some(trajectory) = oracle.trajectory_for_prompt(&fed) else {
                return Ok(Verdict::skip(format!(
                    "apr feeds the prompt as {fed:?}, which matches no trajectory of the \
                     oracle: the prompt checks judge the encoding"
                )));
            };
            let verdict = judge_tokens(
                label,
                trajectory.tokens,
                &generation.produced(),
                Some(&trajectory),
                0,
                tie_margin,
            );
            evidence += verdict.evidence.count;
            if verdict.status == Status::Fail {
                failures.push(verdict.message.clone());
            }
            outcomes.push(json!({ "limit": label, "verdict": verdict.status }));
        }
        let message = if failures.is_empty() {
            "apr decodes greedily at top-k 1, top-p 1e-6 and temperature 1e-3".to_string()
        } else {
            format!(
                "apr does not decode greedily at its limits: {}",
                failures.join("; ")
            )
        };
        Ok(Verdict::judge(
            failures.is_empty(),
            Evidence::new(evidence, "tokens"),
            message,
        )
        .with_facts(json!({ "limits": outcomes })))
    }
}
