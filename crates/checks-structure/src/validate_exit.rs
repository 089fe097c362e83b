use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, exit_code_meaning, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr validate`'s exit code agrees with the verdict in its own JSON: exit 0 exactly when
    /// `passed` is true (and `verdict`, where printed, is "VALID"). Scripts and CI gate on the
    /// exit code, so a disagreement makes one of the two a lie. On the tiny models' q4k `.apr`
    /// apr 0.72.3 exits 5 with `passed: false` while `verdict` says "VALID" (earlier fixture
    /// builds showed the same on Llama int8/int4).
    pub ValidateExit {
        code: "VAL002",
        name: "validate-exit-contradicts-verdict",
        suite: "validate",
        scope: Scope::ModelQuant,
        summary: "apr validate's exit code agrees with its JSON verdict",
    }
}

impl Check for ValidateExit {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let reply = parse::validate(&*cx.apr(&Invocation::validate(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "validate", &["passed"])?;
        let out = &reply.value;
        let exit_ok = reply.exit_code == 0;
        let verdict_valid = out
            .verdict
            .as_deref()
            .map(|v| v.eq_ignore_ascii_case("VALID"));
        let json_ok = out.passed && verdict_valid.unwrap_or(true);
        let consistent_json = verdict_valid.is_none_or(|v| v == out.passed);
        let fields = 2 + usize::from(verdict_valid.is_some());
        let code = reply.exit_code;
        let verdict_text = out.verdict.as_deref().unwrap_or("(none)");
        let message = if exit_ok == json_ok && consistent_json {
            format!(
                "exit {code} agrees with passed={} verdict={verdict_text}",
                out.passed
            )
        } else {
            format!(
                "exit {code} ({}) contradicts the JSON: passed={} verdict={verdict_text}",
                exit_code_meaning(code),
                out.passed
            )
        };
        Ok(Verdict::judge(exit_ok == json_ok && consistent_json, Evidence::new(fields, "fields"), message).with_facts(
            json!({ "exit_code": code, "passed": out.passed, "verdict": out.verdict, "failed": out.failed, "total_score": out.total_score }),
        ))
    }
}
