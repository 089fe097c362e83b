use super::{drift, judge_calls};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json list` (the list suite's call) keeps the output contract
    /// (contract/judge.rs): one JSON document, no ANSI codes, no schema drift from
    /// apr-client's `ListOutput` (`models`, `total`, `total_size_bytes`).
    pub ListContract {
        code: "CTR013",
        name: "list-json-contract-broken",
        suite: "contract",
        scope: Scope::Global,
        summary: "apr list --json prints one document that agrees with its exit code",
    }
}

impl Check for ListContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_calls(
            cx,
            "list",
            vec![("cache".to_string(), Invocation::list())],
            &[],
            |c| drift(parse::list(c)),
        )
    }
}
