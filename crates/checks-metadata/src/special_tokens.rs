use crate::field::Family;
use crate::judge::judge_family;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every file names the source's BOS, EOS, padding and unknown ids, and asks for a BOS or
    /// an EOS exactly where HF's tokenizer adds one (where a GGUF has no flag, llama.cpp's
    /// default for it is what a runtime does). A file that adds a BOS the model never saw
    /// makes every GGUF runtime feed it different input.
    pub MetadataSpecialTokens {
        code: "MET003",
        name: "metadata-special-tokens-wrong",
        suite: "metadata",
        scope: Scope::Model,
        summary: "each file's special ids and add-BOS/EOS flags are what HF's tokenizer does",
    }
}

impl Check for MetadataSpecialTokens {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_family(cx, Family::SpecialTokens)
    }
}
