use crate::prepare_import::artifact_verdict;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr export --format gguf` writes a GGUF of the f32 `.apr`. The runtime, prompt and
    /// log-probability suites run on it, and a failure here (apr 0.72.3 refuses GPT-2 for want
    /// of an `ffn_gate` tensor) is the one finding they all share.
    pub PrepareExport {
        code: "PRE002",
        name: "gguf-export-fails",
        suite: "prepare",
        scope: Scope::Model,
        summary: "apr export makes a GGUF of the f32 .apr",
    }
}

impl Check for PrepareExport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        artifact_verdict(cx, ArtifactKind::Gguf)
    }
}
