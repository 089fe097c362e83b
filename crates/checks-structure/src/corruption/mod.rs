//! The corruption suite: damaged copies of each artifact, made in the instance's scratch
//! folder from the file's own layout, and what `validate`, `inspect`, `tensors`, `debug` and
//! `run` do with them. A loader that accepts a damaged file hands garbage to whatever comes
//! next; one that panics or hangs takes its caller down with it.
//!
//! One check per corruption family and container: `.apr` checks run per model and
//! quantization level, GGUF checks per model (apr's f32 export). Each judges every
//! (corruption x subcommand) case and counts them as its evidence. On the three bundled tiny
//! models (9 `.apr`, 2 GGUF; tiny-gpt2 has none) the suite makes 1,150 apr calls (median
//! 8 ms: apr answers a damaged file fast); `tmgt run --filter suite=corruption` takes about
//! 5 s on a 2-core machine with 2 jobs (release build).
//!
//! Every copy is deleted once judged (a real model's copies are hundreds of megabytes each);
//! each corruption in a result's details carries the `tmgt damage` line that remakes it at
//! the path its apr commands name.

mod damage;
mod judge;

pub use damage::{labels, remake};

mod empty_apr;
mod empty_gguf;
mod extension_apr;
mod extension_gguf;
mod flip_apr;
mod flip_gguf;
mod length_apr;
mod length_gguf;
mod magic_apr;
mod magic_gguf;
mod non_finite_apr;
mod non_finite_gguf;
mod truncated_apr;
mod truncated_gguf;
mod unknown_type_apr;
mod unknown_type_gguf;

use crate::common::apr_artifact;
use crate::layout::{Format, Layout};
use apr_client::{Invocation, Subcommand, shell_quote};
use damage::Family;
use judge::{Case, Expect, judge};
use serde_json::json;
use std::path::Path;
use tmgt_check::{ArtifactKind, CheckError, Context, Evidence, Verdict};

/// The prompt and length of the `run` calls: a damaged file only has to be loaded.
const RUN_PROMPT: &str = "Hello";
const RUN_TOKENS: u32 = 4;
/// Failing cases quoted in a message; the details list them all.
const QUOTED: usize = 6;

/// The calls every damaged copy goes through.
#[derive(Debug, Clone, Copy)]
enum Probe {
    Validate,
    Inspect,
    Tensors,
    Debug,
    Run,
}

const PROBES: [Probe; 5] = [
    Probe::Validate,
    Probe::Inspect,
    Probe::Tensors,
    Probe::Debug,
    Probe::Run,
];

impl Probe {
    fn subcommand(self) -> Subcommand {
        match self {
            Probe::Validate => Subcommand::Validate,
            Probe::Inspect => Subcommand::Inspect,
            Probe::Tensors => Subcommand::Tensors,
            Probe::Debug => Subcommand::Debug,
            Probe::Run => Subcommand::Run,
        }
    }

    fn invocation(self, path: &Path) -> Result<Invocation, CheckError> {
        Ok(match self {
            Probe::Validate => Invocation::validate(path)?,
            Probe::Inspect => Invocation::inspect(path)?,
            Probe::Tensors => Invocation::tensors(path, false)?,
            Probe::Debug => Invocation::debug(path)?,
            Probe::Run => Invocation::run(path, RUN_PROMPT, RUN_TOKENS, None)?,
        })
    }

    /// What it must do with a copy of `family`.
    fn expectation(self, family: Family, format: Format) -> Expect {
        match (family, self) {
            (Family::NonFinite, Probe::Validate) => Expect::RejectNonFinite,
            (Family::NonFinite, _) => Expect::Survive,
            // Listing an index may show a code it cannot decode; loading the data may not.
            (Family::UnknownType, Probe::Validate | Probe::Run) => {
                Expect::RejectNamingType(match format {
                    Format::Apr => u32::from(damage::UNKNOWN_APR_DTYPE),
                    Format::Gguf => damage::UNKNOWN_GGML_TYPE,
                })
            }
            (Family::UnknownType, _) => Expect::Survive,
            _ => Expect::Reject,
        }
    }
}

