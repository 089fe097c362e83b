use super::{drift, judge_targets};
use apr_client::{Invocation, parse};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

/// Top-k log-probabilities the inference suites ask of a GGUF run (apr's maximum).
const GGUF_TOP_K: u8 = 20;

declare_check! {
    /// `apr --json run` of the first configured prompt on each of the model's artifacts keeps
    /// the output contract (contract/judge.rs): one JSON document, no ANSI codes, exit 0
    /// exactly when `status` is "ok" (apr prints the document and exits 8 on an empty
    /// completion), no schema drift from apr-client's `RunOutput`, no crash. The calls are the
    /// inference suites' own (GGUF runs ask for top-20 log-probabilities), so they are shared.
    ///
    /// apr 0.72.3 keeps it; on GPT-2's int8/int4 `.apr` it fails to load (exit 8) with no
    /// document, only its reason on stderr, which the contract allows.
    pub RunContract {
        code: "CTR014",
        name: "run-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr run --json prints one document that agrees with its exit code",
    }
}

impl Check for RunContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(prompt) = cx.prompts().first() else {
            return Ok(Verdict::skip("suites.toml configures no prompt to run"));
        };
        judge_targets(
            cx,
            "run",
            |t| {
                let logprobs = (t.kind == ArtifactKind::Gguf).then_some(GGUF_TOP_K);
                Ok(Ok(Invocation::run(
                    &t.path,
                    &prompt.text,
                    cx.max_new_tokens(),
                    logprobs,
                )?))
            },
            |c| drift(parse::run(c)),
        )
    }
}
