//! The judgement LNG001 and LNG003 share: apr on the GGUF continues a long prompt, and the ids
//! it fed, its tokens and its chosen-token log-probs are held against the oracle's.

use apr_client::{Invocation, parse};
use std::path::Path;
use tmgt_check::{CheckError, Context, Evidence, Prompt, Verdict};
use tmgt_oracle::Oracle;

/// apr's greedy run of `oracle`'s prompt on `gguf` against the oracle: the prompt ids first
/// (a long prompt is where a tokenizer's rare paths show), then tokens and log-probs within
/// `[thresholds.runtime]`.
pub fn continuation(
    cx: &dyn Context,
    label: &str,
    gguf: &Path,
    oracle: &Oracle,
) -> Result<Verdict, CheckError> {
    // A prompt apr's encoder splits otherwise is a tokenizer fault: `apr tokenize encode` (the
    // encoder `apr run` uses) finds it in a second, where a run takes minutes on a real model.
    let captured = cx.apr(&Invocation::tokenize_encode(gguf, &oracle.prompt)?)?;
    let encoded = parse::tokenize_encode(&captured)?.value.ids;
    let plain = oracle.prompt_token_ids.clone().unwrap_or_default();
    if encoded != plain {
        return prompt_ids_differ(cx, label, oracle, &encoded);
    }
    let prompt = Prompt {
        name: label.to_string(),
        text: oracle.prompt.clone(),
    };
    let generation = checks_inference::generate_for(cx, gguf, &prompt, true)?;
    let fed = generation.prompt_ids.clone().unwrap_or_default();
    let Some(trajectory) = oracle.trajectory_for_prompt(&fed) else {
        return prompt_ids_differ(cx, label, oracle, &fed);
    };
    let what = format!(
        "{label} ({} prompt ids{})",
        fed.len(),
        if trajectory.bos.is_some() {
            ", BOS-prefixed as apr feeds it"
        } else {
            ""
        }
    );
    checks_inference::judge_gguf_run(cx, &what, &trajectory, generation)
}

/// A failure at the first position where the ids apr fed leave HF's (plain or BOS-prefixed,
/// whichever agrees longer): a long prompt fed wrong is judged as the tokenizer fault it is,
/// not as a continuation.
fn prompt_ids_differ(
    cx: &dyn Context,
    label: &str,
    oracle: &Oracle,
    fed: &[u32],
) -> Result<Verdict, CheckError> {
    let mut candidates = vec![oracle.prompt_token_ids.clone().unwrap_or_default()];
    if let Some(bos) = &oracle.bos {
        candidates.push(bos.prompt_token_ids.clone());
    }
    let common = |want: &[u32]| want.iter().zip(fed).take_while(|(a, b)| a == b).count();
    let want = candidates
        .iter()
        .max_by_key(|want| common(want))
        .cloned()
        .unwrap_or_default();
    let difference =
        checks_metadata::first_difference_for_model(cx, fed, &want)?.unwrap_or_default();
    Ok(Verdict::fail(
        Evidence::new(common(&want) + 1, "prompt ids"),
        format!(
            "{label}: apr encodes {difference}, so it would continue another prompt (a \
             tokenizer fault; the continuation is not judged)"
        ),
    ))
}