/// The corruption suite's unknown-type family on the instance's GGUF, for suites that judge
/// other GGUFs (the quantization ladder's rungs) the same way.
pub fn unknown_type_gguf(cx: &dyn Context) -> Result<Verdict, CheckError> {
    check_family(cx, Format::Gguf, Family::UnknownType)
}

/// Runs one family on the instance's artifact of `format` and judges every case.
pub(crate) fn check_family(
    cx: &dyn Context,
    format: Format,
    family: Family,
) -> Result<Verdict, CheckError> {
    let artifact = match format {
        Format::Apr => apr_artifact(cx)?,
        Format::Gguf => cx.artifact(ArtifactKind::Gguf)?,
    };
    let layout = Layout::read(&artifact).map_err(|e| CheckError::Input {
        what: format!("the layout of {}", artifact.display()),
        reason: e.to_string(),
    })?;
    if layout.format != format {
        return Err(CheckError::Input {
            what: artifact.display().to_string(),
            reason: format!("expected a {format} file, found {}", layout.format),
        });
    }
    let corruptions = match damage::corruptions(family, &layout) {
        Ok(c) if c.is_empty() => {
            return Ok(Verdict::skip(format!(
                "no {family:?} corruption fits {}",
                artifact.display()
            )));
        }
        Ok(c) => c,
        Err(reason) => return Ok(Verdict::skip(reason.to_string())),
    };
    let dir = cx.scratch_dir()?;
    let mut cases = Vec::new();
    for corruption in &corruptions {
        let path = corruption
            .write(&artifact, &dir)
            .map_err(|e| CheckError::Input {
                what: "a damaged copy".into(),
                reason: e.to_string(),
            })?;
        for probe in PROBES {
            let inv = probe.invocation(&path)?;
            let captured = cx.apr(&inv)?;
            let (ok, outcome) = judge(&captured, probe.expectation(family, format))?;
            cases.push(Case {
                corruption: corruption.label.clone(),
                subcommand: probe.subcommand().as_str(),
                ok,
                outcome,
                command: inv.display(),
            });
        }
        // The copy goes as soon as it is judged (`remake` below brings it back): a real
        // model's copies are hundreds of megabytes each.
        if !cx.keep_scratch() {
            let _ = std::fs::remove_file(&path);
        }
    }
    let failed: Vec<&Case> = cases.iter().filter(|c| !c.ok).collect();
    let what = match family {
        Family::NonFinite => "validate flagged it and nothing crashed",
        Family::UnknownType => "validate and run refused it naming the type, nothing crashed",
        _ => "every subcommand rejected it",
    };
    let labels: Vec<&str> = corruptions.iter().map(|c| c.label.as_str()).collect();
    let message = if failed.is_empty() {
        format!(
            "{} damaged {format} copies ({}) x {}: {what} in all {} cases",
            corruptions.len(),
            labels.join(", "),
            PROBES.map(|p| p.subcommand().as_str()).join("/"),
            cases.len()
        )
    } else {
        let quoted: Vec<String> = failed
            .iter()
            .take(QUOTED)
            .map(|c| format!("{} on {}: {}", c.subcommand, c.corruption, c.outcome))
            .collect();
        let more = failed.len().saturating_sub(QUOTED);
        format!(
            "{} of {} (corruption x subcommand) cases not handled: {}{}",
            failed.len(),
            cases.len(),
            quoted.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    };
    let corruptions_json: Vec<_> = corruptions
        .iter()
        .map(|c| {
            let remake = format!(
                "tmgt damage {} {} --out {}",
                shell_quote(&artifact.display().to_string()),
                c.label,
                shell_quote(&dir.join(c.file_name()).display().to_string())
            );
            json!({
                "label": c.label, "description": c.description, "extension": c.extension,
                "remake": remake,
            })
        })
        .collect();
    Ok(Verdict::judge(
        failed.is_empty(),
        Evidence::new(cases.len(), "cases"),
        message,
    )
    .with_facts(json!({
        "artifact": artifact, "corruptions": corruptions_json, "cases": cases,
    })))
}
