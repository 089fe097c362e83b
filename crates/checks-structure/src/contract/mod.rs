//! The output-contract suite: for each subcommand apr-client wraps with JSON output, what apr
//! prints with `--json` on the model's artifacts is exactly one JSON document, free of ANSI
//! codes, whose verdict agrees with the exit code and whose fields are the ones the typed
//! client reads (see [`judge`] for the clauses). Scripts and tmgt itself read these documents;
//! a log line on stdout or an exit code that contradicts the verdict breaks every one of them.
//!
//! One check per subcommand, once per model: the file commands run on the model's `.apr` at
//! every configured level and on its GGUF, with the same arguments the structure and
//! inference suites use, so the run engine shares those calls instead of repeating them.

mod judge;

mod bench;
mod check;
mod debug;
mod diff;
mod eval;
mod export;
mod hex;
mod import;
mod inspect;
mod lint;
mod list;
mod oracle;
mod qa;
mod rosetta;
mod run;
mod tensors;
mod tree;
mod validate;

use apr_client::{AprError, Captured, FieldProblem, Invocation, Reply};
use judge::{Judged, Reader, judge};
use serde_json::json;
use std::path::PathBuf;
use tmgt_check::{ArtifactKind, CheckError, Context, Evidence, Verdict};

/// Violations quoted in a message; the details list them all.
const QUOTED: usize = 4;

/// Turns a typed parse into the drift the contract judges.
pub fn drift<T>(parsed: Result<Reply<T>, AprError>) -> Result<Vec<FieldProblem>, AprError> {
    parsed.map(|r| r.drift)
}

/// An artifact of the instance's model that a file command runs on.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: ArtifactKind,
    pub path: PathBuf,
}

/// The model's `.apr` at each configured level, then its GGUF. An artifact apr could not
/// make (the `prepare` suite reports why) or that a given file does not provide is left out
/// and named in the second list; when none is left, the first such error is returned.
pub fn targets(cx: &dyn Context) -> Result<(Vec<Target>, Vec<String>), CheckError> {
    let model = cx.model()?;
    let kinds: Vec<ArtifactKind> = model
        .quants
        .iter()
        .map(|q| ArtifactKind::Apr(*q))
        .chain([ArtifactKind::Gguf])
        .collect();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut first_error = None;
    for kind in kinds {
        match cx.artifact(kind) {
            Ok(path) => found.push(Target { kind, path }),
            Err(e @ CheckError::ArtifactUnavailable { .. }) => {
                missing.push(format!(
                    "{kind}: apr could not make it (the prepare suite says why)"
                ));
                first_error.get_or_insert(e);
            }
            // Either kind's message is its reason.
            Err(e) if e.is_inapplicable() => {
                missing.push(format!("{kind}: {e}"));
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_error {
        Some(e) if found.is_empty() => Err(e),
        _ => Ok((found, missing)),
    }
}

/// Runs `build`'s invocation on every target (`None`: not applicable to that one, with the
/// reason) and judges each call.
pub fn judge_targets(
    cx: &dyn Context,
    subcommand: &str,
    build: impl Fn(&Target) -> Result<Result<Invocation, String>, CheckError>,
    read: Reader,
) -> Result<Verdict, CheckError> {
    let (targets, mut missing) = targets(cx)?;
    let mut calls = Vec::new();
    for target in &targets {
        match build(target)? {
            Ok(inv) => calls.push((target.kind.to_string(), inv)),
            Err(reason) => missing.push(format!("{}: {reason}", target.kind)),
        }
    }
    judge_calls(cx, subcommand, calls, &missing, read)
}

/// Runs and judges `calls` (label, invocation); `missing` names what could not be judged.
pub fn judge_calls(
    cx: &dyn Context,
    subcommand: &str,
    calls: Vec<(String, Invocation)>,
    missing: &[String],
    read: Reader,
) -> Result<Verdict, CheckError> {
    if calls.is_empty() {
        return Ok(Verdict::skip(format!(
            "no apr {subcommand} call applies: {}",
            missing.join("; ")
        )));
    }
    let mut clauses = 0;
    let mut rows = Vec::new();
    let mut broken = Vec::new();
    let mut outcomes = Vec::new();
    for (label, inv) in &calls {
        let captured: std::sync::Arc<Captured> = cx.apr(inv)?;
        let judged = judge(subcommand, &captured, read)?;
        clauses += judged.clauses;
        broken.extend(judged.violations.iter().map(|v| format!("{label}: {v}")));
        outcomes.push(outcome(label, &judged, &captured));
        rows.push(json!({ "artifact": label, "command": inv.display(), "judged": judged }));
    }
    let not_judged = if missing.is_empty() {
        String::new()
    } else {
        format!(" ({} not judged: {})", missing.len(), missing.join("; "))
    };
    let by_design = if subcommand == "check" {
        " (check exits 0 by design: all_passed judged against its stages)"
    } else {
        ""
    };
    let message = if broken.is_empty() {
        format!(
            "apr {subcommand} --json kept its output contract in {} calls, {clauses} clauses: \
             {}{by_design}{not_judged}",
            calls.len(),
            outcomes.join("; ")
        )
    } else {
        let more = broken.len().saturating_sub(QUOTED);
        format!(
            "apr {subcommand} --json broke its output contract {} times in {} calls: {}{}{not_judged}",
            broken.len(),
            calls.len(),
            broken
                .iter()
                .take(QUOTED)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    };
    Ok(Verdict::judge(
        broken.is_empty(),
        Evidence::new(clauses, "clauses"),
        message,
    )
    .with_facts(json!({ "calls": rows, "not_judged": missing })))
}

/// One call in a few words: its exit and verdicts, or that it printed no document.
fn outcome(label: &str, judged: &Judged, captured: &Captured) -> String {
    let exit = judged
        .exit_code
        .map_or_else(|| "no exit".to_string(), |c| format!("exit {c}"));
    if captured.stdout.iter().all(u8::is_ascii_whitespace) {
        format!("{label} {exit}, no document, the reason on stderr")
    } else if judged.verdicts.is_empty() {
        format!("{label} {exit}")
    } else {
        format!("{label} {exit} {}", judged.verdicts.join(" "))
    }
}
