use crate::draw::draw;
use crate::warp::{Warp, pit};

/// The seed of the transform's own uniforms (not apr's).
const PIT_SEED: u64 = 20_261_206;
use apr_client::{Real, Sampling};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Seeds per setting (tokens per draw: `[thresholds.sampling] calibration_tokens`).
const SEEDS: [u64; 4] = [11, 12, 13, 14];
/// The significance level of the whole check, split evenly over its two tests.
pub const ALPHA: f64 = 1e-3;

/// The settings drawn at: two temperatures, each with top-p off and at 0.9, top-k 20 (the
/// depth apr reports, so the whole support is seen).
pub const SETTINGS: [Warp; 4] = [
    Warp {
        temperature: 0.7,
        top_k: 20,
        top_p: 1.0,
    },
    Warp {
        temperature: 0.7,
        top_k: 20,
        top_p: 0.9,
    },
    Warp {
        temperature: 1.3,
        top_k: 20,
        top_p: 1.0,
    },
    Warp {
        temperature: 1.3,
        top_k: 20,
        top_p: 0.9,
    },
];

declare_check! {
    /// apr's draws follow the distribution HF's warpers give its own reported logits. For each
    /// of four settings (temperature 0.7 and 1.3, top-p off and 0.9, top-k 20: the depth apr
    /// reports), four seeds draw `[thresholds.sampling] calibration_tokens` tokens (256) of the
    /// run's prompt HF continues longest, with `--logprobs 20`; at
    /// each step HF's distribution q over the reported logits (temperature, then top-k, then
    /// top-p) gives the drawn token a randomized probability-integral transform u, uniform on
    /// (0, 1) when apr samples q. Two tests per setting, each at an eighth of the stated alpha
    /// (1e-3 in all, Bonferroni): a chi-square of u over 10 bins (9 degrees of freedom), and a
    /// z-test of the drawn tokens' total log-likelihood under q against its mean and variance;
    /// a draw q gives no probability fails at once. The message gives the sample and each
    /// test's smallest p-value. Their power is shown by tests that feed them the draws of wrong
    /// samplers: temperature ignored or squared, top-k off by one, top-p before temperature, a
    /// stuck random number.
    pub Calibration {
        code: "SMP005",
        name: "sampling-distribution-differs",
        suite: "sampling",
        scope: Scope::Model,
        summary: "apr's draws follow HF's warped distribution of its own logits (chi-square and likelihood tests)",
        cost: 6,
    }
}

impl Check for Calibration {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        // The prompt HF continues longest (a prompt the model ends at once gives few draws).
        let (_, prompt) = cx
            .prompts()
            .iter()
            .enumerate()
            .rev() // the first of equals
            .max_by_key(|(i, _)| cx.prompt_oracle(*i).map_or(0, |o| o.tokens.len()))
            .ok_or_else(|| CheckError::NoEvidence("the run has no prompt to draw from".into()))?;
        let tokens = cx
            .thresholds()
            .get::<crate::SamplingThresholds>()?
            .calibration_tokens;
        let mut steps = Vec::new();
        let mut per_setting = Vec::new();
        for warp in SETTINGS {
            let before = steps.len();
            for seed in SEEDS {
                let flags = Sampling {
                    temperature: Some(Real(warp.temperature)),
                    top_k: Some(warp.top_k as u32),
                    top_p: (warp.top_p < 1.0).then_some(Real(warp.top_p)),
                    seed: Some(seed),
                    ..Sampling::default()
                };
                let generation = draw(cx, &prompt.text, flags, tokens, true)?;
                for step in generation.steps.unwrap_or_default() {
                    steps.push((warp, step));
                }
            }
            per_setting.push(json!({ "setting": warp.to_string(), "steps": steps.len() - before }));
        }
        let outcome = pit::test(&steps, PIT_SEED);
        if outcome.sample == 0 {
            return Err(CheckError::NoEvidence(
                "apr reported no step of any draw".into(),
            ));
        }
        let facts = json!({
            "tests": outcome,
            "alpha": ALPHA,
            "draws": per_setting,
        });
        let summary = outcome.summary(ALPHA);
        Ok(Verdict::judge(
            outcome.accepts(ALPHA),
            Evidence::new(outcome.sample, "draws"),
            if outcome.accepts(ALPHA) {
                format!("apr's draws fit HF's warped distribution: {summary}")
            } else {
                format!("apr's draws do not follow HF's warped distribution: {summary}")
            },
        )
        .with_facts(facts))
    }
}
