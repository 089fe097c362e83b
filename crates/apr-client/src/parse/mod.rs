//! Pure parsers of apr's output, one per subcommand.
//!
//! Every parser takes a [`Captured`] and applies the same rules:
//!
//! * a timeout, a foreign signal or the output limit map to their [`AprError`] variants;
//! * when stdout carries a JSON document it is parsed **whatever the exit code** (apr prints
//!   the document first and then exits non-zero for failed gates: `run` exit 8 on an empty
//!   completion, exit 5 for `validate`, `lint`, `qa`, `bench`, `eval`, `parity`,
//!   `rosetta diff-tensors`), and the code is returned in [`Reply::exit_code`];
//! * without a document, a non-zero exit is [`AprError::Exit`] (with apr's stderr tail) and
//!   exit 0 is [`AprError::NotJson`];
//! * unknown fields are ignored; every expected field that is missing or mistyped is listed in
//!   [`Reply::drift`] and its value falls back to something that fails any check (`false`,
//!   `0`, empty, NaN). Callers that need the exact shape use [`Reply::strict`].

mod chat;
mod fields;
mod json;
mod models;

use serde::Serialize;
use serde_json::Value;

use crate::AprError;
use crate::error::exit_code_meaning;
use crate::process::{Captured, Termination};

pub use chat::{ChatTurn, chat};
pub use fields::{FieldProblem, Problem};
pub use models::*;

pub(crate) use fields::{Cx, Node};

use fields::FromDoc;

/// A typed parse result: the value, apr's exit code, and the schema drift found.
#[derive(Clone, Debug, Serialize)]
pub struct Reply<T> {
    /// The typed document.
    pub value: T,
    /// apr's exit code (non-zero when apr printed the document and then failed a gate).
    pub exit_code: i32,
    /// Expected fields that were missing or mistyped. Empty when the shape matched.
    pub drift: Vec<FieldProblem>,
}

impl<T> Reply<T> {
    /// The value, or [`AprError::Shape`] listing the drift if there was any.
    ///
    /// # Errors
    /// When any expected field was missing or mistyped.
    pub fn strict(self) -> Result<T, AprError> {
        if self.drift.is_empty() {
            Ok(self.value)
        } else {
            let detail = self
                .drift
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            Err(AprError::Shape { detail })
        }
    }

    /// Maps the value, keeping exit code and drift.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            exit_code: self.exit_code,
            drift: self.drift,
        }
    }
}

/// Lines of stderr quoted in [`AprError::Exit`].
const STDERR_TAIL_LINES: usize = 20;

fn snippet(text: &str) -> String {
    crate::char_prefix(text.trim(), 200).to_string()
}

/// Maps a non-exit termination to its error; returns the exit code otherwise.
pub(crate) fn exit_code(c: &Captured) -> Result<i32, AprError> {
    match c.termination {
        Termination::Exited(code) => Ok(code),
        Termination::TimedOut(after) => Err(AprError::TimedOut {
            argv: c.argv.clone(),
            after,
        }),
        Termination::Signaled(signal) => Err(AprError::Signaled {
            argv: c.argv.clone(),
            signal,
        }),
        Termination::OutputLimit(limit) => Err(AprError::OutputLimit {
            argv: c.argv.clone(),
            limit,
        }),
        Termination::Cancelled => Err(AprError::Cancelled {
            argv: c.argv.clone(),
        }),
    }
}

pub(crate) fn exit_error(c: &Captured, code: i32) -> AprError {
    AprError::Exit {
        code,
        meaning: exit_code_meaning(code),
        stderr_tail: c.stderr_tail(STDERR_TAIL_LINES),
    }
}

/// A located document plus the exit code.
#[derive(Debug)]
pub(crate) struct Doc {
    pub value: Value,
    pub prefix: String,
    pub exit_code: i32,
}

/// Finds the JSON document of a call (see the module rules).
pub(crate) fn document(c: &Captured) -> Result<Doc, AprError> {
    let code = exit_code(c)?;
    let text = String::from_utf8_lossy(&c.stdout);
    match json::find_document(&text) {
        Some(found) => Ok(Doc {
            value: found.value,
            prefix: found.prefix,
            exit_code: code,
        }),
        None if code != 0 => Err(exit_error(c, code)),
        None => Err(AprError::NotJson {
            snippet: snippet(&text),
        }),
    }
}

