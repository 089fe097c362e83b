use crate::QaThresholds;
use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, QaOptions, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr qa` on the `.apr` executes at least `thresholds.qa.min_gates` gates (skipped gates
    /// do not count: apr 0.72.3 reports them `passed:false, skipped:true`) and none of the
    /// executed ones fails. Run with the skips apr-cli.md recommends for tiny models on a CPU
    /// host: `--skip-golden` (expects "4" for "What is 2+2?"), `--skip-metadata`
    /// (max_position_embeddings >= 128, Qwen2 rope_theta 10000 flagged), `--skip-throughput`
    /// (a host-load measurement, covered by the bench suite; on int8/int4 `.apr` it panics like
    /// `apr bench`), `--skip-ollama` and the GPU gates. On a `.apr` apr 0.72.3 then executes
    /// three: `capability_match` (which passes, saying it does not apply to non-GGUF files),
    /// `tensor_contract`, and `performance_regression` (against apr's own cache of the last
    /// report for the same file name; a first run establishes the baseline).
    pub QaGates {
        code: "QA001",
        name: "qa-gate-fails",
        suite: "qa",
        scope: Scope::ModelQuant,
        summary: "apr qa executes at least min_gates gates and none fails",
    }
}

impl Check for QaGates {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let min = cx.thresholds().get::<QaThresholds>()?.min_gates;
        let inv = Invocation::qa(&apr_artifact(cx)?, &QaOptions::tiny_model())?;
        let reply = parse::qa(&*cx.apr(&inv)?)?;
        require_fields(&reply.drift, "qa", &["gates"])?;
        let out = reply.value;
        let executed: Vec<_> = out.gates.iter().filter(|g| !g.skipped).collect();
        let failed: Vec<String> = executed
            .iter()
            .filter(|g| !g.passed)
            .map(|g| format!("{}: {}", g.name, g.message))
            .collect();
        let names: Vec<&str> = executed.iter().map(|g| g.name.as_str()).collect();
        if executed.is_empty() {
            return Ok(Verdict::fail(
                Evidence::new(out.gates.len(), "gates"),
                format!(
                    "apr qa executed none of its {} gates (at least {min} required)",
                    out.gates.len()
                ),
            )
            .with_facts(json!({ "gates": out.gates, "exit_code": reply.exit_code })));
        }
        let mut message = format!(
            "{} gates executed ({}), {} failed, at least {min} required",
            executed.len(),
            names.join(", "),
            failed.len()
        );
        if !failed.is_empty() {
            message.push_str(&format!(": {}", failed.join("; ")));
        }
        Ok(Verdict::judge(
            failed.is_empty() && executed.len() >= min,
            Evidence::new(executed.len(), "gates"),
            message,
        )
        .with_facts(
            json!({ "gates": out.gates, "summary": out.summary, "exit_code": reply.exit_code }),
        ))
    }
}
