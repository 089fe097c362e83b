use crate::draw::sampling;
use crate::surfaces::Conversations;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::Oracle;

/// The seed the check draws with, and the one after it.
const SEED: u64 = 20_261_206;
/// The significance level of "two seeds answering alike means the seed is not used".
const ALPHA: f64 = 1e-3;
/// The temperature of the draws: above 1, so a faithful sampler spreads its draws further.
const TEMPERATURE: f64 = 1.5;

declare_check! {
    /// `apr run --batch-jsonl` takes `--seed` as `apr run` does: at temperature 1.5 with top-k
    /// off, the same seed twice gives the same answers to the single-turn conversations of the
    /// model's chat oracles, and the next seed gives others. All answers agreeing under two
    /// seeds fails only when improbable: a conversation repeats its answer with at most the
    /// probability of HF's likeliest first token at that temperature (over the top 20 HF
    /// records, so an upper bound), counted on the conversations whose greedy batch answer is
    /// HF's continuation of one of the model's templates (the batch renders its own ChatML
    /// whatever the file's: where the continuations agree, that rendering's distribution is the
    /// batch's). The p-value is their product, alpha 1e-3; a model too sure of its
    /// conversations to tell seeds apart is a skip.
    pub BatchSeeds {
        code: "SMP007",
        name: "batch-seed-ignored",
        suite: "sampling",
        scope: Scope::Model,
        summary: "--batch-jsonl repeats its answers under one seed and changes them under the next",
        cost: 2,
    }
}

impl Check for BatchSeeds {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let conversations = Conversations::of(cx)?;
        let greedy = conversations.batch(cx, &apr_client::Sampling::default())?;
        let seeded = |seed| conversations.batch(cx, &sampling(TEMPERATURE, 0, None, Some(seed)));
        let (first, again, next) = (seeded(SEED)?, seeded(SEED)?, seeded(SEED + 1)?);
        let evidence = Evidence::new(3 * first.len(), "answers");
        let facts = json!({ "seed": SEED, "first": first, "again": again, "next_seed": next });
        if first.is_empty() {
            return Err(CheckError::NoEvidence("the batch answered nothing".into()));
        }
        if again != first {
            return Ok(Verdict::fail(
                evidence,
                format!(
                    "seed {SEED} answers otherwise the second time: the seed does not fix the draw"
                ),
            )
            .with_facts(facts));
        }
        if next != first {
            let differ = first
                .iter()
                .filter(|(k, v)| next.get(*k) != Some(*v))
                .count();
            return Ok(Verdict::pass(
                evidence,
                format!(
                    "seed {SEED} repeats its {} answers and seed {} changes {differ} of them",
                    first.len(),
                    SEED + 1
                ),
            )
            .with_facts(facts));
        }
        let templates = checks_chat::cases::templates(cx)?;
        let bounds: Vec<(String, f64)> = greedy
            .iter()
            .filter_map(|(name, answer)| {
                templates
                    .iter()
                    .flat_map(checks_chat::cases::single_turns)
                    .filter(|(conversation, _, _)| conversation == name)
                    .find_map(|(_, _, oracle)| likeliest_first_token(oracle, answer, TEMPERATURE))
                    .map(|q| (name.clone(), q))
            })
            .collect();
        if bounds.is_empty() {
            return Ok(Verdict::skip(format!(
                "seeds {SEED} and {} give the same answers, and no greedy batch answer is HF's \
                 continuation of any of the model's templates, so no distribution tells how \
                 likely that is",
                SEED + 1
            )));
        }
        let p: f64 = bounds.iter().map(|(_, q)| q).product();
        if p < ALPHA {
            Ok(Verdict::fail(
                evidence,
                format!(
                    "seeds {SEED} and {} give the same {} answers; a faithful sampler repeats \
                     them with probability at most {p:.2e} (p-value over the {} conversations \
                     whose distribution is HF's; alpha {ALPHA:.0e}): the seed does not reach \
                     the batch's sampler",
                    SEED + 1,
                    first.len(),
                    bounds.len()
                ),
            )
            .with_facts(json!({ "seed": SEED, "answers": first, "bounds": bounds })))
        } else {
            Ok(Verdict::skip(format!(
                "seeds {SEED} and {} give the same answers, which a faithful sampler repeats \
                 with probability up to {p:.3} over {} conversations: too sure to tell seeds \
                 apart",
                SEED + 1,
                bounds.len()
            )))
        }
    }
}

/// The probability of HF's likeliest first token at `temperature`, over the top tokens HF
/// records (an upper bound on it over the whole vocabulary), where the batch's greedy `answer`
/// is HF's continuation (plain or BOS-prefixed); `None` elsewhere.
fn likeliest_first_token(oracle: &Oracle, answer: &str, temperature: f64) -> Option<f64> {
    let step = oracle.trajectory_saying(answer)?.steps.first()?;
    let probabilities: Vec<f64> = step
        .top
        .iter()
        .map(|t| (t.logprob / temperature).exp())
        .collect();
    let mass: f64 = probabilities.iter().sum();
    let top = probabilities.iter().copied().fold(0.0, f64::max);
    (mass > 0.0).then(|| top / mass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(text: &str, logprobs: &[f64]) -> Oracle {
        let top: Vec<_> = logprobs
            .iter()
            .enumerate()
            .map(|(i, lp)| json!({ "token_id": i, "logprob": lp }))
            .collect();
        serde_json::from_value(json!({
            "model": "m", "model_slug": "m", "prompt": "p", "prompt_token_ids": [1],
            "tokens": [0], "text": text,
            "max_new_tokens": 1,
            "steps": [{ "token_id": 0, "logprob": logprobs[0], "margin": 1.0, "top": top }],
        }))
        .unwrap()
    }

    #[test]
    fn the_bound_is_the_likeliest_token_renormalized_over_the_recorded_ones() {
        let o = oracle(" yes", &[0.5f64.ln(), 0.25f64.ln(), 0.25f64.ln()]);
        assert!((likeliest_first_token(&o, "yes", 1.0).unwrap() - 0.5).abs() < 1e-12);
        let partial = oracle(" yes", &[0.4f64.ln(), 0.1f64.ln()]);
        assert!((likeliest_first_token(&partial, " yes ", 1.0).unwrap() - 0.8).abs() < 1e-12);
        // At temperature 2 the weights are the square roots: 0.632 / (0.632 + 0.316).
        let hot = likeliest_first_token(&partial, "yes", 2.0).unwrap();
        assert!((hot - 2.0 / 3.0).abs() < 1e-12, "{hot}");
    }

    #[test]
    fn another_answer_than_hf_s_gives_no_bound() {
        let o = oracle(" yes", &[0.5f64.ln(), 0.5f64.ln()]);
        assert_eq!(likeliest_first_token(&o, "no", 1.0), None);
    }
}
