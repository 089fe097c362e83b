use crate::ladder::{self, KernelError, LadderThresholds};
use crate::{apr, llama};
use checks_inference::RuntimeThresholds;
use serde_json::json;
use std::collections::BTreeMap;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// One rung of a model's quantization ladder (llama.cpp's quantization of its F32 GGUF to
    /// one file type), with its two numbers kept apart: what the quantization costs (the
    /// rung's oracles, which ran the rung's own weights, against the float32 oracles:
    /// perplexity ratio, flipped continuations) and what apr's kernels add on top (apr on the
    /// rung's file against the rung's oracles: chosen-token log-probs, top-20 KL, departures),
    /// with llama.cpp on the same file as the second voice. apr fails beyond the type's bound
    /// (`[ladder.<TYPE>]` over `[thresholds.runtime]`); the message says whether llama.cpp
    /// stays within it, which makes apr's kernel the outlier.
    pub LadderRung {
        code: "LAD001",
        name: "rung-kernel-error-beyond-type-bound",
        suite: "ladder",
        scope: Scope::Model,
        summary: "apr on a quantization rung stays within its type's bound of the rung's own oracles",
    }
}

impl Check for LadderRung {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let (model, rung) = ladder::rung_of(cx)?;
        let file = cx.artifact(ArtifactKind::Gguf)?;
        let bound: RuntimeThresholds = cx.thresholds().get()?;
        let limits: LadderThresholds = cx.thresholds().get()?;
        let cost = ladder::cost(cx, rung)?;
        if cost.ppl_ratio > limits.max_cost_ppl_ratio
            || cost.ppl_ratio < 1.0 / limits.max_cost_ppl_ratio
        {
            return Err(CheckError::Input {
                what: format!("the oracles of {}", model.name),
                reason: format!(
                    "their perplexity of the evaluation text is {:.3}, {:.3} times the float32 \
                     oracles' {:.3}: beyond what {} may cost ([thresholds.ladder] \
                     max_cost_ppl_ratio = {}), so the quantizer or the dequantizer the oracles \
                     ran is suspect, and apr cannot be judged by them",
                    cost.ppl_rung,
                    cost.ppl_ratio,
                    cost.ppl_f32,
                    rung.ftype,
                    limits.max_cost_ppl_ratio
                ),
            });
        }

        let mut apr_error = KernelError::default();
        let mut apr_speed = Vec::new();
        for (i, prompt) in cx.prompts().iter().enumerate() {
            let oracle = cx.prompt_oracle(i)?;
            let ran = apr::generate_text(cx, &file, &prompt.text)?;
            if ran.tokens.is_empty() && !ran.stopped {
                let voice = llama_alone(cx, &file, bound.tie_margin)?;
                return Ok(Verdict::fail(
                    Evidence::new(voice.steps.max(1), "steps"),
                    format!(
                        "apr cannot run llama.cpp's {} file (`{}`, exit {}): {}; llama.cpp runs \
                         it: {} (bound: max |Δ log-prob| {})",
                        rung.ftype,
                        prompt.name,
                        ran.exit_code,
                        ran.stderr_tail.lines().last().unwrap_or_default(),
                        voice.describe(),
                        bound.max_logprob_diff
                    ),
                )
                .with_facts(rung_facts(
                    rung,
                    &file,
                    json!({ "cost": cost, "llamacpp": voice, "apr_exit_code": ran.exit_code }),
                )?));
            }
            if ran.tokens.is_empty() {
                // apr stopped before its first token (and then reports no log-probs): right
                // where the oracle's continuation is its end-of-sequence token alone.
                apr_error.add_stop_at_once(&prompt.name, &oracle, bound.tie_margin);
            } else {
                let Some(trajectory) = oracle.trajectory_for_prompt(&ran.prompt_ids) else {
                    return Ok(Verdict::fail(
                        Evidence::new(1, "prompts"),
                        format!(
                            "{}: apr ran `{}` on ids {:?} (exit {}), which no trajectory of the \
                             oracle starts from: {}",
                            model.name, prompt.name, ran.prompt_ids, ran.exit_code, ran.stderr_tail
                        ),
                    ));
                };
                apr_error.add(&prompt.name, &trajectory, &ran.steps, bound.tie_margin);
                apr_speed.extend(ran.tok_per_sec);
            }
        }
        let llama_error = llama_alone(cx, &file, bound.tie_margin)?;
        if apr_error.steps == 0 {
            return Err(CheckError::Input {
                what: format!("apr on {}", file.display()),
                reason: "no step of any prompt to compare: apr reported no log-probabilities"
                    .into(),
            });
        }