/// Parses an object document into `T`.
pub(crate) fn object<T: FromDoc>(c: &Captured, what: &str) -> Result<Reply<T>, AprError> {
    let doc = document(c)?;
    if !doc.value.is_object() {
        return Err(shape_error(c, &doc, what, "object"));
    }
    let mut cx = Cx::default();
    let value = T::read(&mut cx, &Node::root(&doc.value));
    Ok(Reply {
        value,
        exit_code: doc.exit_code,
        drift: cx.drift,
    })
}

pub(crate) fn shape_error(c: &Captured, doc: &Doc, what: &str, expected: &str) -> AprError {
    // A wrong-shaped document together with a failure exit is better reported as the failure.
    if doc.exit_code != 0 {
        return exit_error(c, doc.exit_code);
    }
    AprError::Shape {
        detail: format!(
            "`{what}` output should be a JSON {expected}, found {}",
            fields::type_name(&doc.value)
        ),
    }
}

/// `apr --version --json`.
///
/// # Errors
/// See the module rules.
pub fn version(c: &Captured) -> Result<Reply<VersionInfo>, AprError> {
    object(c, "--version")
}

/// `apr run --json`.
///
/// # Errors
/// See the module rules.
pub fn run(c: &Captured) -> Result<Reply<RunOutput>, AprError> {
    object(c, "run")
}

/// One answer of `apr run --batch-jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct BatchAnswer {
    /// The `task_id` of the prompt's line.
    pub task_id: String,
    /// The generated text (chat markers stripped, trimmed); absent on a failed prompt.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tokens_generated: Option<u64>,
    /// Why the prompt failed, where it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// `apr run --batch-jsonl --json`: one JSON line per prompt, in the file's order. Lines that
/// are not JSON objects with a `task_id` (progress) are skipped.
///
/// # Errors
/// A timeout or signal as the module rules say; a non-zero exit with no answer line.
pub fn run_batch(c: &Captured) -> Result<Reply<Vec<BatchAnswer>>, AprError> {
    let code = exit_code(c)?;
    let answers: Vec<BatchAnswer> = String::from_utf8_lossy(&c.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line.trim()).ok())
        .collect();
    if answers.is_empty() && code != 0 {
        return Err(exit_error(c, code));
    }
    Ok(Reply {
        value: answers,
        exit_code: code,
        drift: Vec::new(),
    })
}

/// `apr eval --json` (built-in or custom text).
///
/// # Errors
/// See the module rules.
pub fn eval(c: &Captured) -> Result<Reply<EvalOutput>, AprError> {
    object(c, "eval")
}

/// `apr inspect --json` (APR, GGUF and SafeTensors shapes).
///
/// # Errors
/// See the module rules.
pub fn inspect(c: &Captured) -> Result<Reply<InspectOutput>, AprError> {
    object(c, "inspect")
}

/// `apr validate --json`.
///
/// # Errors
/// See the module rules.
pub fn validate(c: &Captured) -> Result<Reply<ValidateOutput>, AprError> {
    object(c, "validate")
}

/// `apr tensors --json`.
///
/// # Errors
/// See the module rules.
pub fn tensors(c: &Captured) -> Result<Reply<TensorsOutput>, AprError> {
    object(c, "tensors")
}

/// `apr lint --json`.
///
/// # Errors
/// See the module rules.
pub fn lint(c: &Captured) -> Result<Reply<LintOutput>, AprError> {
    object(c, "lint")
}

/// `apr check --json` (always exits 0: read [`CheckOutput::all_passed`]).
///
/// # Errors
/// See the module rules.
pub fn check(c: &Captured) -> Result<Reply<CheckOutput>, AprError> {
    object(c, "check")
}

/// `apr diff --json` (structure/metadata diff).
///
/// # Errors
/// See the module rules.
pub fn diff(c: &Captured) -> Result<Reply<DiffOutput>, AprError> {
    object(c, "diff")
}

/// `apr diff --values --json`.
///
/// # Errors
/// See the module rules.
pub fn diff_values(c: &Captured) -> Result<Reply<DiffValuesOutput>, AprError> {
    object(c, "diff --values")
}

/// `apr tree --json`: the root node.
///
/// # Errors
/// See the module rules.
pub fn tree(c: &Captured) -> Result<Reply<TreeNode>, AprError> {
    object(c, "tree")
}

