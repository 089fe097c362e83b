use crate::oracles;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Prompt, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr on the model's f32 `.apr` continues the same long prefix as LNG001 with HF's greedy
    /// tokens (apr reports no log-probs off GGUF). A second engine, the one `apr import` feeds:
    /// its own RoPE tables and KV cache.
    pub PrefixApr {
        code: "LNG002",
        name: "long-prefix-apr-diverges",
        suite: "long",
        scope: Scope::Model,
        summary: "apr continues a long prefix on the f32 .apr as HF does",
        cost: 4,
    }
}

impl Check for PrefixApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let (n, oracle) = oracles::prefix(cx)?;
        let model = cx.artifact(ArtifactKind::Apr(Quant::F32))?;
        let prompt = Prompt {
            name: format!("prefix-{n}"),
            text: oracle.prompt.clone(),
        };
        checks_inference::judge_f32_apr(cx, &model, &prompt, &oracle)
    }
}
