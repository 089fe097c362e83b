//! llama.cpp's greedy continuation of any oracle's prompt on a GGUF, judged as LCT002 judges
//! the prompt oracles: for suites whose oracles are not the instance's prompt (the long suite).

use crate::judge::{judge_tokens, trajectory_for};
use crate::llama::{generate_text, step_logprobs};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::judge_chosen_logprobs;
use std::path::Path;
use tmgt_check::{CheckError, Context, Status, Verdict};
use tmgt_oracle::Oracle;

/// llama.cpp on `gguf` continues `oracle`'s prompt: its tokens against the trajectory whose
/// prompt ids it fed (a skip where none matches), then its chosen-token log-probs within
/// `[thresholds.runtime]`. llama.cpp refusing the file is an input error naming the file.
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
    let trajectory = match trajectory_for(oracle, &generation, &gguf.display().to_string()) {
        Ok(t) => t,
        Err(skip) => return Ok(skip),
    };
    let t = &cx.thresholds().get::<RuntimeThresholds>()?;
    let verdict = judge_tokens(
        &format!("llama.cpp, {label}"),
        &trajectory,
        &generation,
        0,
        t.tie_margin,
    );
    if verdict.status != Status::Pass {
        return Ok(verdict);
    }
    judge_chosen_logprobs(
        "llama.cpp",
        verdict,
        &trajectory,
        &step_logprobs(&generation),
        t.max_logprob_diff,
    )
}