/// `apr oracle --json`.
///
/// # Errors
/// See the module rules.
pub fn oracle(c: &Captured) -> Result<Reply<OracleOutput>, AprError> {
    object(c, "oracle")
}

/// `apr hex --json`: a JSON array (APR), or a human header then the array (GGUF). No match
/// gives an empty list (APR prints nothing, GGUF prints "No tensors match").
///
/// # Errors
/// See the module rules.
pub fn hex(c: &Captured) -> Result<Reply<HexOutput>, AprError> {
    let code = exit_code(c)?;
    let text = String::from_utf8_lossy(&c.stdout);
    let doc = match document(c) {
        Ok(doc) => doc,
        Err(AprError::NotJson { .. })
            if code == 0 && (text.trim().is_empty() || text.contains("No tensors match")) =>
        {
            return Ok(Reply {
                value: HexOutput {
                    header: Some(text.trim().to_string()).filter(|s| !s.is_empty()),
                    tensors: Vec::new(),
                },
                exit_code: code,
                drift: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    if !doc.value.is_array() {
        return Err(shape_error(c, &doc, "hex", "array"));
    }
    let mut cx = Cx::default();
    let items = cx.items(&Node::root(&doc.value));
    let tensors = items.iter().map(|t| HexTensor::read(&mut cx, t)).collect();
    Ok(Reply {
        value: HexOutput {
            header: Some(doc.prefix).filter(|s| !s.is_empty()),
            tensors,
        },
        exit_code: doc.exit_code,
        drift: cx.drift,
    })
}

/// `apr debug --json`.
///
/// # Errors
/// See the module rules.
pub fn debug(c: &Captured) -> Result<Reply<DebugOutput>, AprError> {
    object(c, "debug")
}

/// `apr bench --json`.
///
/// # Errors
/// See the module rules.
pub fn bench(c: &Captured) -> Result<Reply<BenchOutput>, AprError> {
    object(c, "bench")
}

/// `apr qa --json`.
///
/// # Errors
/// See the module rules.
pub fn qa(c: &Captured) -> Result<Reply<QaOutput>, AprError> {
    object(c, "qa")
}

/// `apr list --json`.
///
/// # Errors
/// See the module rules.
pub fn list(c: &Captured) -> Result<Reply<ListOutput>, AprError> {
    object(c, "list")
}

/// `apr parity --json`: a measurement or a refusal.
///
/// # Errors
/// See the module rules (a build without CUDA exits 9 with no document → [`AprError::Exit`]).
pub fn parity(c: &Captured) -> Result<Reply<ParityOutput>, AprError> {
    object(c, "parity")
}

/// `apr rosetta diff-tensors --json` (hand-rolled JSON, parsed leniently).
///
/// # Errors
/// See the module rules.
pub fn rosetta_diff_tensors(c: &Captured) -> Result<Reply<DiffTensorsOutput>, AprError> {
    object(c, "rosetta diff-tensors")
}

/// `apr rosetta fingerprint --json` for one model (hand-rolled JSON, parsed leniently).
///
/// # Errors
/// See the module rules.
pub fn rosetta_fingerprint(c: &Captured) -> Result<Reply<FingerprintOutput>, AprError> {
    object(c, "rosetta fingerprint")
}

/// `apr compare-hf --json`.
///
/// # Errors
/// See the module rules.
pub fn compare_hf(c: &Captured) -> Result<Reply<CompareHfOutput>, AprError> {
    object(c, "compare-hf")
}

/// `apr pull --dry-run --json`.
///
/// # Errors
/// See the module rules.
pub fn pull_dry_run(c: &Captured) -> Result<Reply<PullDryRunOutput>, AprError> {
    object(c, "pull --dry-run")
}

/// `apr pull` (no document: apr prints human progress). A non-zero exit is
/// [`AprError::Exit`] (exit 10 without network or with `--offline`); exit 0 returns the log.
///
/// # Errors
/// See the module rules.
pub fn pull(c: &Captured) -> Result<Reply<PullOutput>, AprError> {
    let code = exit_code(c)?;
    if code != 0 {
        return Err(exit_error(c, code));
    }
    Ok(Reply {
        value: PullOutput {
            log: c.stdout_text(),
        },
        exit_code: code,
        drift: Vec::new(),
    })
}

/// `apr import --json`.
///
/// # Errors
/// See the module rules.
pub fn import(c: &Captured) -> Result<Reply<ImportOutput>, AprError> {
    object(c, "import")
}

/// `apr merge --json` (executed).
///
/// # Errors
/// See the module rules.
pub fn merge(c: &Captured) -> Result<Reply<MergeOutput>, AprError> {
    object(c, "merge")
}

/// `apr prune --json` (executed).
///
/// # Errors
/// See the module rules.
pub fn prune(c: &Captured) -> Result<Reply<PruneOutput>, AprError> {
    object(c, "prune")
}

/// `apr prune --plan --json`.
///
/// # Errors
/// See the module rules.
pub fn prune_plan(c: &Captured) -> Result<Reply<PrunePlan>, AprError> {
    object(c, "prune --plan")
}

/// `apr quantize --json`.
///
/// # Errors
/// See the module rules.
pub fn quantize(c: &Captured) -> Result<Reply<QuantizeOutput>, AprError> {
    object(c, "quantize")
}

/// `apr merge --plan --json`.
///
/// # Errors
/// See the module rules.
pub fn merge_plan(c: &Captured) -> Result<Reply<MergePlan>, AprError> {
    object(c, "merge --plan")
}

/// `apr quantize --plan --json`.
///
/// # Errors
/// See the module rules.
pub fn quantize_plan(c: &Captured) -> Result<Reply<QuantizePlan>, AprError> {
    object(c, "quantize --plan")
}

/// `apr convert --json`.
///
/// # Errors
/// See the module rules.
pub fn convert(c: &Captured) -> Result<Reply<ConvertOutput>, AprError> {
    object(c, "convert")
}

/// `apr trace --save-tensor`: plain text whatever `--json` says. The one line read is
/// `Token ids: [a, b, ...] (N tokens)`, the prompt as apr tokenized it; the stage files are
/// read from the folder (see [`crate::stage_dump`]).
///
/// # Errors
/// A failure exit, or no well-formed `Token ids:` line.
pub fn trace_stages(c: &Captured) -> Result<Reply<TraceStages>, AprError> {
    let code = exit_code(c)?;
    if code != 0 {
        return Err(exit_error(c, code));
    }
    let text = String::from_utf8_lossy(&c.stdout);
    let token_ids = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Token ids:"))
        .and_then(|rest| {
            let list = rest.trim().strip_prefix('[')?.split(']').next()?;
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .ok_or_else(|| AprError::Shape {
            detail: format!(
                "`trace --save-tensor` printed no `Token ids: [...]` line; stdout starts with: {:?}",
                snippet(&text)
            ),
        })?;
    Ok(Reply {
        value: TraceStages { token_ids },
        exit_code: code,
        drift: Vec::new(),
    })
}

/// `apr tokenize encode --json`.
///
/// # Errors
/// See the module rules.
pub fn tokenize_encode(c: &Captured) -> Result<Reply<TokenizeEncode>, AprError> {
    object(c, "tokenize encode")
}

/// `apr finetune --plan --json`.
///
/// # Errors
/// See the module rules.
pub fn finetune_plan(c: &Captured) -> Result<Reply<FinetunePlan>, AprError> {
    object(c, "finetune --plan")
}

/// `apr finetune --json` that trained: the plan's document, `plan_only` false.
///
/// # Errors
/// See the module rules.
pub fn finetune(c: &Captured) -> Result<Reply<FinetunePlan>, AprError> {
    object(c, "finetune")
}

/// `apr finetune --merge --json`.
///
/// # Errors
/// See the module rules.
pub fn finetune_merge(c: &Captured) -> Result<Reply<FinetuneMerge>, AprError> {
    object(c, "finetune --merge")
}

/// `apr distill --json`.
///
/// # Errors
/// See the module rules.
pub fn distill(c: &Captured) -> Result<Reply<DistillOutput>, AprError> {
    object(c, "distill")
}

/// `apr distill --plan --json`.
///
/// # Errors
/// See the module rules.
pub fn distill_plan(c: &Captured) -> Result<Reply<DistillPlan>, AprError> {
    object(c, "distill --plan")
}

/// `apr export --json`.
///
/// # Errors
/// See the module rules.
pub fn export(c: &Captured) -> Result<Reply<ExportOutput>, AprError> {
    object(c, "export")
}
