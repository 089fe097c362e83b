use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

/// Tokens scored: the ppl suite's value, so the engine shares its calls.
const EVAL_MAX_TOKENS: u32 = 512;

declare_check! {
    /// `apr --json eval` of the evaluation text (the ppl suite's call: `--dataset custom`, 512
    /// tokens, a threshold out of reach) on each of the model's artifacts keeps the output
    /// contract (contract/judge.rs): one JSON document, exit 0 exactly when `passed` is true,
    /// no schema drift from `EvalOutput`, and no panic.
    ///
    /// apr 0.72.3 panics on every int8/int4 `.apr` (exit 101, the same panic as `bench`).
    pub EvalContract {
        code: "CTR015",
        name: "eval-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr eval --json prints one document that agrees with its exit code",
    }
}

impl Check for EvalContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "eval",
            |t| {
                Ok(Ok(Invocation::eval_text(
                    &t.path,
                    &cx.eval_text()?,
                    EVAL_MAX_TOKENS,
                )?))
            },
            |c| drift(parse::eval(c)),
        )
    }
}
