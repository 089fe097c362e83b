use super::{drift, judge_targets};
use crate::bench::{ITERATIONS, WARMUP};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json bench` on each of the model's artifacts (the bench suite's iterations and
    /// length, so the calls are shared) keeps the output contract (contract/judge.rs): one JSON
    /// document, exit 0 exactly when `passed` (apr's own 10 tok/s floor) is true, no schema
    /// drift from `BenchOutput`, and no panic.
    ///
    /// apr 0.72.3 panics on every int8/int4 `.apr` (exit 101, in
    /// `mod_project_apr_transformer.rs`) and prints no document.
    pub BenchContract {
        code: "CTR011",
        name: "bench-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr bench --json prints one document that agrees with its exit code",
    }
}

impl Check for BenchContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "bench",
            |t| {
                Ok(Ok(Invocation::bench(
                    &t.path,
                    ITERATIONS,
                    WARMUP,
                    cx.max_new_tokens(),
                )?))
            },
            |c| drift(parse::bench(c)),
        )
    }
}
