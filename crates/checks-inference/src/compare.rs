//! Token and log-probability comparison against an oracle trajectory; the token judgement's
//! types (`tmgt_check::outcome`) are the report's own.

use serde::Serialize;
use tmgt_check::outcome::{Classification, Details, TokenComparison, TokenJudgement, Window};
use tmgt_oracle::Trajectory;

/// One side's view of a generated step: the chosen token and its top-k log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLogprobs {
    pub chosen: u32,
    pub top: Vec<(u32, f64)>,
}

/// Log-probability agreement over the steps both sides share a context for (up to and
/// including the first divergence).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogprobAgreement {
    pub steps: usize,
    pub same_top1: usize,
    pub mean_kl: f64,
    pub max_kl: f64,
    pub max_abs_logprob_diff: f64,
    /// Shared top-k entries compared across all steps.
    pub shared_entries: usize,
    /// At the first differing step: is each side's choice in the other's top-k?
    pub containment: Option<Containment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Containment {
    pub step: usize,
    pub oracle_choice_in_apr_top_k: bool,
    pub apr_choice_in_oracle_top_k: bool,
}

impl LogprobAgreement {
    pub fn same_top1_rate(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.same_top1 as f64 / self.steps as f64
        }
    }

    pub fn new(oracle: &[StepLogprobs], apr: &[StepLogprobs]) -> LogprobAgreement {
        let mut out = LogprobAgreement {
            steps: 0,
            same_top1: 0,
            mean_kl: 0.0,
            max_kl: 0.0,
            max_abs_logprob_diff: 0.0,
            shared_entries: 0,
            containment: None,
        };
        let mut kl_sum = 0.0;
        for (step, (o, a)) in oracle.iter().zip(apr).enumerate() {
            out.steps += 1;
            let mut p = Vec::new();
            let mut q = Vec::new();
            for (id, lp) in &o.top {
                if let Some((_, lq)) = a.top.iter().find(|(aid, _)| aid == id) {
                    p.push(*lp);
                    q.push(*lq);
                    out.max_abs_logprob_diff = out.max_abs_logprob_diff.max((lp - lq).abs());
                }
            }
            out.shared_entries += p.len();
            let kl = renormalised_kl(&p, &q);
            kl_sum += kl;
            out.max_kl = out.max_kl.max(kl);
            if o.chosen == a.chosen {
                out.same_top1 += 1;
            } else {
                out.containment = Some(Containment {
                    step,
                    oracle_choice_in_apr_top_k: a.top.iter().any(|(id, _)| *id == o.chosen),
                    apr_choice_in_oracle_top_k: o.top.iter().any(|(id, _)| *id == a.chosen),
                });
                break;
            }
        }
        if out.steps > 0 {
            out.mean_kl = kl_sum / out.steps as f64;
        }
        out
    }
}

impl StepLogprobs {
    /// An oracle trajectory's steps in the shape runtimes are compared in.
    pub fn from_oracle(steps: &[tmgt_oracle::Step]) -> Vec<StepLogprobs> {
        steps
            .iter()
            .map(|s| StepLogprobs {
                chosen: s.token_id,
                top: s.top.iter().map(|t| (t.token_id, t.logprob)).collect(),
            })
            .collect()
    }

    /// apr's `run --logprobs` steps in the shape runtimes are compared in.
    pub fn from_apr(steps: Vec<apr_client::parse::LogprobStep>) -> Vec<StepLogprobs> {
        steps
            .into_iter()
            .map(|s| StepLogprobs {
                chosen: s.chosen,
                top: s.top.into_iter().map(|t| (t.token_id, t.logprob)).collect(),
            })
            .collect()
    }
}

