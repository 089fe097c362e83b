use apr_client::{Invocation, parse};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

/// Tokens of the evaluation text apr scores (its own default).
pub(crate) const EVAL_MAX_TOKENS: u32 = 512;

declare_check! {
    /// `apr eval` perplexity of the evaluation text stays below the model's ceiling
    /// (suites.toml `ppl_ceiling`): the reference project's sanity bound that a model still
    /// predicts language at all at this quantization level.
    pub PerplexityCeiling {
        code: "PPL001",
        name: "perplexity-above-ceiling",
        suite: "ppl",
        scope: Scope::ModelQuant,
        summary: "perplexity of the evaluation text is below the model's ceiling",
        // An `eval` of the evaluation text.
        cost: 2,
    }
}

impl Check for PerplexityCeiling {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        let quant = cx.quant()?;
        let ppl = perplexity(cx, ArtifactKind::Apr(quant))?;
        Ok(Verdict::judge(
            ppl.perplexity.is_finite() && ppl.perplexity < model.ppl_ceiling,
            Evidence::new(ppl.tokens_evaluated, "tokens"),
            format!(
                "{quant} perplexity {:.3} over {} tokens (ceiling {})",
                ppl.perplexity, ppl.tokens_evaluated, model.ppl_ceiling
            ),
        ))
    }
}

/// `apr eval` of the evaluation text on an artifact, with the gate set out of reach so the
/// number is always printed.
pub(crate) fn perplexity(
    cx: &dyn Context,
    kind: ArtifactKind,
) -> Result<parse::EvalOutput, CheckError> {
    let path = cx.artifact(kind)?;
    let text = cx.eval_text()?;
    let captured = cx.apr(&Invocation::eval_text(&path, &text, EVAL_MAX_TOKENS)?)?;
    let reply = parse::eval(&captured)?;
    if let Some(p) = reply
        .drift
        .iter()
        .find(|p| p.path == "perplexity" || p.path == "tokens_evaluated")
    {
        return Err(CheckError::Schema {
            command: "eval".into(),
            detail: p.to_string(),
        });
    }
    Ok(reply.value)
}
