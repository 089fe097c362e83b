//! One greedy generation by apr, read into the shape the inference checks compare.

use crate::compare::{Produced, StepLogprobs};
use apr_client::{Invocation, parse};
use std::path::Path;
use tmgt_check::{CheckError, Context, Prompt};

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
    /// apr ended at an end-of-sequence token (`RunOutput::stopped_at_eos`).
    pub stopped: bool,
}

/// Runs apr greedily on `model` with the instance's prompt.
pub fn generate(cx: &dyn Context, model: &Path, logprobs: bool) -> Result<Generation, CheckError> {
    generate_for(cx, model, cx.prompt()?, logprobs)
}

/// Runs apr greedily on `model` with `prompt` (the same call, shared, as every other check
/// generating from that file and prompt).
pub fn generate_for(
    cx: &dyn Context,
    model: &Path,
    prompt: &Prompt,
    logprobs: bool,
) -> Result<Generation, CheckError> {
    let invocation = Invocation::run(
        model,
        &prompt.text,
        cx.max_new_tokens(),
        logprobs.then_some(APR_TOP_K),
    )?;
    run_generation(cx, &invocation, logprobs)
}

/// Runs an `apr run --json` invocation (any options: a chat template, sampling) and reads its
/// generation; `logprobs` says the invocation asked for them, so their absence is a schema
/// fault.
pub fn run_generation(
    cx: &dyn Context,
    invocation: &Invocation,
    logprobs: bool,
) -> Result<Generation, CheckError> {
    let captured = cx.apr(invocation)?;
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
    let stopped = out.stopped_at_eos();
    let (prompt_ids, steps) = match out.logprobs {
        Some(lp) => (
            Some(lp.prompt_token_ids),
            Some(StepLogprobs::from_apr(lp.steps)),
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
        stopped,
        tokens: out.tokens,
        text: out.text.unwrap_or_default(),
        prompt_ids,
        steps,
        exit_code: reply.exit_code,
    })
}

impl Generation {
    /// The tokens as [`crate::compare::judge_tokens`] takes them.
    pub fn produced(&self) -> Produced<'_> {
        Produced {
            runtime: "apr",
            tokens: &self.tokens,
            text: &self.text,
            notes: match (self.tokens.is_empty(), self.stopped) {
                (true, true) => format!("apr stopped at once (exit {}).", self.exit_code),
                (true, false) => format!("apr generated no tokens (exit {}).", self.exit_code),
                (false, _) => String::new(),
            },
            stopped: self.stopped,
        }
    }
}