/// Once a runtime's tokens agree with the trajectory (`tokens` passed): the log-probability it
/// gives each oracle token, held to `max_diff` of the oracle's (float noise). Evidence is the
/// tokens plus the log-probabilities compared; none compared is an error, not a pass.
pub fn judge_chosen_logprobs(
    runtime: &str,
    tokens: tmgt_check::Verdict,
    oracle: &Trajectory<'_>,
    theirs: &[StepLogprobs],
    max_diff: f64,
) -> Result<tmgt_check::Verdict, tmgt_check::CheckError> {
    let mut worst = (0usize, 0.0f64);
    let mut compared = 0usize;
    let mut first_beyond = None;
    for (i, (ours, step)) in oracle.steps.iter().zip(theirs).enumerate() {
        if let Some((_, lp)) = step.top.iter().find(|(id, _)| *id == ours.token_id) {
            compared += 1;
            let diff = (ours.logprob - lp).abs();
            if diff > worst.1 {
                worst = (i, diff);
            }
            if diff > max_diff && first_beyond.is_none() {
                first_beyond = Some(i);
            }
        }
        // Past a step the tokens were allowed to differ at (a tie-flip), the two runs read
        // different contexts: their log-probs no longer measure the same thing.
        if step.chosen != ours.token_id {
            break;
        }
    }
    if compared == 0
        && theirs.is_empty()
        && oracle.tokens.len() == 1
        && oracle.stopped_at().is_some()
    {
        // The oracle stops at once and apr lists no step for the EOS it stops at: the stop
        // itself is the evidence.
        return Ok(tmgt_check::Verdict {
            message: format!(
                "{}; {runtime} lists no step for the EOS it stopped at, so no log-probability was compared",
                tokens.message
            ),
            ..tokens
        });
    }
    if compared == 0 {
        return Err(tmgt_check::CheckError::NoEvidence(format!(
            "{runtime} reported no log-probability for any oracle token"
        )));
    }
    Ok(tmgt_check::Verdict::judge(
        worst.1 <= max_diff,
        tmgt_check::Evidence::new(oracle.tokens.len() + compared, "tokens and log-probs"),
        format!(
            "{}; chosen-token log-probs differ by at most {:.2e} (step {}, allowed {max_diff:.0e}) over {compared} steps",
            tokens.message, worst.1, worst.0
        ),
    )
    .with_details(match tokens.details {
        Details::Tokens(mut judged) => {
            judged.logprob_departure = first_beyond;
            Details::Tokens(judged)
        }
        other => other,
    }))
}

/// The verdict on a runtime's log-probabilities against the oracle trajectory: mean KL, same
/// top-1 rate and largest difference within `limits`; the message names `runtime` and, at the
/// first different top-1, whether each side's choice is in the other's top-k.
pub fn judge_logprobs(
    runtime: &str,
    oracle: &Trajectory<'_>,
    theirs: &[StepLogprobs],
    limits: &crate::LogprobThresholds,
) -> Result<tmgt_check::Verdict, tmgt_check::CheckError> {
    let ours = StepLogprobs::from_oracle(oracle.steps);
    let a = LogprobAgreement::new(&ours, theirs);
    if a.shared_entries == 0 {
        // Top-k lists that were both there and share no token are the largest disagreement
        // there is: a failure. Lists missing on a side compared nothing: an error.
        let listed = ours
            .iter()
            .zip(theirs)
            .take(a.steps)
            .filter(|(o, t)| !o.top.is_empty() && !t.top.is_empty())
            .count();
        if listed == 0 {
            return Err(tmgt_check::CheckError::NoEvidence(format!(
                "neither {runtime} nor the oracle listed a top-k for a step they share"
            )));
        }
        return Ok(tmgt_check::Verdict::fail(
            tmgt_check::Evidence::new(listed, "top-k lists"),
            format!(
                "{runtime}'s top-k and the oracle's share no token over {listed} steps: the \
                 largest disagreement there is"
            ),
        )
        .with_facts(serde_json::json!({ "agreement": a, "bos": oracle.bos })));
    }
    let ok = a.mean_kl <= limits.max_mean_kl
        && a.same_top1_rate() >= limits.min_same_top1
        && a.max_abs_logprob_diff <= limits.max_abs_logprob_diff;
    let containment = a.containment.map(|c| {
        format!(
            "; first different top-1 at step {}: oracle's choice in {runtime}'s top-k: {}, {runtime}'s in the oracle's: {}",
            c.step, c.oracle_choice_in_apr_top_k, c.apr_choice_in_oracle_top_k
        )
    });
    Ok(tmgt_check::Verdict::judge(
        ok,
        tmgt_check::Evidence::new(a.shared_entries, "log-probs"),
        format!(
            "{runtime} over {} steps: mean KL {:.2e} (max {:.0e}), same top-1 {:.0}% (min {:.0}%), max |Δ log-prob| {:.2e} (max {:.0e}){}",
            a.steps,
            a.mean_kl,
            limits.max_mean_kl,
            a.same_top1_rate() * 100.0,
            limits.min_same_top1 * 100.0,
            a.max_abs_logprob_diff,
            limits.max_abs_logprob_diff,
            containment.unwrap_or_default()
        ),
    )
    .with_facts(serde_json::json!({ "agreement": a, "bos": oracle.bos })))
}

