//! llama.cpp's greedy continuation judged against an oracle as the inference suites judge a
//! runtime: its tokens against the trajectory it fed (a flip below the tie margin is noise),
//! then its chosen-token log-probs within `[thresholds.runtime]`.

use crate::judge::{judge_tokens, trajectory_for};
use crate::llama::{generate_text, step_logprobs};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::judge_chosen_logprobs;
use llamacpp_runtime::Generation;
use std::path::Path;
use tmgt_check::{CheckError, Context, Status, Verdict};
use tmgt_oracle::Oracle;

/// llama.cpp's `generation` on `what` against `oracle`: a skip where the ids it fed match no
/// trajectory of the oracle.
pub fn judge_generation(
    cx: &dyn Context,
    label: &str,
    what: &str,
    oracle: &Oracle,
    generation: &Generation,
) -> Result<Verdict, CheckError> {
    let trajectory = match trajectory_for(oracle, generation, what) {
        Ok(t) => t,
        Err(skip) => return Ok(skip),
    };
    let t = &cx.thresholds().get::<RuntimeThresholds>()?;
    let verdict = judge_tokens(label, &trajectory, generation, 0, t.tie_margin);
    if verdict.status != Status::Pass {
        return Ok(verdict);
    }
    // Tokens agree: hold the chosen tokens' log-probabilities to float noise.
    judge_chosen_logprobs(
        "llama.cpp",
        verdict,
        &trajectory,
        &step_logprobs(generation),
        t.max_logprob_diff,
    )
}

/// llama.cpp on `gguf` continues `oracle`'s prompt (for suites whose oracles are not the
/// instance's prompt: the long suite's); llama.cpp refusing the file is an input error naming
/// the file.
pub fn judge_llamacpp_continuation(
    cx: &dyn Context,
    label: &str,
    gguf: &Path,
    oracle: &Oracle,
) -> Result<Verdict, CheckError> {
    let generation =
        generate_text(gguf, &oracle.prompt, cx.max_new_tokens())?.map_err(|reason| {
            CheckError::Input {
                what: format!("llama.cpp on {}", gguf.display()),
                reason,
            }
        })?;
    judge_generation(
        cx,
        &format!("llama.cpp, {label}"),
        &gguf.display().to_string(),
        oracle,
        &generation,
    )
}
