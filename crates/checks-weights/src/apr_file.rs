use crate::verdict::judge_artifact;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// Every tensor of apr's `.apr` at each quantization level holds its source tensor, under
    /// apr's name and in HF's layout, within the bound of its storage type (bit-exact at f32,
    /// one ulp at f16, one quantization step of the source block otherwise), read by tmgt's own
    /// APR reader. A departing tensor is named with the kind of damage, so a wrong import is
    /// told apart from a wrong runtime.
    pub AprWeights {
        code: "WGT001",
        name: "apr-weights-depart-from-source",
        suite: "weights",
        scope: Scope::ModelQuant,
        summary: "every tensor of the .apr holds its source tensor within its type's bound",
    }
}

impl Check for AprWeights {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let quant = cx.quant()?;
        judge_artifact(cx, ArtifactKind::Apr(quant), &format!("the {quant} .apr"))
    }
}