        let flipped = cost.flips.iter().filter(|(_, f)| f.is_some()).count();
        let apr_ok = apr_error.within(bound.max_logprob_diff);
        let llama_ok = llama_error.within(bound.max_logprob_diff);
        let mut message = format!(
            "{}: the quantization costs perplexity x{:.4} over the float32 oracles ({} of {} \
             continuations leave them); on top of it apr: {}; llama.cpp: {}; bound: max |Δ \
             log-prob| {}",
            rung.ftype,
            cost.ppl_ratio,
            flipped,
            cost.flips.len(),
            apr_error.describe(),
            llama_error.describe(),
            bound.max_logprob_diff
        );
        if !apr_ok {
            message.push_str(if llama_ok {
                "; llama.cpp stays within it on the same file: apr's kernel is the outlier"
            } else {
                "; llama.cpp is beyond it too on the same file: the bound or the oracles are in \
                 question as much as apr"
            });
        }
        let tok_per_sec =
            (!apr_speed.is_empty()).then(|| apr_speed.iter().sum::<f64>() / apr_speed.len() as f64);
        let facts = rung_facts(
            rung,
            &file,
            json!({
            "cost": cost,
            "apr": apr_error,
            "llamacpp": llama_error,
            "apr_tok_per_sec": tok_per_sec,
            "bound": bound.max_logprob_diff,
            }),
        )?;
        Ok(
            Verdict::judge(apr_ok, Evidence::new(apr_error.steps, "steps"), message)
                .with_facts(facts),
        )
    }
}

/// llama.cpp's error on the rung's file against its oracles, each prompt encoded by llama.cpp:
/// what the file allows where apr gives nothing to compare.
fn llama_alone(
    cx: &dyn Context,
    file: &std::path::Path,
    tie_margin: f64,
) -> Result<KernelError, CheckError> {
    let mut error = KernelError::default();
    for (i, prompt) in cx.prompts().iter().enumerate() {
        let oracle = cx.prompt_oracle(i)?;
        let voice =
            llama::generate_text(file, &prompt.text, cx.max_new_tokens())?.map_err(|reason| {
                CheckError::Input {
                    what: format!("llama.cpp on {}", file.display()),
                    reason,
                }
            })?;
        if let Some(trajectory) = oracle.trajectory_for_prompt(&voice.prompt_ids) {
            error.add(
                &prompt.name,
                &trajectory,
                &llama::step_logprobs(&voice),
                tie_margin,
            );
        }
    }
    Ok(error)
}

/// What every verdict of a rung carries (its type, its base, the file's size and the type each
/// tensor got), with the verdict's own `facts` beside them.
fn rung_facts(
    rung: &tmgt_check::Rung,
    file: &std::path::Path,
    facts: serde_json::Value,
) -> Result<serde_json::Value, CheckError> {
    let mut all = json!({
        "ftype": rung.ftype,
        "base": rung.base,
        "file_bytes": std::fs::metadata(file).map_or(0, |m| m.len()),
        "tensor_types": tensor_types(file)?,
    });
    if let (Some(all), serde_json::Value::Object(own)) = (all.as_object_mut(), facts) {
        all.extend(own);
    }
    Ok(all)
}

/// The storage type each tensor of the rung's file got (llama.cpp keeps 1-D tensors in F32 and
/// gives some matrices a larger type): what the kernels actually ran.
fn tensor_types(file: &std::path::Path) -> Result<BTreeMap<String, String>, CheckError> {
    let gguf = tmgt_gguf::GgufFile::open(file).map_err(|e| CheckError::Input {
        what: file.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(gguf
        .tensors()
        .iter()
        .map(|t| (t.name.clone(), format!("{:?}", t.kind)))
        .collect())
}
