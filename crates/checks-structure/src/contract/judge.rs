//! apr's output contract with `--json`, judged on one call.
//!
//! Clauses, each counted when it applies:
//!
//! 1. **finished**: apr exited on its own within the timeout, without a panic (exit 101 or
//!    `panicked at` on stderr) or a signal;
//! 2. **one document**: stdout, less one trailing newline, is exactly one JSON document
//!    (`serde_json` over the whole text: a human header, a log line or a second document
//!    breaks it). On a failing exit an empty stdout is allowed (apr documents `inspect`,
//!    `tensors`, `tree`, `import`, `export` ... printing nothing on error) if stderr says why;
//! 3. **no ANSI**: stdout holds no escape sequence;
//! 4. **verdict**: the exit code agrees with every verdict field the document has (`passed`
//!    when a boolean, `verdict`, `status`, `all_passed`), and those agree with each other.
//!    `apr check --json` always exits 0, as documented (GH-253): its `all_passed` is held
//!    against its own stage list instead;
//! 5. **schema**: the typed client reads the document without drift (a missing or mistyped
//!    field apr-client expects is a named finding here, not a parse crash later).

use apr_client::char_prefix;
use apr_client::{AprError, Captured, FieldProblem, Termination};
use serde::Serialize;
use serde_json::Value;
use tmgt_check::CheckError;

/// Reads a call's document with apr-client's typed parser and returns its schema drift.
pub type Reader = fn(&Captured) -> Result<Vec<FieldProblem>, AprError>;

/// The exit code of a Rust panic.
const PANIC_EXIT: i32 = 101;

/// The outcome of one call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Judged {
    /// Clauses that applied.
    pub clauses: usize,
    /// Clauses broken, each in words.
    pub violations: Vec<String>,
    pub exit_code: Option<i32>,
    /// The verdict fields found, as `field=value`.
    pub verdicts: Vec<String>,
}

