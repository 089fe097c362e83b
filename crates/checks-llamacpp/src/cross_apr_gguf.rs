use crate::cross::{WhenLlamaFails, compare};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's own F32 GGUF export generates the same greedy tokens in apr and in llama.cpp.
    /// Same file, two runtimes: a difference is a runtime difference, not a conversion one.
    /// With the oracle as third voice the result names the outlier ("apr disagrees with
    /// llama.cpp and the oracle from step 4"), which says whose bug to file.
    pub CrossAprGguf {
        code: "XRT001",
        name: "apr-and-llamacpp-disagree-on-apr-gguf",
        suite: "cross-runtime",
        scope: Scope::ModelPrompt,
        summary: "apr and llama.cpp generate the same tokens from apr's GGUF",
    }
}

impl Check for CrossAprGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        compare(cx, &gguf, "apr's F32 GGUF", WhenLlamaFails::Skip)
    }
}
