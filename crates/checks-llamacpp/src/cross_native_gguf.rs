use crate::cross::{WhenLlamaFails, compare};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp's own F32 GGUF (from `convert_hf_to_gguf.py`) generates the same greedy
    /// tokens in apr as in llama.cpp. This is apr reading a GGUF it did not write: tensor
    /// names, layouts and tokenizer metadata as llama.cpp's converter writes them. The result
    /// names the outlier among apr, llama.cpp and the oracle.
    pub CrossNativeGguf {
        code: "XRT002",
        name: "apr-and-llamacpp-disagree-on-native-gguf",
        suite: "cross-runtime",
        scope: Scope::ModelPrompt,
        summary: "apr and llama.cpp generate the same tokens from llama.cpp's F32 GGUF",
    }
}

impl Check for CrossNativeGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let gguf = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        compare(
            cx,
            &gguf,
            "llama.cpp's native F32 GGUF",
            WhenLlamaFails::Error,
        )
    }
}
