use crate::field::Family;
use crate::judge::judge_family;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every file states the model's shape as its config.json does: architecture, layer count,
    /// width, feed-forward width, attention and KV heads, head dimension, vocabulary size and
    /// context length. A runtime sizes and splits the weights by these.
    pub MetadataShape {
        code: "MET001",
        name: "metadata-shape-wrong",
        suite: "metadata",
        scope: Scope::Model,
        summary: "each file's architecture, widths, heads, vocabulary and context are config.json's",
    }
}

impl Check for MetadataShape {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_family(cx, Family::Shape)
    }
}
