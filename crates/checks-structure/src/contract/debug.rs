use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json debug` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs): one JSON document, no ANSI codes, no schema drift from apr-client's
    /// `DebugOutput`.
    pub DebugContract {
        code: "CTR010",
        name: "debug-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr debug --json prints one document that agrees with its exit code",
    }
}

impl Check for DebugContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "debug",
            |t| Ok(Ok(Invocation::debug(&t.path)?)),
            |c| drift(parse::debug(c)),
        )
    }
}
