use crate::localize::{localize, stage_oracle};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// The GGUF's forward pass, traced and held against HF's stages like the f32 `.apr`'s
    /// (LOC001), wherever apr can trace a GGUF: apr 0.72.3 traces only `qwen3_moe` GGUFs, so
    /// elsewhere the result is a skip in apr's own words. Its head order is found at the
    /// projection, so GGUF's interleaved Q and K rows compare as they should.
    pub LocalizeGguf {
        code: "LOC002",
        name: "gguf-stage-departs",
        suite: "localize",
        scope: Scope::Model,
        summary: "every stage of apr's traced GGUF forward pass agrees with HF's within noise",
    }
}

impl Check for LocalizeGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = stage_oracle(cx)?;
        let file = cx.artifact(ArtifactKind::Gguf)?;
        localize(cx, &oracle, &file, "the GGUF", None)
    }
}