/// Tokens a runtime generated, as [`judge_tokens`] sees them.
#[derive(Debug, Clone)]
pub struct Produced<'a> {
    /// The runtime, as messages name it: `apr`, `llama.cpp`.
    pub runtime: &'static str,
    pub tokens: &'a [u32],
    pub text: &'a str,
    /// What the runtime said besides its tokens (an exit code, a stop), appended to a
    /// failure's message; empty when there is nothing to add.
    pub notes: String,
    /// The runtime says it stopped at an end-of-sequence token, whether or not it lists it
    /// (apr's GGUF path drops it, llama.cpp keeps it).
    pub stopped: bool,
}

impl Produced<'_> {
    /// The tokens with the stop written out ([`with_stop_written_out`]) in the oracle's terms:
    /// the EOS the oracle stopped at, else its first EOS id.
    pub fn with_stop(&self, trajectory: Option<&Trajectory<'_>>) -> Vec<u32> {
        let stop_ids: Vec<u32> = trajectory
            .map(|t| {
                t.stopped_at()
                    .into_iter()
                    .chain(t.eos.iter().copied())
                    .collect()
            })
            .unwrap_or_default();
        with_stop_written_out(self.tokens, self.stopped, &stop_ids)
    }
}

/// A runtime's tokens with its stop written out: one that stopped at an end-of-sequence token
/// without listing it (apr's GGUF path drops it) gets `stop_ids[0]` appended, so a correct
/// early stop compares equal and counts the EOS as evidence, and a wrong one diverges where
/// the stop is. A last token already among `stop_ids` is the stop, listed; with no
/// `stop_ids` nothing can be written out.
pub fn with_stop_written_out(tokens: &[u32], stopped: bool, stop_ids: &[u32]) -> Vec<u32> {
    let mut out = tokens.to_vec();
    let listed = tokens.last().is_some_and(|last| stop_ids.contains(last));
    if let (true, false, Some(stop)) = (stopped, listed, stop_ids.first()) {
        out.push(*stop);
    }
    out
}

