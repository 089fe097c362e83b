use crate::{judge, oracles};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr on the model's GGUF continues a long prefix of the long text (the longest the
    /// oracles hold within `[thresholds.long] max_prefix`: 448 tokens on the tiny models, 512
    /// on SmolLM2, 2048 with `--profile long`) as HF does: the prompt ids it fed, its greedy
    /// tokens, and its chosen-token log-probs within `[thresholds.runtime]`. High positions
    /// are where RoPE, the KV cache's indexing and long softmax rows go wrong, and no short
    /// prompt reaches them.
    pub PrefixGguf {
        code: "LNG001",
        name: "long-prefix-gguf-diverges",
        suite: "long",
        scope: Scope::Model,
        summary: "apr continues a long prefix on the GGUF as HF does",
        cost: 4,
    }
}

impl Check for PrefixGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let (n, oracle) = oracles::prefix(cx)?;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        judge::continuation(cx, &format!("prefix of {n} tokens"), &gguf, &oracle)
    }
}
