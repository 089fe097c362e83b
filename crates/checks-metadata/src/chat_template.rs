use crate::field::Family;
use crate::judge::judge_family;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every file that can carry a chat template carries the source's, byte for byte, and none
    /// where the source has none (a runtime wraps prompts in whatever template it finds).
    pub MetadataChatTemplate {
        code: "MET005",
        name: "metadata-chat-template-wrong",
        suite: "metadata",
        scope: Scope::Model,
        summary: "each file's chat template is the source's",
    }
}

impl Check for MetadataChatTemplate {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_family(cx, Family::ChatTemplate)
    }
}
