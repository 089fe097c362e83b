use crate::greedy::judge_greedy;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// SRV003 on the model's GGUF (apr's export, or the ready-made file): apr serve's greedy
    /// tokens are the oracle's.
    pub GreedyGguf {
        code: "SRV004",
        name: "serve-gguf-greedy-diverges",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "apr serve of the GGUF reproduces the oracle's greedy tokens",
    }
}

impl Check for GreedyGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    judge_greedy(cx, ArtifactKind::Gguf, "apr serve of the GGUF", 0)
}
