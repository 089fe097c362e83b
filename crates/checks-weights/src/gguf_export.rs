use crate::verdict::judge_artifact;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF export (or the model's ready-made GGUF) holds every source tensor under
    /// llama.cpp's name and layout: ggml dims, LLaMA q/k rows permuted for RoPE, GPT-2's
    /// Conv1D weights transposed, a tied output head absent. A tensor llama.cpp would read
    /// wrongly is named with the kind of damage (e.g. "equals the source without llama.cpp's
    /// RoPE row permutation"), which is the conversion bug behind a diverging GGUF.
    pub GgufExportWeights {
        code: "WGT002",
        name: "gguf-weights-depart-from-source",
        suite: "weights",
        scope: Scope::Model,
        summary: "apr's GGUF export (or a ready-made GGUF) holds every source tensor in llama.cpp's layout",
    }
}

impl Check for GgufExportWeights {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let what = if cx.model()?.provided.is_some() {
            "the ready-made GGUF"
        } else {
            "apr's GGUF export"
        };
        judge_artifact(cx, ArtifactKind::Gguf, what)
    }
}
