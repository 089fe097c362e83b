use crate::prepare_import::artifact_verdict;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr import` reads apr's own GGUF export back into a `.apr`: the second half of the
    /// round trip the roundtrip suite compares tokens across.
    pub PrepareReimport {
        code: "PRE003",
        name: "gguf-reimport-fails",
        suite: "prepare",
        scope: Scope::Model,
        summary: "apr import reads its own GGUF export back",
    }
}

impl Check for PrepareReimport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        artifact_verdict(cx, ArtifactKind::RoundTrip)
    }
}
