use crate::greedy::judge_greedy;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// SRV003 on llama.cpp's own F32 GGUF of the model, the file whose weights are known right
    /// (WGT004): apr serve's greedy tokens on it are the oracle's, so a departure is the
    /// server's or apr's runtime's, not a conversion's.
    pub GreedyNative {
        code: "SRV006",
        name: "serve-native-gguf-greedy-diverges",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "apr serve of llama.cpp's F32 GGUF reproduces the oracle's greedy tokens",
    }
}

impl Check for GreedyNative {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge_greedy(
            cx,
            ArtifactKind::Native(NativeGguf::F32),
            "apr serve of llama.cpp's F32 GGUF",
            0,
        ))
    }
}
