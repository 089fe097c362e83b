use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr check`, apr's own pipeline self-test (tokenizer, embedding, layers, logits,
    /// sampling ... on the real model), passes at least `thresholds.selftest.min_stages`
    /// stages on the `.apr`. apr 0.72.3 always exits 0 with `--json`, so the stages are
    /// counted from the list, not read from the exit code or the `passed` field.
    pub Selftest {
        code: "SLF001",
        name: "selftest-stages-fail",
        suite: "selftest",
        scope: Scope::ModelQuant,
        summary: "apr check passes at least min_stages pipeline stages",
    }
}

impl Check for Selftest {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let min = cx.thresholds().selftest.min_stages;
        let reply = parse::check(&*cx.apr(&Invocation::check(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "check", &["stages"])?;
        let out = reply.value;
        if out.stages.is_empty() {
            return Err(CheckError::NoEvidence("apr check listed no stages".into()));
        }
        let passed = out
            .stages
            .iter()
            .filter(|s| s.status.eq_ignore_ascii_case("PASS"))
            .count();
        let failing: Vec<String> = out
            .failing_stages()
            .map(|s| {
                format!(
                    "{} {}: {}",
                    s.name,
                    s.status,
                    s.details.as_deref().unwrap_or("")
                )
            })
            .collect();
        let mut message = format!(
            "{passed} of {} stages pass (at least {min} required)",
            out.stages.len()
        );
        if !failing.is_empty() {
            message.push_str(&format!("; failing: {}", failing.join("; ")));
        }
        if out.passed != passed as u64 {
            message.push_str(&format!("; apr's own count says {}", out.passed));
        }
        Ok(Verdict::judge(
            passed >= min,
            Evidence::new(out.stages.len(), "stages"),
            message,
        )
        .with_details(json!({ "stages": out.stages, "all_passed": out.all_passed })))
    }
}
