use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json oracle` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs): one JSON document, no ANSI codes, no schema drift from apr-client's
    /// `OracleOutput` (`source`, `mode`, and the `format` block of a local file).
    pub OracleContract {
        code: "CTR008",
        name: "oracle-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr oracle --json prints one document that agrees with its exit code",
    }
}

impl Check for OracleContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "oracle",
            |t| Ok(Ok(Invocation::oracle(&t.path)?)),
            |c| drift(parse::oracle(c)),
        )
    }
}
