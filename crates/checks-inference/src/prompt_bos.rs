use crate::generation::generate;
use tmgt_check::outcome::{Details, TokenJudgement};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr's GGUF path feeds the prompt without a BOS token the model's tokenizer does not
    /// add. A prepended BOS conditions every generated token on different input; later checks
    /// compare such runs with the oracle's BOS-prefixed trajectory, so this is reported once here.
    pub PromptBos {
        code: "PRM002",
        name: "gguf-prepends-bos",
        suite: "prompt",
        scope: Scope::ModelPrompt,
        summary: "apr adds no BOS token the HF tokenizer does not add",
    }
}

impl Check for PromptBos {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let (Ok(plain), Ok(with_bos)) = (oracle.plain(), oracle.with_bos()) else {
            return Ok(Verdict::skip(
                "the oracle records no prompt ids or BOS trajectory (a reference oracle)",
            ));
        };
        let bos = with_bos.bos.ok_or(CheckError::Scope("BOS id"))?;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let generation = generate(cx, &gguf, true)?;
        let apr_ids = generation.prompt_ids.unwrap_or_default();
        let Some(first) = apr_ids.first() else {
            return Ok(Verdict::fail(
                Evidence::new(1, "prompt tokens"),
                "apr reported an empty prompt",
            ));
        };
        let hf_first = plain.prompt_token_ids.first();
        let added = *first == bos && hf_first != Some(&bos);
        let mut details = TokenJudgement::new("apr", plain.prompt_token_ids, &apr_ids);
        details.bos_token_id = Some(bos);
        Ok(Verdict::judge(
            !added,
            Evidence::new(1, "prompt tokens"),
            if added {
                format!("apr prepends BOS id {bos} that the model's tokenizer does not add (HF prompt starts with {hf_first:?})")
            } else {
                format!("apr's prompt starts with id {first}, as the HF tokenizer's does")
            },
        )
        .with_details(Details::Tokens(Box::new(details))))
    }
}
