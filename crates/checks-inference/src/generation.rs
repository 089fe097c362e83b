//! One greedy generation by apr, read into the shape the inference checks compare.

use crate::compare::{Classification, StepLogprobs, TokenComparison, Window};
use apr_client::{Invocation, parse};
use serde_json::json;
use std::path::Path;
use tmgt_check::{CheckError, Context, Evidence, Verdict};
use tmgt_oracle::Trajectory;

/// Top-k apr reports per step when log-probabilities are asked for (its maximum).
pub const APR_TOP_K: u8 = 20;

/// What apr generated for the instance's prompt.
#[derive(Debug, Clone)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    /// The prompt as apr encoded it (GGUF with log-probabilities only).
    pub prompt_ids: Option<Vec<u32>>,
    pub steps: Option<Vec<StepLogprobs>>,
    pub exit_code: i32,
}

/// Runs apr greedily on `model` with the instance's prompt.
pub fn generate(cx: &dyn Context, model: &Path, logprobs: bool) -> Result<Generation, CheckError> {
    let prompt = cx.prompt()?;
    let invocation = Invocation::run(
        model,
        &prompt.text,
        cx.max_new_tokens(),
        logprobs.then_some(APR_TOP_K),
    )?;
    let captured = cx.apr(&invocation)?;
    let reply = parse::run(&captured)?;
    if let Some(problem) = reply
        .drift
        .iter()
        .find(|p| p.path == "tokens" || (logprobs && p.path.starts_with("logprobs")))
    {
        return Err(CheckError::Schema {
            command: "run".into(),
            detail: problem.to_string(),
        });
    }
    let out = reply.value;
    let (prompt_ids, steps) = match out.logprobs {
        Some(lp) => (
            Some(lp.prompt_token_ids),
            Some(
                lp.steps
                    .into_iter()
                    .map(|s| StepLogprobs {
                        chosen: s.chosen,
                        top: s.top.into_iter().map(|t| (t.token_id, t.logprob)).collect(),
                    })
                    .collect(),
            ),
        ),
        None if logprobs && reply.exit_code == 0 => {
            return Err(CheckError::Schema {
                command: "run --logprobs".into(),
                detail: "no `logprobs` object in the reply".into(),
            });
        }
        None => (None, None),
    };
    Ok(Generation {
        tokens: out.tokens,
        text: out.text.unwrap_or_default(),
        prompt_ids,
        steps,
        exit_code: reply.exit_code,
    })
}

/// The verdict of a token comparison: pass when exact, or when the first divergence is a
/// tie-flip below `tie_margin` or the mismatches stay within `allowed`; the message locates
/// and classifies the divergence either way.
pub fn judge_tokens(
    what: &str,
    expected: &[u32],
    generation: &Generation,
    trajectory: Option<&Trajectory<'_>>,
    allowed: usize,
    tie_margin: f64,
) -> Verdict {
    let cmp = TokenComparison::new(expected, &generation.tokens);
    let evidence = Evidence::new(cmp.evidence(), "tokens");
    let Some(at) = cmp.first_divergence else {
        return Verdict::pass(
            evidence,
            format!("{what}: all {} tokens equal the oracle's", cmp.expected_len),
        )
        .with_details(json!({ "comparison": cmp, "oracle": expected, "apr": generation.tokens }));
    };
    let class = Classification::of(trajectory, at, tie_margin);
    let window = Window::around(expected, &generation.tokens, at, 3, trajectory);
    let empty = if generation.tokens.is_empty() {
        format!(" apr generated no tokens (exit {}).", generation.exit_code)
    } else {
        String::new()
    };
    let message = format!(
        "{what}: {class}; {} of {} positions differ after it (consequences, not independent errors), \
         {} mismatches by the reference's count (allowed {allowed}); {window}.{empty}",
        cmp.mismatches.saturating_sub(1),
        cmp.expected_len,
        cmp.mismatches,
    );
    let ok = !generation.tokens.is_empty() && (cmp.mismatches <= allowed || class.is_tie_flip());
    Verdict::judge(ok, evidence, message).with_details(json!({
        "comparison": cmp,
        "classification": class,
        "window": window,
        "oracle": expected,
        "apr": generation.tokens,
        "apr_text": generation.text,
    }))
}
