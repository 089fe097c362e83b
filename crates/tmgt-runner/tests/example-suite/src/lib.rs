//! A suite crate in full: one check and its own `[thresholds.example]` table.
use tmgt_check::{ArtifactKind::Apr, Check, CheckError, Context, Evidence, Quant, Scope, Verdict};

/// `[thresholds.example]`: how much bigger than its source an f32 import may be, as a fraction.
#[derive(serde::Deserialize, serde::Serialize)]
pub struct Example {
    pub max_growth: f64,
}
tmgt_check::declare_thresholds!(Example, suite: "example");

tmgt_check::declare_check! {
    /// An f32 import holds each weight once: a bigger file than its source stored some twice.
    pub AprF32Size { code: "EXA001", name: "apr-f32-bloated", suite: "example", scope: Scope::Model,
        summary: "The f32 .apr is at most max_growth bigger than the source's safetensors" }
}

impl Check for AprF32Size {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let limit: Example = cx.thresholds().get()?;
        let Some(source) = cx.model()?.local_dir() else {
            return Ok(Verdict::skip("a hub model has no local safetensors"));
        };
        let source = CheckError::file_size(&source.join("model.safetensors"))? as f64;
        let growth = CheckError::file_size(&cx.artifact(Apr(Quant::F32))?)? as f64 / source - 1.0;
        let message = format!("the f32 .apr is {:+.1}% its source's size", 100.0 * growth);
        let ok = growth <= limit.max_growth;
        Ok(Verdict::judge(ok, Evidence::new(2u64, "files"), message))
    }
}
