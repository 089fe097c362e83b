//! One GGUF through apr and through llama.cpp, with the oracle as the third voice.

use crate::apr::{self, AprGeneration};
use crate::llama::{self, step_logprobs, stop_token};
use crate::outlier::{Runtime, ThreeWay};
use checks_inference::compare::LogprobAgreement;
use checks_inference::{RuntimeThresholds, TieThresholds};
use llamacpp_runtime::Generation;
use serde_json::json;
use std::path::Path;
use tmgt_check::outcome::{Classification, TokenComparison};
use tmgt_check::{CheckError, Context, Evidence, Verdict};

/// What to do when llama.cpp cannot run the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenLlamaFails {
    /// Skip, pointing at the check that reports it (apr's GGUF: LLA001).
    Skip,
    /// A harness error (llama.cpp's own GGUF must run).
    Error,
}

/// Runs `gguf` through both runtimes on the instance's prompt and judges whether apr's
/// tokens equal llama.cpp's, naming the outlier among apr, llama.cpp and the oracle.
pub fn compare(
    cx: &dyn Context,
    gguf: &Path,
    label: &str,
    when_llama_fails: WhenLlamaFails,
) -> Result<Verdict, CheckError> {
    let oracle = cx.oracle()?;
    let llama = match llama::generate(cx, gguf)? {
        Ok(g) => g,
        Err(reason) if when_llama_fails == WhenLlamaFails::Skip => {
            return Ok(Verdict::skip(format!(
                "llama.cpp cannot run {label} (LLA001 reports it): {reason}"
            )));
        }
        Err(reason) => {
            return Err(CheckError::Input {
                what: format!("llama.cpp on {label}"),
                reason,
            });
        }
    };
    let apr = apr::generate(cx, gguf)?;

    if apr.tokens.is_empty() && !apr.stopped {
        let trajectory = oracle.trajectory_for_prompt(&llama.prompt_ids);
        let way = trajectory.map(|t| ThreeWay::of(t.tokens, &llama.tokens, &[]));
        let named = way.map_or_else(
            || "apr disagrees with llama.cpp from step 0".to_string(),
            |w| w.describe("step"),
        );
        return Ok(Verdict::fail(
            Evidence::new(llama.tokens.len().max(1), "tokens"),
            format!(
                "{label}: {named}: apr generated no tokens (exit {}): {}",
                apr.exit_code,
                one_line(&apr.stderr_tail)
            ),
        )
        .with_facts(json!({
            "file": label,
            "prompt_ids": { "llamacpp": llama.prompt_ids, "apr": apr.prompt_ids },
            "tokens": { "oracle": trajectory.map(|t| t.tokens.to_vec()), "llamacpp": llama.tokens, "apr": apr.tokens },
            "apr_exit_code": apr.exit_code,
            "three_way": way,
        })));
    }

    // Same file, same input: when apr encodes the prompt otherwise than llama.cpp's own
    // tokenizer (a BOS it prepends, another split), llama.cpp is fed apr's ids. The prompt
    // difference itself is the prompt and LLA002 checks' finding.
    let mut fed = String::new();
    let own_prompt = llama.prompt_ids.clone();
    let llama = if apr.prompt_ids.is_empty() || apr.prompt_ids == llama.prompt_ids {
        llama
    } else {
        let hf = oracle.prompt_token_ids.clone().unwrap_or_default();
        fed = format!(
            " Prompt: apr feeds {:?}, llama.cpp's own tokenizer gives {:?}, the HF tokenizer {hf:?} ({}), so llama.cpp was fed apr's ids{}; PRM001/PRM002 and LLA002 judge the prompts.",
            apr.prompt_ids,
            own_prompt,
            ThreeWay::of(&hf, &own_prompt, &apr.prompt_ids).describe("prompt position"),
            who_follows_the_file(gguf, &own_prompt, &apr.prompt_ids),
        );
        match llama::generate_ids(gguf, &apr.prompt_ids, cx.max_new_tokens())? {
            Ok(g) => g,
            Err(reason) => {
                return Ok(Verdict::fail(
                    Evidence::new(apr.prompt_ids.len(), "prompt tokens"),
                    format!("{label}: llama.cpp cannot run apr's prompt ids: {reason}.{fed}"),
                ));
            }
        }
    };

    // The oracle trajectory that read the same ids (plain, or BOS-prefixed).
    let trajectory = oracle.trajectory_for_prompt(&llama.prompt_ids);
    let base = json!({
        "file": label,
        "prompt_ids": {
            "oracle": trajectory.map(|t| t.prompt_token_ids.to_vec()),
            "llamacpp_own": own_prompt,
            "fed": llama.prompt_ids,
            "apr": apr.prompt_ids,
        },
        "tokens": {
            "oracle": trajectory.map(|t| t.tokens.to_vec()),
            "llamacpp": llama.tokens,
            "apr": apr.tokens,
        },
        "apr_exit_code": apr.exit_code,
    });
    let margins = (
        cx.thresholds().get::<RuntimeThresholds>()?.tie_margin,
        cx.thresholds().get::<TieThresholds>()?.margin,
    );
    let verdict = judge_runtimes(margins, label, &fed, &llama, &apr, trajectory);
    Ok(verdict.with_facts(with_comparisons(base, &llama, &apr, trajectory)))
}

