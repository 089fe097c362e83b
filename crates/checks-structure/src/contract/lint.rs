use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json lint` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs): one JSON document, no ANSI codes, exit 0 exactly when `passed` is
    /// true (apr exits 5 on error-level issues), no schema drift from `LintOutput`.
    pub LintContract {
        code: "CTR004",
        name: "lint-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr lint --json prints one document that agrees with its exit code",
    }
}

impl Check for LintContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "lint",
            |t| Ok(Ok(Invocation::lint(&t.path)?)),
            |c| drift(parse::lint(c)),
        )
    }
}
