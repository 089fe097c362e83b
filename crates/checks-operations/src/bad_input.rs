//! What the bad-input checks share: each operation meets a missing file, an empty one,
//! garbage, a model cut in half, and an output folder that does not exist. apr must refuse
//! each with a non-zero exit and a message, never panic (exit 101) or die by a signal, and
//! leave nothing at the output path.

use crate::common::{f32_apr, scratch};
use apr_client::{Invocation, Termination};
use serde_json::json;
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context, Evidence, Verdict};

/// One bad input: its label and the file (or non-file) given.
struct Case {
    label: &'static str,
    input: PathBuf,
    out: PathBuf,
}

fn cases(cx: &dyn Context) -> Result<Vec<Case>, CheckError> {
    let model = f32_apr(cx)?;
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e: std::io::Error| CheckError::Input {
            what: what.clone(),
            reason: e.to_string(),
        }
    };
    let empty = scratch(cx, "empty.apr")?;
    std::fs::write(&empty, b"").map_err(io(&empty))?;
    let garbage = scratch(cx, "garbage.apr")?;
    // Bytes no format starts with, the length of a small model.
    let bytes: Vec<u8> = (0u32..65_536)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&garbage, bytes).map_err(io(&garbage))?;
    let truncated = scratch(cx, "truncated.apr")?;
    let len = CheckError::file_size(&model)?;
    let mut whole = std::fs::File::open(&model).map_err(io(&model))?;
    let mut cut = std::fs::File::create(&truncated).map_err(io(&truncated))?;
    std::io::copy(&mut std::io::Read::take(&mut whole, len / 2), &mut cut)
        .map_err(io(&truncated))?;
    let dir = cx.scratch_dir()?;
    let out = |label: &str| dir.join(format!("out-{label}.apr"));
    Ok(vec![
        Case {
            label: "missing",
            input: dir.join("no-such-model.apr"),
            out: out("missing"),
        },
        Case {
            label: "empty",
            input: empty,
            out: out("empty"),
        },
        Case {
            label: "garbage",
            input: garbage,
            out: out("garbage"),
        },
        Case {
            label: "truncated",
            input: truncated,
            out: out("truncated"),
        },
        Case {
            label: "output-folder-missing",
            input: model,
            out: dir.join("no-such-folder/out.apr"),
        },
    ])
}

/// Runs `operation` (built by `invocation` from an input and an output path) on every bad
/// input and judges how apr handled each.
pub(crate) fn judge(
    cx: &dyn Context,
    operation: &str,
    invocation: impl Fn(&Path, &Path) -> Result<Invocation, apr_client::AprError>,
) -> Result<Verdict, CheckError> {
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for case in cases(cx)? {
        let inv = invocation(&case.input, &case.out)?;
        let c = cx.apr(&inv)?;
        let stderr = String::from_utf8_lossy(&c.stderr).trim().to_string();
        let left = case.out.exists();
        let outcome = match c.termination {
            Termination::Exited(0) => "accepted it (exit 0)".to_string(),
            Termination::Exited(101) => "panicked (exit 101)".to_string(),
            Termination::Exited(code) if stderr.is_empty() => {
                format!("exit {code} with no message")
            }
            Termination::Exited(code) if left => {
                format!("exit {code} but left {}", case.out.display())
            }
            Termination::Exited(code) => format!("refused (exit {code})"),
            other => format!("{other:?}"),
        };
        let ok = outcome.starts_with("refused");
        if !ok {
            failed.push(format!("{}: {outcome}", case.label));
        }
        let _ = std::fs::remove_file(&case.out);
        results.push(
            json!({ "case": case.label, "ok": ok, "outcome": outcome, "command": inv.display() }),
        );
    }
    let message = if failed.is_empty() {
        format!(
            "apr {operation} refused all {} bad inputs with a message and left no output",
            results.len()
        )
    } else {
        format!(
            "apr {operation} mishandled {} of {} bad inputs: {}",
            failed.len(),
            results.len(),
            failed.join("; ")
        )
    };
    Ok(Verdict::judge(
        failed.is_empty(),
        Evidence::new(results.len(), "cases"),
        message,
    )
    .with_facts(json!({ "cases": results })))
}
