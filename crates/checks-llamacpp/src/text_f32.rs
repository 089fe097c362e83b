use crate::judge::{judge_tokens, trajectory_for};
use crate::llama::{generate_native, step_logprobs};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::judge_chosen_logprobs;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Status, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp running the F32 GGUF that llama.cpp's own converter made reproduces the
    /// oracle's greedy tokens, and the chosen tokens' log-probabilities stay within float
    /// noise of the oracle's. This is the reference point the cross-runtime suite leans on:
    /// where it holds, a divergence of apr on the same weights is apr's, not the model's.
    pub TextF32 {
        code: "LCT002",
        name: "native-f32-llamacpp-diverges",
        suite: "llamacpp-text",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp on the native F32 GGUF reproduces the oracle's tokens",
    }
}

impl Check for TextF32 {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let generation = generate_native(cx, &native)?;
        let trajectory = match trajectory_for(&oracle, &generation, "the native F32 GGUF") {
            Ok(t) => t,
            Err(skip) => return Ok(skip),
        };
        let t = &cx.thresholds().get::<RuntimeThresholds>()?;
        let verdict = judge_tokens(
            "llama.cpp, native F32 GGUF",
            &trajectory,
            &generation,
            0,
            t.tie_margin,
        );
        if verdict.status != Status::Pass {
            return Ok(verdict);
        }
        // Tokens agree: hold the chosen tokens' log-probabilities to float noise.
        judge_chosen_logprobs(
            "llama.cpp",
            verdict,
            &trajectory,
            &step_logprobs(&generation),
            t.max_logprob_diff,
        )
    }
}
