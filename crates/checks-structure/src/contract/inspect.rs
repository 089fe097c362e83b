use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json inspect` on each of the model's artifacts (`.apr` at every level, GGUF) keeps
    /// the output contract (contract/judge.rs): one JSON document on stdout, no ANSI codes,
    /// exit code and verdict in agreement, no schema drift from apr-client's `InspectOutput`.
    pub InspectContract {
        code: "CTR001",
        name: "inspect-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr inspect --json prints one document that agrees with its exit code",
    }
}

impl Check for InspectContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "inspect",
            |t| Ok(Ok(Invocation::inspect(&t.path)?)),
            |c| drift(parse::inspect(c)),
        )
    }
}
