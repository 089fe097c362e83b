use crate::{judge, positions};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr on llama.cpp's own F32 GGUF of the model continues prompts of each length the
    /// position oracles hold as HF does, judged as LNG001. llama.cpp's converter writes the
    /// scaling keys (`rope.scaling.*`, llama3's `rope_freqs.weight`) and the window
    /// (`attention.sliding_window`) where its architecture has them, so this file tells apr
    /// everything HF knows; a departure here is apr's reading of them.
    pub PositionsNative {
        code: "LNG008",
        name: "long-positions-native-gguf-depart",
        suite: "long",
        scope: Scope::Model,
        summary: "apr on llama.cpp's own GGUF continues prompts at every judged length as HF does",
        cost: 4,
    }
}

impl Check for PositionsNative {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let gguf = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        positions::at_positions(cx, "apr on llama.cpp's GGUF", |label, oracle| {
            judge::continuation(cx, label, &gguf, oracle)
        })
    }
}
