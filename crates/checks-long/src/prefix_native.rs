use crate::{judge, oracles};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr on llama.cpp's own F32 GGUF of the model (`convert_hf_to_gguf.py`, which writes the
    /// model's real pre-tokenizer where apr's export writes `default`) continues the same long
    /// prefix as LNG001, judged the same way: where apr's own export is fed wrong, this file
    /// still reaches the high positions.
    pub PrefixNative {
        code: "LNG006",
        name: "long-prefix-native-gguf-diverges",
        suite: "long",
        scope: Scope::Model,
        summary: "apr continues a long prefix on llama.cpp's own GGUF as HF does",
        cost: 4,
    }
}

impl Check for PrefixNative {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let (n, oracle) = oracles::prefix(cx)?;
        let gguf = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        judge::continuation(cx, &format!("prefix of {n} tokens"), &gguf, &oracle)
    }
}
