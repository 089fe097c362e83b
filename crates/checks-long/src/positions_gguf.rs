use crate::{judge, positions};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr on the model's GGUF (apr's export, or the file `artifact` names) continues prompts
    /// of each length the position oracles hold (1, 16, 64, 256 tokens and the edges the
    /// config declares: a sliding window's, a RoPE scaling's original context) as HF does,
    /// judged as LNG001. The message names the earliest departing prediction and why its
    /// prompt has its length, so an ignored scaling shows within the first tokens and an
    /// ignored window one past its edge.
    pub PositionsGguf {
        code: "LNG007",
        name: "long-positions-gguf-depart",
        suite: "long",
        scope: Scope::Model,
        summary: "apr on the GGUF continues prompts at every judged length as HF does",
        cost: 4,
    }
}

impl Check for PositionsGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        positions::at_positions(cx, "apr on the model's GGUF", |label, oracle| {
            judge::continuation(cx, label, &gguf, oracle)
        })
    }
}
