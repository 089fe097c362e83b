//! The two numbers a quantization rung carries, kept apart: what the quantization itself costs
//! (the rung's oracles, which ran the rung's own weights, against the float32 oracles of the
//! model it was made from) and what a runtime adds on top (its run of the rung's file against
//! the rung's oracles).

use checks_inference::compare::{LogprobAgreement, StepLogprobs};
use serde::{Deserialize, Serialize};
use tmgt_check::{CheckError, Context, ModelUnderTest, Rung};
use tmgt_oracle::Trajectory;

/// `[thresholds.ladder]`: the most a rung's quantization may cost before its oracles are not
/// trusted to stand for the model (a broken quantizer or dequantizer, not apr, would be wrong).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LadderThresholds {
    /// The rung oracle's perplexity of the evaluation text over the float32 oracle's.
    pub max_cost_ppl_ratio: f64,
}

impl Default for LadderThresholds {
    fn default() -> Self {
        LadderThresholds {
            max_cost_ppl_ratio: 1.5,
        }
    }
}

tmgt_check::declare_thresholds!(LadderThresholds, suite: "ladder");

/// The instance's model and the ladder rung it is; any other model is outside the entry.
pub fn rung_of(cx: &dyn Context) -> Result<(&ModelUnderTest, &Rung), CheckError> {
    let model = cx.model()?;
    match &model.rung {
        Some(rung) => Ok((model, rung)),
        None => Err(CheckError::OutsideEntry(format!(
            "{} is no rung of a quantization ladder",
            model.name
        ))),
    }
}

/// What quantizing cost, read from the two sets of oracles alone.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub ppl_f32: f64,
    pub ppl_rung: f64,
    pub ppl_ratio: f64,
    /// Per prompt: the first step where the rung's greedy continuation leaves the float32
    /// one (`None`: the same tokens throughout).
    pub flips: Vec<(String, Option<usize>)>,
    /// Mean top-20 KL(float32 || rung) over the steps both continuations share.
    pub mean_kl: f64,
}

/// The rung's oracles against its base model's float32 ones. The evaluation text must be
/// scored on the same ids, or the ratio would compare two texts.
pub fn cost(cx: &dyn Context, rung: &Rung) -> Result<Cost, CheckError> {
    let input = |reason: String| CheckError::Input {
        what: format!("the float32 oracles of {}", rung.base),
        reason,
    };
    let base_ppl =
        tmgt_oracle::load_perplexity(&rung.base_oracle_dir).map_err(|e| input(e.to_string()))?;
    let rung_ppl = cx.perplexity_oracle()?;
    if base_ppl.token_ids.is_none() || base_ppl.token_ids != rung_ppl.token_ids {
        return Err(input(format!(
            "{} and {} did not score the same token ids",
            base_ppl.path.display(),
            rung_ppl.path.display()
        )));
    }
    let mut flips = Vec::new();
    let (mut kl_sum, mut kl_steps) = (0.0, 0usize);
    for (i, prompt) in cx.prompts().iter().enumerate() {
        let base = tmgt_oracle::load(&rung.base_oracle_dir, &prompt.name)
            .map_err(|e| input(e.to_string()))?;
        let ours = cx.prompt_oracle(i)?;
        let (b, o) = (base.plain()?, ours.plain()?);
        flips.push((
            prompt.name.clone(),
            b.tokens.iter().zip(o.tokens).position(|(x, y)| x != y),
        ));
        let agreement = LogprobAgreement::new(
            &StepLogprobs::from_oracle(b.steps),
            &StepLogprobs::from_oracle(o.steps),
        );
        kl_sum += agreement.mean_kl * agreement.steps as f64;
        kl_steps += agreement.steps;
    }
    Ok(Cost {
        ppl_f32: base_ppl.perplexity,
        ppl_rung: rung_ppl.perplexity,
        ppl_ratio: rung_ppl.perplexity / base_ppl.perplexity,
        flips,
        mean_kl: if kl_steps == 0 {
            0.0
        } else {
            kl_sum / kl_steps as f64
        },
    })
}

/// One runtime's error on a rung's file against the rung's oracle, over every prompt.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KernelError {
    /// Steps compared (up to and including each prompt's first departure).
    pub steps: usize,
    /// Largest |log-prob difference| of the oracle's chosen token.
    pub max_chosen_logprob_diff: f64,
    /// Mean top-20 KL(oracle || runtime) per step.
    pub mean_kl: f64,
    /// Departures where the oracle was sure (margin at or above the tie margin): prompt,
    /// step, margin.
    pub divergences: Vec<(String, usize, f64)>,
    /// Departures at near-ties, which float noise may flip.
    pub tie_flips: usize,
}

