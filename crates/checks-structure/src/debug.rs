use crate::common::{apr_artifact, expected, require_fields};
use crate::source::NO_LOCAL_SOURCE;
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr debug` of the `.apr` reports health OK, the model's architecture, and as many
    /// tensors and parameters as tmgt expects from the source safetensors header (names.rs:
    /// GPT-2's fused q/k/v counts as three tensors, a tied `lm_head` as its own). apr 0.72.3
    /// prints `health: "OK"` unconditionally, so the other fields are what can catch a
    /// misread file.
    pub DebugSummary {
        code: "DBG001",
        name: "debug-reports-wrong-model",
        suite: "debug",
        scope: Scope::ModelQuant,
        summary: "apr debug reports health OK and the source's architecture, tensors and parameters",
    }
}

impl Check for DebugSummary {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(exp) = expected(cx)? else {
            return Ok(Verdict::skip(NO_LOCAL_SOURCE));
        };
        let arch = &cx.model()?.facts.architecture;
        let reply = parse::debug(&*cx.apr(&Invocation::debug(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "debug", &["tensors", "health"])?;
        let out = reply.value;
        let mut problems = Vec::new();
        if out.health != "OK" {
            problems.push(format!("health {:?}", out.health));
        }
        if out.tensors != exp.tensors.len() as u64 {
            problems.push(format!(
                "{} tensors, expected {}",
                out.tensors,
                exp.tensors.len()
            ));
        }
        let parameters: usize = exp.tensors.iter().map(|t| t.elements()).sum();
        if out.parameters != parameters as u64 {
            problems.push(format!(
                "{} parameters, expected {parameters}",
                out.parameters
            ));
        }
        match &out.architecture {
            Some(a) if a.eq_ignore_ascii_case(arch) => {}
            Some(a) => problems.push(format!("architecture {a:?}, expected {arch:?}")),
            None => problems.push(format!("architecture missing, expected {arch:?}")),
        }
        let message = if problems.is_empty() {
            format!(
                "health OK, {arch}, {} tensors, {} parameters",
                out.tensors, out.parameters
            )
        } else {
            format!("apr debug: {}", problems.join("; "))
        };
        Ok(Verdict::judge(problems.is_empty(), Evidence::new(4, "fields"), message)
            .with_facts(json!({ "debug": out, "expected_tensors": exp.tensors.len(), "expected_parameters": parameters, "expected_architecture": arch })))
    }
}
