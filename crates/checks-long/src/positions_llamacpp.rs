use crate::positions;
use checks_llamacpp::judge_llamacpp_continuation;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp on its own F32 GGUF of the model continues prompts of each length the
    /// position oracles hold as HF does (tokens, and chosen-token log-probs within
    /// `[thresholds.runtime]`). The reference the apr checks of this suite are read against:
    /// where it passes and LNG008 fails, the file carries what HF knows and apr does not
    /// apply it; where it fails too, llama.cpp's converter or runtime lacks the field.
    pub PositionsLlamacpp {
        code: "LNG010",
        name: "long-positions-llamacpp-depart",
        suite: "long",
        scope: Scope::Model,
        summary: "llama.cpp on its own GGUF continues prompts at every judged length as HF does",
        cost: 2,
    }
}

impl Check for PositionsLlamacpp {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let gguf = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        positions::at_positions(cx, "llama.cpp on its own GGUF", |label, oracle| {
            judge_llamacpp_continuation(cx, label, &gguf, oracle)
        })
    }
}
