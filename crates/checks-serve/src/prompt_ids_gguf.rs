use crate::prompt_ids::judge_prompt_ids;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// SRV001 on the model's GGUF (apr's export, or the ready-made file): apr serve encodes
    /// every text into HF's ids, as `apr run` on the same file must.
    pub PromptIdsGguf {
        code: "SRV002",
        name: "serve-gguf-prompt-ids-differ-from-hf",
        suite: "serve",
        scope: Scope::Model,
        summary: "apr serve of the GGUF encodes every text into HF's ids",
    }
}

impl Check for PromptIdsGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    judge_prompt_ids(cx, ArtifactKind::Gguf, "apr serve of the GGUF")
}
