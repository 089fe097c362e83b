use crate::draw::{draw, sampling};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The seed the check draws with, and the one after it.
const SEED: u64 = 20_261_206;
/// The probability below which two seeds drawing the same continuation means the seed is not
/// used (the significance level of that test).
const ALPHA: f64 = 1e-3;

declare_check! {
    /// apr's seed decides its draw and nothing else does: at temperature 1 with top-k off, the
    /// same seed twice gives the same tokens, and so does the same seed with `--logprobs 20`
    /// (reporting must not consume randomness); the next seed gives other tokens. Two seeds
    /// agreeing is a failure only when it was improbable: the chance that an independent draw
    /// repeats the first continuation is the product of its tokens' probabilities (apr's own
    /// log-probs, exact at temperature 1), and the check fails when that is below 1e-3 (the
    /// stated alpha; the message gives the p-value). A prompt the model is too sure of to tell
    /// seeds apart is a skip saying so.
    pub Seeds {
        code: "SMP002",
        name: "sampling-seed-ignored",
        suite: "sampling",
        scope: Scope::ModelPrompt,
        summary: "the same seed repeats apr's draw, logprobs or not, and the next seed does not",
        cost: 2,
    }
}

impl Check for Seeds {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let n = cx.max_new_tokens();
        let first = draw(
            cx,
            &cx.prompt()?.text,
            sampling(1.0, 0, None, Some(SEED)),
            n,
            false,
        )?;
        let again = draw(
            cx,
            &cx.prompt()?.text,
            sampling(1.0, 0, None, Some(SEED)),
            n,
            false,
        )?;
        let reported = draw(
            cx,
            &cx.prompt()?.text,
            sampling(1.0, 0, None, Some(SEED)),
            n,
            true,
        )?;
        let next = draw(
            cx,
            &cx.prompt()?.text,
            sampling(1.0, 0, None, Some(SEED + 1)),
            n,
            false,
        )?;
        let evidence = Evidence::new(4 * first.tokens.len(), "tokens");
        let facts = json!({
            "seed": SEED,
            "first": first.tokens,
            "again": again.tokens,
            "with_logprobs": reported.tokens,
            "next_seed": next.tokens,
        });
        if let Some(skip) = crate::draw::ended_at_once(cx, &first)? {
            return Ok(skip);
        }
        if first.tokens.is_empty() {
            return Err(CheckError::NoEvidence(format!(
                "apr drew no token at seed {SEED} (exit {})",
                first.exit_code
            )));
        }
        if again.tokens != first.tokens {
            return Ok(Verdict::fail(
                evidence,
                format!(
                    "seed {SEED} drew {:?} and then {:?}: the same seed does not repeat the draw",
                    first.tokens, again.tokens
                ),
            )
            .with_facts(facts));
        }
        if reported.tokens != first.tokens {
            return Ok(Verdict::fail(
                evidence,
                format!(
                    "seed {SEED} draws {:?} with --logprobs 20 and {:?} without: reporting \
                     log-probs changes the draw",
                    reported.tokens, first.tokens
                ),
            )
            .with_facts(facts));
        }
        if next.tokens != first.tokens {
            return Ok(Verdict::pass(
                evidence,
                format!(
                    "seed {SEED} repeats its {} tokens, with --logprobs too, and seed {} draws \
                     others",
                    first.tokens.len(),
                    SEED + 1
                ),
            )
            .with_facts(facts));
        }
        // Both seeds drew the same continuation: how likely was that? A token outside the
        // reported top 20 is bounded by the 20th's probability, so p is an upper bound.
        let steps = reported.steps.clone().unwrap_or_default();
        let log_p: f64 = steps
            .iter()
            .map(|s| {
                s.top
                    .iter()
                    .find(|(id, _)| *id == s.chosen)
                    .or(s.top.last())
                    .map_or(0.0, |(_, lp)| *lp)
            })
            .sum();
        let p = log_p.exp();
        if p < ALPHA {
            Ok(Verdict::fail(
                evidence,
                format!(
                    "seeds {SEED} and {} draw the same {} tokens, which an independent draw \
                     repeats with probability {p:.2e} (p-value; alpha {ALPHA:.0e}): the seed \
                     does not reach the sampler",
                    SEED + 1,
                    first.tokens.len()
                ),
            )
            .with_facts(facts))
        } else {
            Ok(Verdict::skip(format!(
                "seeds {SEED} and {} draw the same continuation, which the model repeats with \
                 probability {p:.3} at temperature 1: too sure of this prompt to tell seeds apart",
                SEED + 1
            )))
        }
    }
}
