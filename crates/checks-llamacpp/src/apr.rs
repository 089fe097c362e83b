//! apr's greedy generation on a GGUF with log-probabilities: the same call the inference
//! suites make (`apr run --json --logprobs 20`), so the engine shares it with them.

use apr_client::{AprError, Invocation, parse};
use checks_inference::APR_TOP_K;
use checks_inference::compare::{StepLogprobs, with_stop_written_out};
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
    /// apr ended at an end-of-sequence token (`RunOutput::stopped_at_eos`), which its GGUF
    /// path does not list.
    pub stopped: bool,
    /// apr's own throughput over generation (`tok_per_sec`).
    pub tok_per_sec: Option<f64>,
}

/// apr's generation of the instance's prompt.
pub fn generate(cx: &dyn Context, model: &Path) -> Result<AprGeneration, CheckError> {
    generate_text(cx, model, &cx.prompt()?.text)
}

/// apr's generation of `prompt`, for checks of a model that go over every prompt.
pub fn generate_text(
    cx: &dyn Context,
    model: &Path,
    prompt: &str,
) -> Result<AprGeneration, CheckError> {
    let invocation = Invocation::run(model, prompt, cx.max_new_tokens(), Some(APR_TOP_K))?;
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
                stopped: false,
                tok_per_sec: None,
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
    let stopped = out.stopped_at_eos();
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
        stopped,
        tok_per_sec: out.tok_per_sec,
        prompt_ids,
        tokens: out.tokens,
        text: out.text.unwrap_or_default(),
        steps,
        exit_code: reply.exit_code,
        stderr_tail,
    })
}

impl AprGeneration {
    /// apr's tokens with its stop written out, so the three runtimes compare like with like:
    /// the EOS the oracle ends at (or llama.cpp's final end-of-generation token) is appended
    /// when apr stopped without listing it.
    pub fn tokens_with_stop(&self, eos: &[u32], llama_stop: Option<u32>) -> Vec<u32> {
        let stop_ids: Vec<u32> = eos.iter().copied().chain(llama_stop).collect();
        with_stop_written_out(&self.tokens, self.stopped, &stop_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outlier::{Runtime, ThreeWay};

    fn apr(tokens: &[u32], stopped: bool) -> AprGeneration {
        AprGeneration {
            prompt_ids: vec![],
            tokens: tokens.to_vec(),
            text: String::new(),
            steps: vec![],
            exit_code: 0,
            stderr_tail: String::new(),
            stopped,
            tok_per_sec: None,
        }
    }

    #[test]
    fn an_unlisted_stop_is_written_out_once() {
        assert_eq!(apr(&[5], true).tokens_with_stop(&[2], None), [5, 2]);
        assert_eq!(apr(&[], true).tokens_with_stop(&[2], Some(2)), [2]);
        assert_eq!(apr(&[5, 2], true).tokens_with_stop(&[2], None), [5, 2]);
        assert_eq!(apr(&[5], true).tokens_with_stop(&[], Some(7)), [5, 7]);
        assert_eq!(apr(&[5], false).tokens_with_stop(&[2], Some(2)), [5]);
    }

    #[test]
    fn three_runtimes_that_stop_together_agree_and_a_late_stop_is_the_outlier() {
        // The oracle and llama.cpp list the EOS; apr's GGUF path drops it.
        let oracle = [5, 6, 2];
        let together = apr(&[5, 6], true).tokens_with_stop(&[2], Some(2));
        assert_eq!(
            ThreeWay::of(&oracle, &oracle, &together),
            ThreeWay::Agree { len: 3 }
        );
        let late = apr(&[5, 6, 9, 9], false).tokens_with_stop(&[2], Some(2));
        assert_eq!(
            ThreeWay::of(&oracle, &oracle, &late).outlier(),
            Some(Runtime::Apr)
        );
    }
}
