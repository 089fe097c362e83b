use crate::draw::{draw, sampling};
use crate::warp::Warp;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The setting drawn at: one temperature, a top-k inside the reported 20, a nucleus.
const WARP: Warp = Warp {
    temperature: 1.5,
    top_k: 10,
    top_p: 0.9,
};
const SEED: u64 = 7;
const STEPS: u32 = 64;

declare_check! {
    /// Every token apr draws at temperature 1.5, top-k 10 and top-p 0.9 (64 steps, a fixed
    /// seed, `--logprobs 20`) lies where HF's warpers allow it, computed from the log-probs
    /// apr reports for that step (its logits before temperature): among the top 10 (a tie with
    /// the 10th counts in), and in the nucleus HF's order gives, temperature first, then top-k,
    /// then the smallest set of those whose renormalized mass reaches 0.9. A draw outside the
    /// support is a sampler fault whatever its distribution; the message names the step, the
    /// token's rank and the nucleus's size.
    pub Support {
        code: "SMP003",
        name: "sampling-draw-outside-support",
        suite: "sampling",
        scope: Scope::ModelPrompt,
        summary: "every token apr draws lies in the top-k and HF's nucleus of its own logits",
        cost: 2,
    }
}

impl Check for Support {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let flags = sampling(
            WARP.temperature,
            WARP.top_k as u32,
            Some(WARP.top_p),
            Some(SEED),
        );
        let generation = draw(cx, &cx.prompt()?.text, flags, STEPS, true)?;
        if let Some(skip) = crate::draw::ended_at_once(cx, &generation)? {
            return Ok(skip);
        }
        let steps = generation.steps.clone().unwrap_or_default();
        if steps.is_empty() {
            return Err(CheckError::NoEvidence(format!(
                "apr reported no step of its draw (exit {})",
                generation.exit_code
            )));
        }
        let mut outside = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let rank = step.top.iter().position(|(id, _)| *id == step.chosen);
            let kept = WARP.distribution(&step.top);
            if !kept.iter().any(|(id, _)| *id == step.chosen) {
                outside.push(json!({
                    "step": i,
                    "token": step.chosen,
                    "rank": rank.map(|r| r + 1),
                    "nucleus": kept.len(),
                }));
            }
        }
        let evidence = Evidence::new(steps.len(), "draws");
        let settings = WARP.to_string();
        Ok(if outside.is_empty() {
            Verdict::pass(
                evidence,
                format!(
                    "all {} draws ({settings}) lie in the top-k and HF's nucleus of apr's \
                     reported logits",
                    steps.len()
                ),
            )
        } else {
            Verdict::fail(
                evidence,
                format!(
                    "{} of {} draws ({settings}) lie outside HF's support of apr's own logits, \
                     first: {}",
                    outside.len(),
                    steps.len(),
                    outside[0]
                ),
            )
        }
        .with_facts(json!({ "outside": outside })))
    }
}
