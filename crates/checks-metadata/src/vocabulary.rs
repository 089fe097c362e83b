use crate::field::Family;
use crate::judge::judge_family;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every file carries the source's tokenizer: its model type, the pre-tokenizer llama.cpp's
    /// own converter names for it, every token's text and type (special tokens as control) in
    /// id order, and the merges in rank order.
    pub MetadataVocabulary {
        code: "MET004",
        name: "metadata-vocabulary-wrong",
        suite: "metadata",
        scope: Scope::Model,
        summary: "each file's tokenizer model, pre-tokenizer, tokens, token types and merges are tokenizer.json's",
    }
}

impl Check for MetadataVocabulary {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_family(cx, Family::Vocabulary)
    }
}
