use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json validate` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs). Its document carries two verdicts, `passed` and (on `.apr`)
    /// `verdict`: both must agree with the exit code. apr 0.72.3 exits 5 with `passed: false`
    /// and `verdict: "VALID"` when a tensor fails its content check (NaN weights, q4k
    /// embeddings), which this check reports.
    pub ValidateContract {
        code: "CTR002",
        name: "validate-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr validate --json prints one document that agrees with its exit code",
    }
}

impl Check for ValidateContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "validate",
            |t| Ok(Ok(Invocation::validate(&t.path)?)),
            |c| drift(parse::validate(c)),
        )
    }
}
