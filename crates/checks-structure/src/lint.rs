use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Issue levels that block: apr's own fail level, and anything worse.
const BLOCKING: [&str; 3] = ["ERROR", "CRITICAL", "FATAL"];

declare_check! {
    /// `apr lint` finds no error-level (or critical) issue in the `.apr`, its counts agree
    /// with the issues it lists, and its exit code with its `passed` field. Warnings and
    /// infos are reported in the details but do not fail: the reference project failed only on
    /// critical/error lint. apr 0.72.3 warns about a missing license, model card and
    /// provenance on every imported `.apr`.
    pub Lint {
        code: "LNT001",
        name: "lint-error",
        suite: "lint",
        scope: Scope::ModelQuant,
        summary: "apr lint reports no error-level issue",
    }
}

impl Check for Lint {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let reply = parse::lint(&*cx.apr(&Invocation::lint(&apr_artifact(cx)?)?)?)?;
        require_fields(
            &reply.drift,
            "lint",
            &[
                "issues",
                "error_count",
                "warn_count",
                "info_count",
                "total_issues",
            ],
        )?;
        let out = reply.value;
        let blocking: Vec<String> = out
            .issues
            .iter()
            .filter(|i| BLOCKING.iter().any(|b| i.level.eq_ignore_ascii_case(b)))
            .map(|i| format!("[{}] {}: {}", i.level, i.category, i.message))
            .collect();
        let counted = out.error_count + out.warn_count + out.info_count;
        let listed = out.issues.len() as u64;
        let mut problems = Vec::new();
        if !blocking.is_empty() {
            problems.push(format!(
                "{} error-level issues: {}",
                blocking.len(),
                blocking.join("; ")
            ));
        }
        if out.error_count != blocking.len() as u64 {
            problems.push(format!(
                "error_count {} but {} error-level issues listed",
                out.error_count,
                blocking.len()
            ));
        }
        if out.total_issues != listed || counted != listed {
            problems.push(format!(
                "counts disagree: total_issues {}, error+warn+info {counted}, {listed} issues listed",
                out.total_issues
            ));
        }
        if out.passed != (reply.exit_code == 0) {
            problems.push(format!(
                "exit {} contradicts passed={}",
                reply.exit_code, out.passed
            ));
        }
        // Evidence: the three level counts apr reports, checked against its issue list.
        let evidence = Evidence::new(3 + listed, "counts and issues");
        let message = if problems.is_empty() {
            format!(
                "no error-level issue ({} warnings, {} infos; exit {})",
                out.warn_count, out.info_count, reply.exit_code
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(problems.is_empty(), evidence, message)
            .with_facts(json!({ "issues": out.issues, "exit_code": reply.exit_code })))
    }
}
