use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json check --no-gpu` on each of the model's artifacts keeps the output contract
    /// (contract/judge.rs). apr documents that `check --json` always exits 0 (GH-253), so its
    /// verdict `all_passed` is held against its own stage list instead of the exit code: true
    /// exactly when every stage says PASS.
    ///
    /// apr 0.72.3 keeps it; on GPT-2 `all_passed` is false and 4 of its 10 stages fail.
    pub CheckContract {
        code: "CTR005",
        name: "check-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr check --json prints one document whose all_passed agrees with its stages",
    }
}

impl Check for CheckContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "check",
            |t| Ok(Ok(Invocation::check(&t.path)?)),
            |c| drift(parse::check(c)),
        )
    }
}