/// The verdict of a runtime's tokens against the oracle's `expected`: pass when equal, or when
/// the first divergence is a tie-flip below `tie_margin`, or the mismatches stay within
/// `allowed`; the message locates and classifies the first divergence either way.
pub fn judge_tokens(
    what: &str,
    expected: &[u32],
    produced: &Produced<'_>,
    trajectory: Option<&Trajectory<'_>>,
    allowed: usize,
    tie_margin: f64,
) -> tmgt_check::Verdict {
    let written_out = produced.with_stop(trajectory);
    let tokens = written_out.as_slice();
    let cmp = TokenComparison::new(expected, tokens);
    let evidence = tmgt_check::Evidence::new(cmp.evidence(), "tokens");
    let mut judged = TokenJudgement::new(produced.runtime, expected, produced.tokens);
    judged.text = Some(produced.text.to_string());
    judged.stopped = Some(produced.stopped);
    judged.comparison = Some(cmp.clone());
    let Some(at) = cmp.first_divergence else {
        let stop = match trajectory.and_then(Trajectory::stopped_at) {
            Some(eos) => format!(", stopping at EOS {eos} as the oracle does"),
            None => String::new(),
        };
        return tmgt_check::Verdict::pass(
            evidence,
            format!(
                "{what}: all {} tokens equal the oracle's{stop}",
                cmp.expected_len
            ),
        )
        .with_details(Details::Tokens(Box::new(judged)));
    };
    let margin = |step: usize| trajectory.and_then(|t| t.margin(step));
    let class = Classification::at(at, margin(at), tie_margin);
    let window = Window::around(expected, tokens, at, 3, margin);
    let notes = if produced.notes.is_empty() {
        String::new()
    } else {
        format!(" {}", produced.notes)
    };
    let message = format!(
        "{what}: {class}; {} of {} positions differ after it (consequences, not independent errors), \
         {} mismatches by the reference's count (allowed {allowed}); {}.{notes}",
        cmp.mismatches.saturating_sub(1),
        cmp.expected_len,
        cmp.mismatches,
        window.describe(produced.runtime),
    );
    let ok = !tokens.is_empty() && (cmp.mismatches <= allowed || class.is_tie_flip());
    judged.classification = Some(class);
    judged.window = Some(window);
    tmgt_check::Verdict::judge(ok, evidence, message)
        .with_details(Details::Tokens(Box::new(judged)))
}

