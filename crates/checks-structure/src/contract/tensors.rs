use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json tensors --limit 0` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs): one JSON document, no ANSI codes, no schema drift from apr-client's
    /// `TensorsOutput` (the same call the tensors suite reads).
    pub TensorsContract {
        code: "CTR003",
        name: "tensors-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr tensors --json prints one document that agrees with its exit code",
    }
}

impl Check for TensorsContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "tensors",
            |t| Ok(Ok(Invocation::tensors(&t.path, false)?)),
            |c| drift(parse::tensors(c)),
        )
    }
}