impl KernelError {
    /// Adds one prompt's continuation: `theirs` against the oracle `trajectory`.
    pub fn add(
        &mut self,
        prompt: &str,
        trajectory: &Trajectory<'_>,
        theirs: &[StepLogprobs],
        tie_margin: f64,
    ) {
        let ours = StepLogprobs::from_oracle(trajectory.steps);
        let agreement = LogprobAgreement::new(&ours, theirs);
        let total_kl =
            self.mean_kl * self.steps as f64 + agreement.mean_kl * agreement.steps as f64;
        self.steps += agreement.steps;
        self.mean_kl = if self.steps == 0 {
            0.0
        } else {
            total_kl / self.steps as f64
        };
        for (step, (o, t)) in trajectory.steps.iter().zip(theirs).enumerate() {
            if let Some((_, lp)) = t.top.iter().find(|(id, _)| *id == o.token_id) {
                self.max_chosen_logprob_diff =
                    self.max_chosen_logprob_diff.max((o.logprob - lp).abs());
            }
            if o.token_id != t.chosen {
                if o.margin >= tie_margin {
                    self.divergences.push((prompt.to_string(), step, o.margin));
                } else {
                    self.tie_flips += 1;
                }
                break;
            }
        }
    }

    /// A runtime that stopped before its first token, on an oracle whose continuation (plain
    /// or BOS-prefixed) is its end-of-sequence token alone: one step that agrees, or a
    /// departure at step 0 where the oracle was sure.
    pub fn add_stop_at_once(
        &mut self,
        prompt: &str,
        oracle: &tmgt_oracle::Oracle,
        tie_margin: f64,
    ) {
        let stops_at_once = [oracle.plain().ok(), oracle.with_bos().ok()]
            .into_iter()
            .flatten()
            .find(|t| t.tokens.first().is_some_and(|first| t.eos.contains(first)));
        self.steps += 1;
        if stops_at_once.is_none() {
            let margin = oracle
                .conventional()
                .ok()
                .and_then(|t| t.steps.first().map(|s| s.margin))
                .unwrap_or(f64::INFINITY);
            if margin >= tie_margin {
                self.divergences.push((prompt.to_string(), 0, margin));
            } else {
                self.tie_flips += 1;
            }
        }
    }

    /// Within `max_logprob_diff` and no confident departure.
    pub fn within(&self, max_logprob_diff: f64) -> bool {
        self.max_chosen_logprob_diff <= max_logprob_diff && self.divergences.is_empty()
    }

    /// "max |Δ log-prob| 5.5e-2, mean KL 1.1e-4 over 128 steps, 1 departure (greeting step 3,
    /// margin 0.8)".
    pub fn describe(&self) -> String {
        let mut s = format!(
            "max |Δ log-prob| {:.2e}, mean KL {:.1e} over {} steps",
            self.max_chosen_logprob_diff, self.mean_kl, self.steps
        );
        if let Some((prompt, step, margin)) = self.divergences.first() {
            s.push_str(&format!(
                ", {} confident departure(s) (first: {prompt} step {step}, oracle margin {margin:.2})",
                self.divergences.len()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_oracle::{Step, TopEntry};

    fn step(token: u32, logprob: f64, margin: f64) -> Step {
        Step {
            token_id: token,
            logprob,
            margin,
            top: vec![
                TopEntry {
                    token_id: token,
                    logprob,
                },
                TopEntry {
                    token_id: 99,
                    logprob: logprob - margin,
                },
            ],
        }
    }

    fn theirs(token: u32, logprob: f64) -> StepLogprobs {
        StepLogprobs {
            chosen: token,
            top: vec![(token, logprob), (99, logprob - 1.0)],
        }
    }

    #[test]
    fn a_confident_departure_is_counted_and_a_near_tie_is_not() {
        let steps = [step(1, -0.1, 2.0), step(2, -0.5, 0.05), step(3, -0.2, 3.0)];
        let trajectory = Trajectory {
            bos: None,
            prompt_token_ids: &[],
            tokens: &[1, 2, 3],
            text: "",
            steps: &steps,
            eos: &[],
        };
        let mut error = KernelError::default();
        error.add("a", &trajectory, &[theirs(1, -0.12), theirs(7, -0.4)], 0.1);
        assert_eq!(error.tie_flips, 1);
        assert!(error.divergences.is_empty());
        assert!((error.max_chosen_logprob_diff - 0.02).abs() < 1e-12);
        assert!(error.within(0.05) && !error.within(0.01));
        error.add(
            "b",
            &trajectory,
            &[theirs(1, -0.1), theirs(2, -0.5), theirs(8, -0.2)],
            0.1,
        );
        assert_eq!(error.divergences, [("b".to_string(), 2, 3.0)]);
        assert!(!error.within(1.0));
        assert_eq!(error.steps, 5);
    }
}
