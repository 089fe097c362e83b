use crate::SelftestThresholds;
use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr check`, apr's own pipeline self-test (tokenizer, embedding, layers, logits,
    /// sampling ... on the real model), passes at least `thresholds.selftest.min_stages`
    /// stages on the `.apr`, and always the two that run the whole forward pass (`Logits →
    /// Probs`, `Sampler/Decode`): the reference's 7 of 10 alone passes a file whose forward
    /// pass fails. apr 0.72.3 always exits 0 with `--json`, so the stages are counted from the
    /// list, not read from the exit code or the `passed` field.
    pub Selftest {
        code: "SLF001",
        name: "selftest-stages-fail",
        suite: "selftest",
        scope: Scope::ModelQuant,
        summary: "apr check passes at least min_stages pipeline stages",
    }
}

/// The stages (by the start of their names) that run the whole forward pass: a `.apr` that
/// fails them cannot generate, however many other stages pass.
const END_TO_END: [&str; 2] = ["Logits", "Sampler"];

impl Check for Selftest {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let min = cx.thresholds().get::<SelftestThresholds>()?.min_stages;
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
        let end_to_end: Vec<String> = END_TO_END
            .iter()
            .filter_map(
                |prefix| match out.stages.iter().find(|s| s.name.starts_with(prefix)) {
                    None => Some(format!("no `{prefix}…` stage reported")),
                    Some(s) if !s.status.eq_ignore_ascii_case("PASS") => {
                        Some(format!("{} {}", s.name, s.status))
                    }
                    Some(_) => None,
                },
            )
            .collect();
        let mut message = format!(
            "{passed} of {} stages pass (at least {min} required)",
            out.stages.len()
        );
        if !end_to_end.is_empty() {
            message.push_str(&format!(
                "; the forward pass does not complete ({}, required whatever the count)",
                end_to_end.join(", ")
            ));
        }
        if !failing.is_empty() {
            message.push_str(&format!("; failing: {}", failing.join("; ")));
        }
        if out.passed != passed as u64 {
            message.push_str(&format!("; apr's own count says {}", out.passed));
        }
        Ok(Verdict::judge(
            passed >= min && end_to_end.is_empty(),
            Evidence::new(out.stages.len(), "stages"),
            message,
        )
        .with_facts(json!({ "stages": out.stages, "all_passed": out.all_passed })))
    }
}
