//! llama.cpp's tokens against an oracle trajectory: the inference suites' first-divergence
//! and tie-flip classification (`checks_inference::compare`), applied to llama.cpp.

use checks_inference::compare::{self, Produced};
use llamacpp_runtime::Generation;
use tmgt_check::outcome::{Details, TokenJudgement};
use tmgt_check::{Evidence, Verdict};
use tmgt_oracle::{Oracle, Trajectory};

/// The oracle trajectory whose prompt ids equal llama.cpp's (plain or BOS-prefixed), or a
/// skip saying why there is none.
pub fn trajectory_for<'o>(
    oracle: &'o Oracle,
    generation: &Generation,
    what: &str,
) -> Result<Trajectory<'o>, Verdict> {
    oracle
        .trajectory_for_prompt(&generation.prompt_ids)
        .ok_or_else(|| {
            Verdict::skip(format!(
                "llama.cpp encodes the prompt on {what} as {:?}, which matches no oracle trajectory (plain {:?}): LCT001/LLA002 report the tokenizer difference",
                generation.prompt_ids,
                oracle.prompt_token_ids.as_deref().unwrap_or_default()
            ))
        })
}

/// llama.cpp's tokens against `trajectory` with the inference suites' judgement (exact, or a
/// tie-flip below `tie_margin`, or at most `allowed` mismatches).
pub fn judge_tokens(
    what: &str,
    trajectory: &Trajectory<'_>,
    generation: &Generation,
    allowed: usize,
    tie_margin: f64,
) -> Verdict {
    let against = if trajectory.bos.is_some() {
        " (vs BOS-prefixed oracle)"
    } else {
        ""
    };
    let mut notes = Vec::new();
    if let Some(step) = generation.non_finite_at {
        notes.push(format!(
            "llama.cpp's logits were not finite at step {step}."
        ));
    }
    if generation.stopped_at_eog {
        notes.push("llama.cpp stopped at an end-of-generation token.".to_string());
    }
    let produced = Produced {
        runtime: "llama.cpp",
        tokens: &generation.tokens,
        text: &generation.text,
        notes: notes.join(" "),
        stopped: generation.stopped_at_eog,
    };
    compare::judge_tokens(
        &format!("{what}{against}"),
        trajectory.tokens,
        &produced,
        Some(trajectory),
        allowed,
        tie_margin,
    )
}

/// llama.cpp's prompt ids on `what` against the HF tokenizer's (`hf`), a leading `bos` the
/// GGUF asks for aside (the oracle has a BOS-prefixed trajectory for that case).
pub fn judge_prompt(what: &str, hf: &[u32], bos: Option<u32>, ids: &[u32]) -> Verdict {
    let (without_bos, added_bos) = match (ids.first(), bos) {
        (Some(first), Some(b)) if *first == b && hf.first() != Some(&b) => (&ids[1..], true),
        _ => (ids, false),
    };
    let evidence = Evidence::new(hf.len().max(without_bos.len()), "prompt tokens");
    let mut judged = TokenJudgement::new("llama.cpp", hf, ids);
    judged.adds_bos = Some(added_bos);
    let details = Details::Tokens(Box::new(judged));
    if without_bos == hf {
        let bos_note = if added_bos {
            " after the BOS the GGUF asks for"
        } else {
            ""
        };
        return Verdict::pass(
            evidence,
            format!(
                "llama.cpp encodes the prompt on {what} as the HF tokenizer does ({} ids{bos_note})",
                hf.len()
            ),
        )
        .with_details(details.clone());
    }
    let at = without_bos
        .iter()
        .zip(hf)
        .position(|(a, b)| a != b)
        .unwrap_or(without_bos.len().min(hf.len()));
    Verdict::fail(
        evidence,
        format!(
            "llama.cpp's tokenizer on {what} differs from the HF tokenizer at prompt position {at}: HF {hf:?}, llama.cpp {without_bos:?}"
        ),
    )
    .with_details(details)
}
