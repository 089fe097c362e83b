use crate::verdict::judge_artifact;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp's own GGUFs of the model (its F32 conversion at f32, its Q8_0 and Q4_0 at
    /// int8 and int4) hold every source tensor within their type's bound under the same
    /// name and layout map the other files are held to. This is the map's own test on every
    /// run: a failure here is a wrong map or a wrong reference, not an apr bug, and the
    /// verdicts of the other weights checks are only as good as this one.
    pub NativeWeights {
        code: "WGT004",
        name: "native-gguf-weights-depart-from-source",
        suite: "weights",
        scope: Scope::ModelQuant,
        summary: "llama.cpp's own GGUFs hold every source tensor in the layout tmgt expects",
    }
}

impl Check for NativeWeights {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let level = match cx.quant()? {
            Quant::F32 => NativeGguf::F32,
            Quant::Int8 => NativeGguf::Q8_0,
            Quant::Int4 => NativeGguf::Q4_0,
            other => {
                return Ok(Verdict::skip(format!(
                    "llama.cpp has no native counterpart tmgt makes for {other}"
                )));
            }
        };
        let what = format!("llama.cpp's native {} GGUF", level.as_str().to_uppercase());
        judge_artifact(cx, ArtifactKind::Native(level), &what)
    }
}
