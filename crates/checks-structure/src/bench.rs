use crate::common::{apr_artifact, require_fields};
use apr_client::{AprError, Invocation, exit_code_meaning, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Measured iterations (apr 0.72.3 panics on 0) and warm-up runs; each iteration generates
/// the run's `max_new_tokens`.
pub(crate) const ITERATIONS: u32 = 3;
pub(crate) const WARMUP: u32 = 1;
/// The exit code of a Rust panic.
const PANIC_EXIT: i32 = 101;

declare_check! {
    /// `apr bench` on the `.apr` generates the tokens it was asked for (iterations x
    /// `max_new_tokens`) at a finite throughput above 0 tok/s: when every generation fails,
    /// apr 0.72.3 reports the prompt's forward-pass throughput instead. apr exits 5 after printing the JSON when it measures under its own
    /// 10 tok/s floor (H12); that is not this check's criterion, so the JSON is read whatever
    /// the exit code. A panic (exit 101) is reported as an error naming it.
    pub BenchThroughput {
        code: "BEN001",
        name: "bench-no-throughput",
        suite: "bench",
        scope: Scope::ModelQuant,
        summary: "apr bench generates the tokens asked for at a throughput above 0 tok/s",
    }
}

impl Check for BenchThroughput {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let inv = Invocation::bench(&apr_artifact(cx)?, ITERATIONS, WARMUP, cx.max_new_tokens())?;
        let captured = cx.apr(&inv)?;
        // A panic is apr failing to run, not a measurement: an error whose message says
        // "panic" (the exit-code table names 101 so), even if a document came first.
        if captured.exit_code() == Some(PANIC_EXIT) {
            return Err(CheckError::Apr(AprError::Exit {
                code: PANIC_EXIT,
                meaning: exit_code_meaning(PANIC_EXIT),
                stderr_tail: captured.stderr_tail(20),
            }));
        }
        let reply = parse::bench(&captured)?;
        require_fields(
            &reply.drift,
            "bench",
            &["tokens_per_second", "total_tokens"],
        )?;
        let out = reply.value;
        let tps = out.tokens_per_second;
        // A throughput is only about generation if apr generated what it was asked for: when
        // every generation fails apr 0.72.3 reports the prompt's forward pass instead.
        let asked = u64::from(ITERATIONS) * u64::from(cx.max_new_tokens());
        let ok = tps.is_finite() && tps > 0.0 && out.total_tokens >= asked;
        let message = format!(
            "{tps} tok/s over {} tokens ({asked} asked: {ITERATIONS} iterations x {} new tokens) in {} iterations (apr's own >= 10 tok/s gate: {}, exit {})",
            out.total_tokens,
            cx.max_new_tokens(),
            out.iterations,
            if out.passed { "passed" } else { "failed" },
            reply.exit_code
        );
        Ok(Verdict::judge(ok, Evidence::new(out.total_tokens, "tokens"), message).with_facts(json!({
            "tokens_per_second": tps, "total_tokens": out.total_tokens, "samples_ms": out.samples_ms, "exit_code": reply.exit_code
        })))
    }
}
