use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json tree --sizes` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs): one JSON document (the root node), no ANSI codes, no schema drift
    /// from apr-client's `TreeNode`.
    pub TreeContract {
        code: "CTR007",
        name: "tree-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr tree --json prints one document that agrees with its exit code",
    }
}

impl Check for TreeContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "tree",
            |t| Ok(Ok(Invocation::tree(&t.path)?)),
            |c| drift(parse::tree(c)),
        )
    }
}
