use crate::judge::trajectory_for;
use crate::llama::{generate_native, step_logprobs};
use checks_inference::LogprobThresholds;
use checks_inference::compare::judge_logprobs;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp's per-step top-k log-probabilities on the native F32 GGUF agree with the
    /// oracle's, by the same measures the logprobs suite holds apr to: mean KL divergence over
    /// the shared top-k (renormalised), same-top-1 rate, largest log-probability difference.
    /// It shows how close an independent runtime gets, which calibrates apr's numbers.
    pub TextLogprobs {
        code: "LCT004",
        name: "native-f32-llamacpp-logprobs-disagree",
        suite: "llamacpp-text",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp's F32 top-k log-probabilities match the oracle's",
    }
}

impl Check for TextLogprobs {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let generation = generate_native(cx, &native)?;
        let trajectory = match trajectory_for(&oracle, &generation, "the native F32 GGUF") {
            Ok(t) => t,
            Err(skip) => return Ok(skip),
        };
        judge_logprobs(
            "llama.cpp",
            &trajectory,
            &step_logprobs(&generation),
            &cx.thresholds().get::<LogprobThresholds>()?,
        )
    }
}
