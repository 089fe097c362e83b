use crate::PerplexityThresholds;
use crate::ppl_ceiling::perplexity;
use apr_client::{Invocation, parse};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr's perplexity of the evaluation text on the f32 GGUF equals the oracle's (HF float32,
    /// same text, no BOS) within a ratio bound. A ceiling only catches a model that stopped
    /// working; this catches a runtime that scores the same text differently. It first
    /// establishes that apr scores the oracle's ids (`apr tokenize encode`, the encoder `apr
    /// eval` uses): other ids are a tokenizer fault, reported as one, not a perplexity.
    pub PerplexityOracle {
        code: "PPL003",
        name: "perplexity-differs-from-oracle",
        suite: "ppl",
        scope: Scope::Model,
        summary: "f32 GGUF perplexity matches the oracle's",
        // An `eval` of the evaluation text on the GGUF: the longest call of a run.
        cost: 8,
    }
}

impl Check for PerplexityOracle {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.perplexity_oracle()?;
        if let Some(fault) = tokenizer_fault(cx, oracle.token_ids.as_deref())? {
            return Ok(fault);
        }
        let apr = perplexity(cx, ArtifactKind::Gguf)?;
        let max_ratio = cx.thresholds().get::<PerplexityThresholds>()?.max_ratio;
        let ratio = apr.perplexity / oracle.perplexity;
        let evidence = Evidence::new(
            apr.tokens_evaluated.min(oracle.token_count as u64),
            "tokens",
        );
        if apr.tokens_evaluated != oracle.token_count as u64 {
            return Ok(Verdict::fail(
                evidence,
                format!(
                    "apr scored {} tokens of the text, the oracle {}: the tokenizers split it differently (PPL apr {:.3}, oracle {:.3})",
                    apr.tokens_evaluated, oracle.token_count, apr.perplexity, oracle.perplexity
                ),
            ));
        }
        Ok(Verdict::judge(
            ratio.is_finite() && ratio <= max_ratio && ratio >= 1.0 / max_ratio,
            evidence,
            format!(
                "PPL apr {:.4}, oracle {:.4}: ratio {ratio:.4}, difference {:+.4} (allowed ratio within {max_ratio})",
                apr.perplexity,
                oracle.perplexity,
                apr.perplexity - oracle.perplexity
            ),
        ))
    }
}

/// A failing verdict when apr's encoder gives the evaluation text other ids than the oracle
/// scored; `None` when they agree (or the oracle does not record its ids).
fn tokenizer_fault(cx: &dyn Context, want: Option<&[u32]>) -> Result<Option<Verdict>, CheckError> {
    let Some(want) = want else {
        return Ok(None);
    };
    let gguf = cx.artifact(ArtifactKind::Gguf)?;
    let text = cx.eval_text()?;
    let captured = cx.apr(&Invocation::tokenize_encode(&gguf, &text)?)?;
    let reply = parse::tokenize_encode(&captured)?;
    if reply.exit_code != 0 {
        return Err(CheckError::Schema {
            command: "tokenize encode".into(),
            detail: format!("exit {} after its report", reply.exit_code),
        });
    }
    let got = &reply.value.ids[..reply.value.ids.len().min(want.len())];
    let Some(at) = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or_else(|| (got.len() != want.len()).then_some(got.len()))
    else {
        return Ok(None);
    };
    Ok(Some(Verdict::fail(
        Evidence::new(at + 1, "tokens"),
        format!(
            "a tokenizer fault, not a perplexity one: apr's encoder ({}) gives the evaluation text other ids than the oracle scored, first at position {at}: {} where HF has {}; the perplexities are not comparable",
            reply.value.path,
            got.get(at).map_or_else(|| "the end".into(), u32::to_string),
            want[at]
        ),
    )))
}
