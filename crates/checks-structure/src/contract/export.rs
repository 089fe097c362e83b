use super::{drift, judge_calls};
use apr_client::{Invocation, parse};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json export --format gguf` of the model's f32 `.apr`, into the instance's
    /// scratch folder, keeps the output contract (contract/judge.rs): one JSON document on
    /// success (`status: "success"`, exit 0), or nothing on stdout and the reason on stderr on
    /// failure (apr documents that export prints no document when it fails), no schema drift
    /// from apr-client's `ExportOutput`.
    pub ExportContract {
        code: "CTR018",
        name: "export-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr export --json prints one document that agrees with its exit code",
    }
}

impl Check for ExportContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let input = cx.artifact(ArtifactKind::Apr(Quant::F32))?;
        let out = cx
            .scratch_dir()?
            .join(format!("{}-f32.gguf", cx.model()?.name));
        let _ = std::fs::remove_file(&out);
        judge_calls(
            cx,
            "export",
            vec![(
                "export gguf".to_string(),
                Invocation::export_gguf(&input, &out)?,
            )],
            &[],
            |c| drift(parse::export(c)),
        )
    }
}
