//! One `apr run` with sampling flags on llama.cpp's F32 GGUF of the instance's model.

use apr_client::{Real, RunRequest, Sampling};
use checks_inference::{Generation, run_generation};
use tmgt_check::{ArtifactKind, CheckError, Context, NativeGguf, Verdict};

/// `prompt` drawn with `sampling` for `tokens` tokens, with apr's top-20 log-probs per step
/// when `logprobs`.
pub fn draw(
    cx: &dyn Context,
    prompt: &str,
    sampling: Sampling,
    tokens: u32,
    logprobs: bool,
) -> Result<Generation, CheckError> {
    let gguf = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
    let invocation = RunRequest::new(&gguf, prompt)
        .max_tokens(tokens)
        .logprobs(logprobs.then_some(checks_inference::APR_TOP_K))
        .sampling(sampling)
        .build()?;
    run_generation(cx, &invocation, logprobs)
}

/// Temperature `t`, top-k `k` (0: off), top-p `p`, seed `seed`.
pub fn sampling(t: f64, k: u32, p: Option<f64>, seed: Option<u64>) -> Sampling {
    Sampling {
        temperature: Some(Real(t)),
        top_k: Some(k),
        top_p: p.map(Real),
        seed,
        ..Sampling::default()
    }
}

/// A skip where apr drew nothing because the prompt ends at once: HF's greedy continuation is
/// a lone end-of-sequence token, so a draw that ends there too leaves nothing to judge.
pub fn ended_at_once(
    cx: &dyn Context,
    generation: &Generation,
) -> Result<Option<Verdict>, CheckError> {
    if !generation.tokens.is_empty() {
        return Ok(None);
    }
    let oracle = cx.oracle()?;
    let eos = oracle.eos_token_ids.as_deref().unwrap_or_default();
    let lone_eos = matches!(oracle.tokens.as_slice(), [only] if eos.contains(only));
    Ok(lone_eos.then(|| {
        Verdict::skip(format!(
            "HF ends this prompt at its first token (end of sequence) and apr's draw ended there \
             too (exit {}): no drawn token to judge",
            generation.exit_code
        ))
    }))
}
