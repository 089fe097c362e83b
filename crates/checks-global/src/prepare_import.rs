use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// `apr import` turns the HF model into a `.apr` at each configured quantization level.
    /// Every other check of that level needs the file, so a failed import is reported here
    /// once, with apr's error, and the checks that needed it report the artifact as unavailable.
    pub PrepareImport {
        code: "PRE001",
        name: "import-fails",
        suite: "prepare",
        scope: Scope::ModelQuant,
        summary: "apr import makes a .apr at this quantization level",
    }
}

impl Check for PrepareImport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        artifact_verdict(cx, ArtifactKind::Apr(cx.quant()?))
    }
}

/// Pass when the artifact exists, fail with apr's reason when preparing it failed.
pub(crate) fn artifact_verdict(
    cx: &dyn Context,
    kind: ArtifactKind,
) -> Result<Verdict, CheckError> {
    // The label the checks this artifact blocks carry as `blocked_by`.
    let label = tmgt_check::Details::artifact(format!("{}/{kind}", cx.model()?.name));
    match cx.artifact(kind) {
        Ok(path) => {
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Ok(Verdict::judge(
                bytes > 0,
                Evidence::new(1, "artifacts"),
                format!(
                    "{kind}: {} ({bytes} bytes)",
                    path.file_name().unwrap_or_default().to_string_lossy()
                ),
            )
            .with_details(label))
        }
        Err(CheckError::ArtifactUnavailable { reason, .. }) => {
            Ok(Verdict::fail(Evidence::new(1, "artifacts"), reason).with_details(label))
        }
        Err(e) => Err(e),
    }
}
