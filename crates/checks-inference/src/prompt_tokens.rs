use crate::generation::generate;
use tmgt_check::outcome::{Details, TokenJudgement};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr's GGUF path encodes the prompt into the same token ids as the model's own
    /// tokenizer (ignoring a leading BOS, which PRM002 judges). A tokenizer difference changes
    /// the model's input, so every later token comparison would blame the wrong component.
    pub PromptTokens {
        code: "PRM001",
        name: "tokenizer-encodes-prompt-differently",
        suite: "prompt",
        scope: Scope::ModelPrompt,
        summary: "apr's prompt token ids equal the HF tokenizer's",
    }
}

impl Check for PromptTokens {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let Ok(plain) = oracle.plain() else {
            return Ok(Verdict::skip(
                "the oracle records no prompt token ids (a reference oracle)",
            ));
        };
        let expected = plain.prompt_token_ids.to_vec();
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let generation = generate(cx, &gguf, true)?;
        let apr_ids = generation.prompt_ids.unwrap_or_default();
        let bos = oracle.with_bos().ok().and_then(|t| t.bos);
        let without_bos = match (apr_ids.first(), bos) {
            (Some(first), Some(b)) if *first == b && expected.first() != Some(&b) => &apr_ids[1..],
            _ => &apr_ids[..],
        };
        let evidence = Evidence::new(expected.len().max(without_bos.len()), "prompt tokens");
        let details = Details::Tokens(Box::new(TokenJudgement::new("apr", &expected, &apr_ids)));
        if without_bos == expected.as_slice() {
            return Ok(Verdict::pass(
                evidence,
                format!(
                    "apr encodes the prompt as the HF tokenizer does ({} ids)",
                    expected.len()
                ),
            )
            .with_details(details.clone()));
        }
        let at = without_bos
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(without_bos.len().min(expected.len()));
        Ok(Verdict::fail(
            evidence,
            format!(
                "apr's tokenizer differs from the model's at prompt position {at}: HF {:?}, apr {:?}",
                expected, without_bos
            ),
        )
        .with_details(details))
    }
}