/// KL(p || q) over log-probabilities of the same tokens, each renormalised to sum to one.
fn renormalised_kl(p: &[f64], q: &[f64]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let norm = |v: &[f64]| {
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        v.iter().map(|x| x - lse).collect::<Vec<_>>()
    };
    let (lp, lq) = (norm(p), norm(q));
    lp.iter()
        .zip(&lq)
        .map(|(a, b)| a.exp() * (a - b))
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_check::{Status, Verdict};

    #[test]
    fn empty_sequences_agree_with_no_evidence() {
        let c = TokenComparison::new(&[], &[]);
        assert!(c.exact());
        assert_eq!((c.mismatches, c.evidence()), (0, 0));
    }

    #[test]
    fn equal_sequences_are_exact() {
        let c = TokenComparison::new(&[1, 2, 3], &[1, 2, 3]);
        assert!(c.exact());
        assert_eq!(c.evidence(), 3);
    }

    #[test]
    fn divergence_at_zero_counts_every_differing_position() {
        let c = TokenComparison::new(&[1, 2, 3, 4], &[9, 2, 8, 7]);
        assert_eq!(c.first_divergence, Some(0));
        assert_eq!(c.mismatches, 3);
    }

    #[test]
    fn divergence_at_the_end() {
        let c = TokenComparison::new(&[1, 2, 3], &[1, 2, 4]);
        assert_eq!(c.first_divergence, Some(2));
        assert_eq!(c.mismatches, 1);
    }

    #[test]
    fn unequal_lengths_count_the_gap_and_diverge_where_one_stops() {
        let c = TokenComparison::new(&[1, 2, 3, 4], &[1, 2]);
        assert_eq!(c.first_divergence, Some(2));
        assert_eq!(c.mismatches, 2);
        assert_eq!(c.evidence(), 4);
        let longer = TokenComparison::new(&[1], &[1, 5, 6]);
        assert_eq!((longer.first_divergence, longer.mismatches), (Some(1), 1));
        let missed_stop = TokenComparison::new(&[1, 2, 0], &[1, 2, 7, 8, 9]);
        assert_eq!(
            (missed_stop.first_divergence, missed_stop.mismatches),
            (Some(2), 1),
            "tokens past the oracle's EOS are one error"
        );
    }

    fn trajectory_with_margins(margins: &[f64]) -> (Vec<u32>, Vec<tmgt_oracle::Step>) {
        let tokens: Vec<u32> = (0..margins.len() as u32).collect();
        let steps = margins
            .iter()
            .zip(&tokens)
            .map(|(m, t)| tmgt_oracle::Step {
                token_id: *t,
                logprob: -0.1,
                margin: *m,
                top: vec![],
            })
            .collect();
        (tokens, steps)
    }

    /// A plain-prompt trajectory over `tokens` and `steps`.
    fn plain<'a>(tokens: &'a [u32], steps: &'a [tmgt_oracle::Step]) -> Trajectory<'a> {
        Trajectory {
            bos: None,
            prompt_token_ids: &[],
            tokens,
            text: "",
            steps,
            eos: &[],
        }
    }

    #[test]
    fn chosen_log_probs_are_compared_up_to_the_first_token_that_differs() {
        let (tokens, steps) = trajectory_with_margins(&[3.0, 0.05, 5.0]);
        let t = plain(&tokens, &steps);
        // A tie-flip at step 1; past it the runtime reads another context, where the oracle's
        // token 2 has another log-prob, which measures nothing.
        let theirs = [
            StepLogprobs {
                chosen: 0,
                top: vec![(0, -0.1)],
            },
            StepLogprobs {
                chosen: 9,
                top: vec![(9, -0.6), (1, -0.12)],
            },
            StepLogprobs {
                chosen: 7,
                top: vec![(2, -9.0)],
            },
        ];
        let tokens_passed = Verdict::pass(tmgt_check::Evidence::new(3u64, "tokens"), "tie-flip");
        let v = judge_chosen_logprobs("apr", tokens_passed, &t, &theirs, 0.05).unwrap();
        assert_eq!(v.status, Status::Pass, "{}", v.message);
        assert!(v.message.contains("over 2 steps"), "{}", v.message);
    }

    #[test]
    fn classification_follows_the_oracle_margin() {
        let (tokens, steps) = trajectory_with_margins(&[3.0, 0.2, 5.0]);
        let t = plain(&tokens, &steps);
        assert!(Classification::at(1, t.margin(1), 0.5).is_tie_flip());
        assert_eq!(
            Classification::at(2, t.margin(2), 0.5),
            Classification::Divergence {
                step: 2,
                margin: 5.0
            }
        );
        assert_eq!(
            Classification::at(7, t.margin(7), 0.5),
            Classification::Unclassified { step: 7 }
        );
        assert_eq!(
            Classification::at(0, None, 0.5),
            Classification::Unclassified { step: 0 }
        );
    }

    fn produced<'a>(tokens: &'a [u32], notes: &str) -> Produced<'a> {
        Produced {
            runtime: "llama.cpp",
            tokens,
            text: "",
            notes: notes.into(),
            stopped: false,
        }
    }

    #[test]
    fn token_judgement_names_the_runtime_and_counts_mismatches() {
        let expected = [1, 2, 3, 4];
        let equal = judge_tokens("x", &expected, &produced(&expected, ""), None, 0, 0.5);
        assert_eq!(equal.status, Status::Pass);
        assert_eq!(equal.evidence.count, 4);
        let judged = equal.details.tokens().unwrap();
        assert_eq!(judged.runtime, "llama.cpp");
        assert_eq!(judged.tokens, expected);

        let off = judge_tokens(
            "x",
            &expected,
            &produced(&[1, 2, 9, 9], "stopped."),
            None,
            1,
            0.5,
        );
        assert_eq!(off.status, Status::Fail);
        assert!(
            off.message.contains("/ llama.cpp [1, 2, 9, 9]"),
            "{}",
            off.message
        );
        assert!(off.message.ends_with(" stopped."), "{}", off.message);
        let allowed = judge_tokens("x", &expected, &produced(&[1, 2, 3, 9], ""), None, 1, 0.5);
        assert_eq!(allowed.status, Status::Pass);

        let nothing = judge_tokens("x", &expected, &produced(&[], ""), None, 99, 0.5);
        assert_eq!(nothing.status, Status::Fail, "no tokens never passes");
    }

    /// An oracle that generated `tokens` with the given margins and stops at EOS 2.
    fn stopping_oracle(tokens: &[u32], margins: &[f64]) -> Vec<tmgt_oracle::Step> {
        tokens
            .iter()
            .zip(margins)
            .map(|(t, m)| tmgt_oracle::Step {
                token_id: *t,
                logprob: -0.1,
                margin: *m,
                top: vec![],
            })
            .collect()
    }

    fn judge_stop(oracle: &[u32], margins: &[f64], runtime: &[u32], stopped: bool) -> Verdict {
        let steps = stopping_oracle(oracle, margins);
        let t = Trajectory {
            bos: None,
            prompt_token_ids: &[],
            tokens: oracle,
            text: "",
            steps: &steps,
            eos: &[2],
        };
        let produced = Produced {
            stopped,
            ..produced(runtime, "")
        };
        judge_tokens("x", oracle, &produced, Some(&t), 0, 0.5)
    }

    #[test]
    fn a_stop_where_the_oracle_stops_passes_listed_or_not() {
        let dropped = judge_stop(&[5, 2], &[3.0, 4.0], &[5], true);
        assert_eq!(dropped.status, Status::Pass, "{}", dropped.message);
        assert_eq!(dropped.evidence.count, 2, "the EOS is evidence");
        assert!(
            dropped.message.contains("stopping at EOS 2"),
            "{}",
            dropped.message
        );
        let listed = judge_stop(&[5, 2], &[3.0, 4.0], &[5, 2], true);
        assert_eq!(listed.status, Status::Pass, "{}", listed.message);
        let immediate = judge_stop(&[2], &[6.0], &[], true);
        assert_eq!(immediate.status, Status::Pass, "{}", immediate.message);
        assert_eq!(immediate.evidence.count, 1);
    }

    #[test]
    fn stopping_early_or_late_where_the_oracle_is_confident_fails() {
        let early = judge_stop(&[5, 6, 7], &[3.0, 3.0, 3.0], &[5], true);
        assert_eq!(early.status, Status::Fail);
        assert!(
            early.message.contains("divergence at step 1"),
            "{}",
            early.message
        );
        let late = judge_stop(&[5, 2], &[3.0, 4.0], &[5, 9, 9, 9], false);
        assert_eq!(late.status, Status::Fail);
        assert!(
            late.message.contains("divergence at step 1"),
            "{}",
            late.message
        );
        let compared = late.details.tokens().and_then(|t| t.comparison.as_ref());
        assert_eq!(compared.map(|c| c.mismatches), Some(1));
        let none = judge_stop(&[2], &[6.0], &[], false);
        assert_eq!(
            none.status,
            Status::Fail,
            "no tokens and no stop never passes"
        );
    }

    #[test]
    fn a_stop_the_oracle_nearly_tied_is_a_tie_flip() {
        let v = judge_stop(&[5, 2], &[3.0, 0.1], &[5, 9], false);
        assert_eq!(v.status, Status::Pass, "{}", v.message);
        assert!(v.message.contains("tie-flip at step 1"), "{}", v.message);
    }

    #[test]
    fn window_clips_at_both_ends() {
        let w = Window::around(&[1, 2, 3, 4, 5], &[1, 2, 9], 1, 3, |_| None);
        assert_eq!((w.start, w.expected.len(), w.actual.len()), (0, 5, 3));
        let w = Window::around(
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[1, 2, 3, 4, 5, 6, 7, 0],
            7,
            3,
            |_| None,
        );
        assert_eq!(
            (w.start, w.expected, w.actual),
            (4, vec![5, 6, 7, 8], vec![5, 6, 7, 0])
        );
    }

    fn step(chosen: u32, top: &[(u32, f64)]) -> StepLogprobs {
        StepLogprobs {
            chosen,
            top: top.to_vec(),
        }
    }

    #[test]
    fn identical_logprobs_have_zero_kl_and_full_top1() {
        let s = vec![
            step(1, &[(1, -0.1), (2, -2.5)]),
            step(3, &[(3, -0.2), (1, -1.9)]),
        ];
        let a = LogprobAgreement::new(&s, &s);
        assert_eq!((a.steps, a.same_top1, a.shared_entries), (2, 2, 4));
        assert!(a.mean_kl.abs() < 1e-12 && a.max_abs_logprob_diff == 0.0);
        assert!(a.containment.is_none());
    }

    #[test]
    fn a_flip_stops_the_comparison_and_records_containment() {
        let oracle = vec![step(1, &[(1, -0.6), (2, -0.8)]), step(5, &[(5, -0.1)])];
        let apr = vec![step(2, &[(2, -0.6), (1, -0.8)]), step(6, &[(6, -0.1)])];
        let a = LogprobAgreement::new(&oracle, &apr);
        assert_eq!((a.steps, a.same_top1), (1, 0));
        assert!(a.mean_kl > 0.0);
        assert!((a.max_abs_logprob_diff - 0.2).abs() < 1e-9);
        let c = a.containment.unwrap();
        assert!(c.oracle_choice_in_apr_top_k && c.apr_choice_in_oracle_top_k);
    }

    fn oracle_step(token_id: u32, top: &[(u32, f64)]) -> tmgt_oracle::Step {
        tmgt_oracle::Step {
            token_id,
            logprob: top.first().map_or(-0.1, |(_, lp)| *lp),
            margin: 1.0,
            top: top
                .iter()
                .map(|(token_id, logprob)| tmgt_oracle::TopEntry {
                    token_id: *token_id,
                    logprob: *logprob,
                })
                .collect(),
        }
    }

    fn judge_against(
        oracle_top: &[(u32, f64)],
        theirs: &[StepLogprobs],
    ) -> Result<Verdict, tmgt_check::CheckError> {
        let steps = vec![oracle_step(1, oracle_top)];
        let t = Trajectory {
            bos: None,
            prompt_token_ids: &[],
            tokens: &[1],
            text: "",
            steps: &steps,
            eos: &[],
        };
        let limits = crate::LogprobThresholds {
            max_mean_kl: 1e-3,
            min_same_top1: 1.0,
            max_abs_logprob_diff: 1e-2,
        };
        judge_logprobs("apr", &t, theirs, &limits)
    }

    #[test]
    fn top_k_lists_sharing_no_token_are_the_largest_disagreement_not_an_error() {
        let v =
            judge_against(&[(1, -0.1), (2, -2.0)], &[step(7, &[(7, -0.1), (8, -2.0)])]).unwrap();
        assert_eq!(v.status, Status::Fail, "{}", v.message);
        assert_eq!(v.evidence.count, 1);
        assert!(
            v.message.contains("share no token over 1 steps"),
            "{}",
            v.message
        );
    }

    #[test]
    fn a_side_without_top_k_lists_compared_nothing() {
        let err = judge_against(&[(1, -0.1)], &[step(1, &[])]).unwrap_err();
        assert!(
            matches!(err, tmgt_check::CheckError::NoEvidence(_)),
            "{err}"
        );
    }

    #[test]
    fn no_steps_means_zero_rate() {
        let a = LogprobAgreement::new(&[], &[]);
        assert_eq!((a.steps, a.same_top1_rate()), (0, 0.0));
    }
}
