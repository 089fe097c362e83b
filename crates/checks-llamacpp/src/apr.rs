//! apr's greedy generation on a GGUF with log-probabilities: the same call the inference
//! suites make (`apr run --json --logprobs 20`), so the engine shares it with them.

use apr_client::{AprError, Invocation, parse};
use checks_inference::APR_TOP_K;
use checks_inference::compare::StepLogprobs;
use std::path::Path;
use tmgt_check::{CheckError, Context};

#[derive(Debug, Clone)]
pub struct AprGeneration {
    pub prompt_ids: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    pub steps: Vec<StepLogprobs>,
    pub exit_code: i32,
    /// The last lines apr wrote to stderr, for a run that produced nothing.
    pub stderr_tail: String,
}

pub fn generate(cx: &dyn Context, model: &Path) -> Result<AprGeneration, CheckError> {
    let prompt = cx.prompt()?;
    let invocation = Invocation::run(model, &prompt.text, cx.max_new_tokens(), Some(APR_TOP_K))?;
    let captured = cx.apr(&invocation)?;
    let stderr_tail = captured.stderr_tail(3).trim().to_string();
    let reply = match parse::run(&captured) {
        Ok(reply) => reply,
        // apr exited non-zero without its JSON (a file it cannot load, a panic): it generated
        // nothing, which is a finding about apr. Timeouts and signals stay harness errors.
        Err(AprError::Exit { code, .. }) => {
            return Ok(AprGeneration {
                prompt_ids: Vec::new(),
                tokens: Vec::new(),
                text: String::new(),
                steps: Vec::new(),
                exit_code: code,
                stderr_tail,
            });
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(problem) = reply
        .drift
        .iter()
        .find(|p| p.path == "tokens" || p.path.starts_with("logprobs"))
    {
        return Err(CheckError::Schema {
            command: "run".into(),
            detail: problem.to_string(),
        });
    }
    let out = reply.value;
    let (prompt_ids, steps) = match out.logprobs {
        Some(lp) => (lp.prompt_token_ids, StepLogprobs::from_apr(lp.steps)),
        None if reply.exit_code == 0 => {
            return Err(CheckError::Schema {
                command: "run --logprobs".into(),
                detail: "no `logprobs` object in the reply".into(),
            });
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(AprGeneration {
        prompt_ids,
        tokens: out.tokens,
        text: out.text.unwrap_or_default(),
        steps,
        exit_code: reply.exit_code,
        stderr_tail,
    })
}
