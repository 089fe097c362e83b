use super::{drift, judge_targets};
use apr_client::{Invocation, QaOptions, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json qa` with the tiny-model skips (the qa suite's call) on each of the model's
    /// artifacts keeps the output contract (contract/judge.rs): one JSON document, exit 0
    /// exactly when `passed` is true, no schema drift from apr-client's `QaOutput`.
    pub QaContract {
        code: "CTR012",
        name: "qa-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr qa --json prints one document that agrees with its exit code",
    }
}

impl Check for QaContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "qa",
            |t| Ok(Ok(Invocation::qa(&t.path, &QaOptions::tiny_model())?)),
            |c| drift(parse::qa(c)),
        )
    }
}