/// Judges one call of `subcommand`. `Err` only when the run was interrupted.
pub fn judge(subcommand: &str, captured: &Captured, read: Reader) -> Result<Judged, CheckError> {
    let mut j = Judged::default();
    let stderr = captured.stderr_text();
    // 1. finished
    j.clauses += 1;
    let code = match captured.termination {
        Termination::Exited(code) => Some(code),
        Termination::Cancelled => return Err(CheckError::Interrupted),
        Termination::TimedOut(after) => {
            j.violations
                .push(format!("no answer within the {}s timeout", after.as_secs()));
            None
        }
        Termination::Signaled(signal) => {
            j.violations.push(format!("killed by signal {signal}"));
            None
        }
        Termination::OutputLimit(bytes) => {
            j.violations.push(format!("output passed {bytes} bytes"));
            None
        }
    };
    j.exit_code = code;
    if code == Some(PANIC_EXIT) || stderr.contains("panicked at") {
        let line = stderr
            .lines()
            .find(|l| l.contains("panicked at"))
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        j.violations
            .push(format!("panicked (exit {}){line}", code.unwrap_or(-1)));
    }
    // 2. one document
    j.clauses += 1;
    let Ok(text) = std::str::from_utf8(&captured.stdout) else {
        j.violations.push("stdout is not UTF-8".into());
        return Ok(j);
    };
    let body = text.strip_suffix('\n').unwrap_or(text);
    let document = if body.trim().is_empty() {
        match code {
            Some(0) => j
                .violations
                .push("exit 0 with nothing on stdout: no document".into()),
            Some(c) if stderr.trim().is_empty() => j
                .violations
                .push(format!("exit {c} with nothing on stdout or stderr")),
            _ => {}
        }
        None
    } else {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => Some(v),
            Err(e) => {
                j.violations.push(format!(
                    "stdout is not exactly one JSON document ({e}); it begins {:?}",
                    char_prefix(body, 60)
                ));
                None
            }
        }
    };
    // 3. no ANSI
    j.clauses += 1;
    if captured.stdout.contains(&0x1b) {
        j.violations
            .push("stdout holds an ANSI escape sequence".into());
    }
    let Some(doc) = document else {
        return Ok(j);
    };
    // 4. verdict
    let verdicts = verdict_fields(&doc);
    j.verdicts = verdicts
        .iter()
        .map(|(f, v, _)| format!("{f}={v}"))
        .collect();
    if !verdicts.is_empty() {
        j.clauses += 1;
        let known: Vec<&(String, String, Option<bool>)> =
            verdicts.iter().filter(|(_, _, ok)| ok.is_some()).collect();
        if subcommand == "check" {
            judge_check(&doc, &verdicts, &mut j);
        } else if let Some(code) = code {
            let exit_ok = code == 0;
            let disagree: Vec<String> = known
                .iter()
                .filter(|(_, _, ok)| *ok != Some(exit_ok))
                .map(|(f, v, _)| format!("{f}={v}"))
                .collect();
            if !disagree.is_empty() {
                j.violations.push(format!(
                    "exit {code} contradicts {} (the document's own verdict{})",
                    disagree.join(", "),
                    if known.len() > disagree.len() {
                        format!(
                            "; {} agree",
                            known
                                .iter()
                                .filter(|(_, _, ok)| *ok == Some(exit_ok))
                                .map(|(f, v, _)| format!("{f}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        String::new()
                    }
                ));
            }
        }
        for (f, v, ok) in &verdicts {
            if ok.is_none() {
                j.violations
                    .push(format!("verdict field {f}={v} is not a value tmgt knows"));
            }
        }
    }
    // 5. schema
    j.clauses += 1;
    match read(captured) {
        Ok(drift) if drift.is_empty() => {}
        Ok(drift) => {
            let named: Vec<String> = drift.iter().map(ToString::to_string).collect();
            j.violations.push(format!(
                "schema drift from apr-client: {}",
                named.join("; ")
            ));
        }
        Err(e) => j
            .violations
            .push(format!("apr-client cannot read the document: {e}")),
    }
    Ok(j)
}

/// `apr check --json` exits 0 whatever its stages say (documented): its `all_passed` must
/// agree with its stage list.
fn judge_check(doc: &Value, verdicts: &[(String, String, Option<bool>)], j: &mut Judged) {
    let Some(stages) = doc.get("stages").and_then(Value::as_array) else {
        j.violations
            .push("`all_passed` cannot be judged: no `stages` list".into());
        return;
    };
    let all_pass = stages.iter().all(|s| {
        s.get("status")
            .and_then(Value::as_str)
            .is_some_and(|st| st.eq_ignore_ascii_case("PASS"))
    });
    for (f, v, ok) in verdicts {
        if ok.is_some_and(|ok| ok != all_pass) {
            j.violations.push(format!(
                "{f}={v} but {} of {} stages pass (apr check --json exits 0 by design, so \
                 its verdict is judged against its stages)",
                stages
                    .iter()
                    .filter(|s| s.get("status").and_then(Value::as_str) == Some("PASS"))
                    .count(),
                stages.len()
            ));
        }
    }
}

/// The top-level verdict fields of a document: (field, value as printed, whether it says
/// success; `None` for a value tmgt cannot read as either).
pub fn verdict_fields(doc: &Value) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let Some(obj) = doc.as_object() else {
        return out;
    };
    for key in ["passed", "all_passed"] {
        if let Some(Value::Bool(b)) = obj.get(key) {
            out.push((key.to_string(), b.to_string(), Some(*b)));
        }
    }
    for key in ["verdict", "status"] {
        if let Some(Value::String(s)) = obj.get(key) {
            let ok = match s.to_ascii_lowercase().as_str() {
                "valid" | "pass" | "passed" | "ok" | "success" | "warnings" => Some(true),
                "invalid" | "fail" | "failed" | "error" | "refused" => Some(false),
                _ => None,
            };
            out.push((key.to_string(), format!("{s:?}"), ok));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(termination: Termination, stdout: &str, stderr: &str) -> Captured {
        Captured::from_parts(
            vec!["apr".into()],
            termination,
            stdout.as_bytes().to_vec(),
            stderr.as_bytes().to_vec(),
        )
    }

    fn clean(_: &Captured) -> Result<Vec<FieldProblem>, AprError> {
        Ok(Vec::new())
    }

    fn drifted(_: &Captured) -> Result<Vec<FieldProblem>, AprError> {
        Ok(vec![FieldProblem {
            path: "tensors".into(),
            problem: apr_client::Problem::Missing,
        }])
    }

    fn run(sub: &str, t: Termination, out: &str, err: &str, read: Reader) -> Judged {
        judge(sub, &captured(t, out, err), read).unwrap()
    }

    #[test]
    fn one_clean_document_passes_every_clause() {
        let j = run(
            "lint",
            Termination::Exited(0),
            "{\"passed\": true}\n",
            "",
            clean,
        );
        assert!(j.violations.is_empty(), "{:?}", j.violations);
        assert_eq!(j.clauses, 5);
        let j = run("inspect", Termination::Exited(0), "{\"a\": 1}\n", "", clean);
        assert_eq!((j.clauses, j.violations.len()), (4, 0));
    }

    #[test]
    fn a_header_a_log_line_or_two_documents_break_it() {
        for out in [
            "=== GGUF ===\n[1, 2]\n",
            "{\"a\": 1}\nINFO done\n",
            "{\"a\": 1}\n{\"b\": 2}\n",
            "",
        ] {
            let j = run("hex", Termination::Exited(0), out, "", clean);
            assert_eq!(j.violations.len(), 1, "{out:?}: {:?}", j.violations);
        }
        let j = run("x", Termination::Exited(0), "\u{1b}[1m{\"a\":1}", "", clean);
        assert!(
            j.violations.iter().any(|v| v.contains("ANSI")),
            "{:?}",
            j.violations
        );
    }

    #[test]
    fn a_failure_may_print_nothing_but_must_say_why() {
        let j = run(
            "inspect",
            Termination::Exited(4),
            "",
            "error: bad file\n",
            clean,
        );
        assert!(j.violations.is_empty());
        let j = run("inspect", Termination::Exited(4), "", "", clean);
        assert_eq!(j.violations.len(), 1);
    }

    #[test]
    fn the_exit_code_must_agree_with_the_verdict() {
        let doc = "{\"passed\": false, \"verdict\": \"VALID\"}";
        let j = run("validate", Termination::Exited(5), doc, "error: x\n", clean);
        assert_eq!(j.violations.len(), 1, "{:?}", j.violations);
        assert!(j.violations[0].contains("exit 5 contradicts verdict=\"VALID\""));
        assert!(j.violations[0].contains("passed=false agree"));
        let j = run(
            "run",
            Termination::Exited(8),
            "{\"status\": \"failed\"}",
            "e\n",
            clean,
        );
        assert!(j.violations.is_empty());
        let j = run(
            "run",
            Termination::Exited(0),
            "{\"status\": \"weird\"}",
            "",
            clean,
        );
        assert_eq!(j.violations.len(), 1);
    }

    #[test]
    fn check_is_judged_by_its_stages_not_its_exit_code() {
        let doc = |all: bool| {
            format!(
                "{{\"passed\": 1, \"all_passed\": {all}, \"stages\": [{{\"status\": \"PASS\"}}, {{\"status\": \"FAIL\"}}]}}"
            )
        };
        assert!(
            run("check", Termination::Exited(0), &doc(false), "", clean)
                .violations
                .is_empty()
        );
        let j = run("check", Termination::Exited(0), &doc(true), "", clean);
        assert!(
            j.violations[0].contains("1 of 2 stages pass"),
            "{:?}",
            j.violations
        );
    }

    #[test]
    fn crashes_and_drift_are_named() {
        let j = run(
            "bench",
            Termination::Exited(101),
            "",
            "thread 'main' panicked at x\n",
            clean,
        );
        assert!(j.violations[0].contains("panicked (exit 101)"));
        let j = run("run", Termination::Signaled(6), "", "", clean);
        assert!(j.violations[0].contains("signal 6"));
        let j = run("tensors", Termination::Exited(0), "{}", "", drifted);
        assert!(
            j.violations[0].contains("schema drift from apr-client: tensors"),
            "{:?}",
            j.violations
        );
    }
}
