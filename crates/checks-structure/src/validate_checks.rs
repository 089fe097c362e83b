use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// Every check `apr validate` runs on the `.apr` (magic, header, version, flags, data
    /// bounds) passes, and so does its tensor content validation (`passed`,
    /// `content_failed_tensors`). A failure is apr declaring its own output file damaged.
    /// apr 0.72.3 runs 5 of its 26 registered checks on `.apr`; on q4k files its content
    /// validation fails 2 tensors (F-DATA-QUALITY, the embeddings) while every listed
    /// check passes.
    pub ValidateChecks {
        code: "VAL001",
        name: "validate-check-fails",
        suite: "validate",
        scope: Scope::ModelQuant,
        summary: "every apr validate check passes",
    }
}

impl Check for ValidateChecks {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let reply = parse::validate(&*cx.apr(&Invocation::validate(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "validate", &["checks", "passed"])?;
        let out = reply.value;
        if out.checks.is_empty() {
            return Err(CheckError::NoEvidence(
                "apr validate listed no checks".into(),
            ));
        }
        let failing: Vec<String> = out
            .failing_checks()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    c.name,
                    c.status,
                    c.detail.as_deref().unwrap_or("")
                )
            })
            .collect();
        let content_failed = out.content_failed_tensors.unwrap_or(0);
        let ok = failing.is_empty() && out.passed && content_failed == 0;
        let ran = format!(
            "{} checks ran of {} registered",
            out.checks.len(),
            out.total_checks
        );
        let message = if ok {
            format!("all validate checks pass ({ran})")
        } else if failing.is_empty() {
            format!(
                "every listed check passes but passed={}: {content_failed} tensors fail apr's \
                 content validation ({ran})",
                out.passed
            )
        } else {
            format!(
                "{} of {} validate checks fail: {}",
                failing.len(),
                out.checks.len(),
                failing.join("; ")
            )
        };
        Ok(
            Verdict::judge(ok, Evidence::new(out.checks.len(), "checks"), message)
                .with_facts(json!({ "checks": out.checks, "passed": out.passed, "content_failed_tensors": out.content_failed_tensors })),
        )
    }
}
