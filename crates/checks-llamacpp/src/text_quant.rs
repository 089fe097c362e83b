use crate::judge::{judge_tokens, trajectory_for};
use crate::llama::generate_native;
use checks_inference::{TieThresholds, TokenThresholds};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp on its own Q8_0 and Q4_0 quantizations (made with `llama_model_quantize`
    /// from the native F32 GGUF) stays within the per-level mismatch budget of the oracle,
    /// with the first divergence located and classified (a tie-flip passes). A model's int8
    /// level maps to Q8_0 and int4 to Q4_0: this is the bar apr's own quantized files are held
    /// to, measured on the runtime everyone compares against.
    pub TextQuant {
        code: "LCT003",
        name: "native-quant-llamacpp-diverges",
        suite: "llamacpp-text",
        scope: Scope::ModelQuantPrompt,
        summary: "llama.cpp on native Q8_0/Q4_0 stays within the oracle's mismatch budget",
    }
}

impl Check for TextQuant {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let quant = cx.quant()?;
        let level = match quant {
            Quant::Int8 => NativeGguf::Q8_0,
            Quant::Int4 => NativeGguf::Q4_0,
            Quant::F32 => {
                return Ok(Verdict::skip(
                    "f32 is LCT002's (native-f32-llamacpp-diverges)",
                ));
            }
            other => {
                return Ok(Verdict::skip(format!(
                    "llama.cpp has no native counterpart tmgt makes for {other}"
                )));
            }
        };
        let oracle = cx.oracle()?;
        let model = cx.artifact(ArtifactKind::Native(level))?;
        let generation = generate_native(cx, &model)?;
        let what = format!("llama.cpp, native {} GGUF", level.as_str().to_uppercase());
        let trajectory = match trajectory_for(&oracle, &generation, &what) {
            Ok(t) => t,
            Err(skip) => return Ok(skip),
        };
        let t = cx.thresholds();
        let (budget, tie) = (t.get::<TokenThresholds>()?, t.get::<TieThresholds>()?);
        Ok(judge_tokens(
            &what,
            &trajectory,
            &generation,
            budget.for_quant(quant),
            tie.margin,
        ))
    }
}
