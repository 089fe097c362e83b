use crate::continuation::judge_generation;
use crate::llama::generate_native;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp running the F32 GGUF that llama.cpp's own converter made reproduces the
    /// oracle's greedy tokens, and the chosen tokens' log-probabilities stay within float
    /// noise of the oracle's. This is the reference point the cross-runtime suite leans on:
    /// where it holds, a divergence of apr on the same weights is apr's, not the model's.
    pub TextF32 {
        code: "LCT002",
        name: "native-f32-llamacpp-diverges",
        suite: "llamacpp-text",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp on the native F32 GGUF reproduces the oracle's tokens",
    }
}

impl Check for TextF32 {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let generation = generate_native(cx, &native)?;
        judge_generation(
            cx,
            "llama.cpp, native F32 GGUF",
            "the native F32 GGUF",
            &oracle,
            &generation,
        )
    }
}
