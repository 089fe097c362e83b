use crate::positions;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Prompt, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr on the model's f32 `.apr` continues prompts of each length the position oracles
    /// hold with HF's greedy tokens (apr reports no log-probs off GGUF), judged as LNG002:
    /// `apr import`'s engine, with the RoPE and window fields `apr import` kept.
    pub PositionsApr {
        code: "LNG009",
        name: "long-positions-apr-depart",
        suite: "long",
        scope: Scope::Model,
        summary: "apr on the f32 .apr continues prompts at every judged length as HF does",
        cost: 4,
    }
}

impl Check for PositionsApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.artifact(ArtifactKind::Apr(Quant::F32))?;
        positions::at_positions(cx, "apr on its f32 .apr", |label, oracle| {
            let prompt = Prompt {
                name: label.to_string(),
                text: oracle.prompt.clone(),
            };
            checks_inference::judge_f32_apr(cx, &model, &prompt, oracle)
        })
    }
}
