use super::{drift, judge_calls};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json import` of the model's local HF folder at f32, into the instance's scratch
    /// folder, keeps the output contract (contract/judge.rs): one JSON document, exit 0
    /// exactly when `status` is "ok" or "warnings", no schema drift from apr-client's
    /// `ImportOutput`. apr's many `[PMAT-...]` diagnostics belong on stderr.
    pub ImportContract {
        code: "CTR017",
        name: "import-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr import --json prints one document that agrees with its exit code",
    }
}

impl Check for ImportContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        let Some(dir) = model.local_dir() else {
            return Ok(Verdict::skip(
                "the model comes from the hub; tmgt imports local HF folders only here",
            ));
        };
        let out = cx.scratch_dir()?.join(format!("{}-f32.apr", model.name));
        let _ = std::fs::remove_file(&out);
        judge_calls(
            cx,
            "import",
            vec![(
                "import f32".to_string(),
                Invocation::import(dir, &out, None)?,
            )],
            &[],
            |c| drift(parse::import(c)),
        )
    }
}
