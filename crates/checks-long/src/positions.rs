//! Where a departure begins: one judgement at every prompt length the position oracles hold
//! (`<oracle>/long/position-N.json`: fixed lengths and the edges the model's config declares),
//! so a runtime that ignores a RoPE scaling or a sliding window is caught at the length where
//! the field starts to matter, and named there.

use crate::oracles;
use serde_json::json;
use tmgt_check::{CheckError, Context, Details, Evidence, Status, Verdict};
use tmgt_oracle::Oracle;

/// One prompt length's outcome.
#[derive(Debug, serde::Serialize)]
struct AtLength {
    tokens: u32,
    reason: String,
    status: Status,
    /// The first generated step the runtime departs at (token or chosen-token log-prob).
    departs_at_step: Option<usize>,
    message: String,
}

impl AtLength {
    /// How many tokens of text (BOS not counted) the first departing prediction follows.
    fn departing_context(&self) -> Option<usize> {
        Some(self.tokens as usize + self.departs_at_step?)
    }
}

/// `judge` (a label and a position oracle to a verdict) at each length, ascending. Passes when
/// every length passes; fails naming the earliest departure (the fewest tokens of text before
/// the departing prediction, over every failing length), why its prompt has its length, its
/// message, and every length's outcome; a skip at some lengths is told, at all of them is the
/// skip.
pub fn at_positions(
    cx: &dyn Context,
    runtime: &str,
    judge: impl Fn(&str, &Oracle) -> Result<Verdict, CheckError>,
) -> Result<Verdict, CheckError> {
    let lengths = oracles::positions(cx)?;
    let mut outcomes = Vec::new();
    let mut evidence = 0u64;
    for n in lengths {
        let oracle = oracles::position(cx, n)?;
        let verdict = judge(&format!("prompt of {n} tokens"), &oracle)?;
        if verdict.status != Status::Skip {
            evidence += verdict.evidence.count;
        }
        let departs_at_step = match (&verdict.status, &verdict.details) {
            (Status::Fail, Details::Tokens(judged)) => judged.first_departure(),
            _ => None,
        };
        outcomes.push(AtLength {
            tokens: n,
            reason: oracle.position_reason.clone().unwrap_or_default(),
            status: verdict.status,
            departs_at_step,
            message: verdict.message,
        });
    }
    let lengths_with = |status: Status| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| o.status == status)
            .map(|o| o.tokens.to_string())
            .collect()
    };
    let (agree, depart, skipped) = (
        lengths_with(Status::Pass),
        lengths_with(Status::Fail),
        lengths_with(Status::Skip),
    );
    let skipped_note = if skipped.is_empty() {
        String::new()
    } else {
        format!("; not judged at {} tokens", skipped.join(", "))
    };
    let earliest = outcomes
        .iter()
        .filter(|o| o.status == Status::Fail)
        .min_by_key(|o| o.departing_context().unwrap_or(usize::MAX));
    let verdict = match earliest {
        Some(first) => {
            let place = match (first.departing_context(), first.departs_at_step) {
                (Some(context), Some(step)) => format!(
                    "at the prediction that follows {context} tokens of text (step {step} after \
                     the prompt of {} tokens: {})",
                    first.tokens, first.reason
                ),
                _ => format!(
                    "after the prompt of {} tokens ({})",
                    first.tokens, first.reason
                ),
            };
            Verdict::fail(
                Evidence::new(evidence, "tokens"),
                format!(
                    "{runtime} first departs from HF {place}; prompts of {} tokens depart, of \
                     {} agree{skipped_note}. There: {}",
                    depart.join(", "),
                    if agree.is_empty() {
                        "none".to_string()
                    } else {
                        agree.join(", ")
                    },
                    first.message
                ),
            )
        }
        None if agree.is_empty() => Verdict::skip(format!(
            "{runtime} was judged at no prompt length: {}",
            outcomes
                .iter()
                .map(|o| format!("{}: {}", o.tokens, o.message))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        None => Verdict::pass(
            Evidence::new(evidence, "tokens"),
            format!(
                "{runtime} agrees with HF with prompts of {} tokens{skipped_note}",
                agree.join(", ")
            ),
        ),
    };
    Ok(verdict.with_facts(json!({ "lengths": outcomes })))
}