/// Pass when apr's tokens equal llama.cpp's, or they first part at a step llama.cpp itself
/// nearly tied (its own top-1/top-2 margin below the runtime tie tolerance).
/// `margins`: the runtime suite's tie margin between runtimes, and the oracle's.
fn judge_runtimes(
    (tie_margin, oracle_tie): (f64, f64),
    label: &str,
    fed: &str,
    llama: &Generation,
    apr: &AprGeneration,
    trajectory: Option<tmgt_oracle::Trajectory<'_>>,
) -> Verdict {
    let llama_tokens = llama.tokens.as_slice();
    let eos = trajectory.map(|t| t.eos).unwrap_or_default();
    let apr_tokens = apr.tokens_with_stop(eos, stop_token(llama));
    let between = TokenComparison::new(llama_tokens, &apr_tokens);
    let evidence = Evidence::new(between.evidence(), "tokens");
    let named = match trajectory {
        Some(t) => {
            let way = ThreeWay::of(t.tokens, llama_tokens, &apr_tokens);
            let mut named = way.describe("step");
            if way.outlier() == Some(Runtime::Oracle) {
                named.push_str(
                    " (two runtimes agree on this file, so the file itself departs from the HF model: a conversion difference, not a runtime one)",
                );
            }
            named
        }
        None => format!(
            "the prompt ids {:?} match no oracle trajectory, so only the two runtimes are compared: {}",
            llama.prompt_ids,
            match between.first_divergence {
                None => format!("they agree on all {} tokens", between.expected_len),
                Some(k) => format!("they part at step {k}"),
            }
        ),
    };
    let Some(k) = between.first_divergence else {
        return Verdict::pass(
            evidence,
            format!(
                "{label}: apr and llama.cpp generate the same {} tokens; {named}.{fed}",
                llama_tokens.len()
            ),
        );
    };
    let llama_margin = llama.steps.get(k).map(|s| s.margin);
    let near_tie = llama_margin.is_some_and(|m| m < tie_margin);
    let oracle_class = trajectory
        .filter(|t| t.tokens.get(..k) == llama_tokens.get(..k))
        .map(|t| Classification::at(k, t.margin(k), oracle_tie));
    let how = match (llama_margin, oracle_class) {
        (Some(m), Some(c)) => format!(
            "llama.cpp's own margin there {m:.3} logits ({}); for the oracle it is a {c}",
            if near_tie {
                "a near-tie: float noise can flip it"
            } else {
                "not a tie"
            }
        ),
        (Some(m), None) => format!(
            "llama.cpp's own margin there {m:.3} logits ({})",
            if near_tie {
                "a near-tie: float noise can flip it"
            } else {
                "not a tie"
            }
        ),
        (None, _) => "llama.cpp has no step there (it stopped)".to_string(),
    };
    Verdict::judge(
        near_tie,
        evidence,
        format!(
            "{label}: {named}; apr and llama.cpp part at step {k}: {how}; llama.cpp {:?}, apr {:?}.{fed}",
            &llama_tokens[k.min(llama_tokens.len())..],
            &apr_tokens[k.min(apr_tokens.len())..]
        ),
    )
}

/// The runs' facts with the comparisons between them added.
fn with_comparisons(
    mut facts: serde_json::Value,
    llama: &Generation,
    apr: &AprGeneration,
    trajectory: Option<tmgt_oracle::Trajectory<'_>>,
) -> serde_json::Value {
    let way = trajectory.map(|t| {
        let apr_tokens = apr.tokens_with_stop(t.eos, stop_token(llama));
        ThreeWay::of(t.tokens, &llama.tokens, &apr_tokens)
    });
    // apr against llama.cpp over the steps they share a context for.
    let logprobs = LogprobAgreement::new(&step_logprobs(llama), &apr.steps);
    facts["logprobs_apr_vs_llamacpp"] = json!(logprobs);
    facts["three_way"] = json!(way);
    facts["outlier"] = json!(way.and_then(|w| w.outlier()).map(Runtime::name));
    facts["llamacpp_text"] = json!(llama.text);
    facts["apr_text"] = json!(apr.text);
    facts
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Which runtime follows the file's metadata where their prompts differ: the BOS flag as
/// llama.cpp reads it (the file's `tokenizer.ggml.add_bos_token`, or llama.cpp's default for
/// its tokenizer), and whether the two split the text alike once a BOS is set aside.
fn who_follows_the_file(gguf: &Path, llama: &[u32], apr: &[u32]) -> String {
    let Ok(Ok(info)) = llama::inspect(gguf) else {
        return String::new();
    };
    let starts = |ids: &[u32]| ids.first() == Some(&info.bos);
    let mut notes = Vec::new();
    if starts(apr) != info.add_bos {
        notes.push(format!(
            "the file asks for {} BOS, add_bos_token {} as llama.cpp reads it: llama.cpp follows it, apr ignores it and {} one",
            if info.add_bos { "a" } else { "no" },
            info.add_bos,
            if info.add_bos { "omits" } else { "prepends" }
        ));
    } else if starts(llama) != info.add_bos {
        notes.push(format!(
            "the file asks for {} BOS: apr follows it, llama.cpp does not",
            if info.add_bos { "a" } else { "no" }
        ));
    }
    let text = |ids: &[u32]| {
        if starts(ids) {
            ids[1..].to_vec()
        } else {
            ids.to_vec()
        }
    };
    if text(llama) != text(apr) {
        notes.push(format!(
            "the two split the text differently (pre-tokenizer `{}`; TKN001 and TKN002 judge each against HF)",
            info.tokenizer_pre
        ));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}
