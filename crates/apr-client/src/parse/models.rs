//! Typed models of apr's JSON documents and how they are read.
//!
//! Field names follow apr's keys. `Option` marks what apr documents as optional or nullable;
//! everything else is expected, and its absence is recorded as drift by the reader.
//! `doc_struct!` derives the reader of a struct from its fields; the few documents whose
//! shape depends on their content implement [`FromDoc`] by hand.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::fields::{Element, FromDoc, OptField, ReadField};
use super::{Cx, Node};

/// Defines a struct read from an apr JSON object: every field is read under its own name by
/// its type's [`ReadField`] (scalars and enums required, `Option` optional, `Vec` a required
/// array). A field may instead name another key with `#[key = "apr_key"]`, or its own reader
/// with `#[with = function]` (`fn(&mut Cx, &Node, key) -> T`), after its doc comment.
macro_rules! doc_struct {
    (@key $field:ident) => {
        stringify!($field)
    };
    (@key $field:ident $key:literal) => {
        $key
    };
    (@read $cx:ident, $n:ident, $key:expr, $ty:ty) => {
        <$ty as ReadField>::read_field($cx, $n, $key)
    };
    (@read $cx:ident, $n:ident, $key:expr, $ty:ty, $with:path) => {
        $with($cx, $n, $key)
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[key = $key:literal])?
                $(#[with = $with:path])?
                pub $field:ident: $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[doc = $doc])* pub $field: $ty,)*
        }

        impl FromDoc for $name {
            fn read(cx: &mut Cx, n: &Node<'_>) -> Self {
                Self {
                    $($field: doc_struct!(
                        @read cx, n, doc_struct!(@key $field $($key)?), $ty $(, $with)?
                    ),)*
                }
            }
        }
    };
}

/// Defines a string enum with a fallback for values this client does not know yet.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this client does not know.
            Other(String),
        }

        impl $name {
            /// Reads apr's spelling; unknown spellings become `Other`.
            #[must_use]
            pub fn from_apr(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }

            /// apr's spelling.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Required: read as a string (missing → recorded, `Other("")`).
        impl ReadField for $name {
            fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self {
                Self::from_apr(&cx.req::<String>(n, key))
            }
        }

        impl OptField for $name {
            fn read_opt(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<Self> {
                cx.opt::<String>(n, key).map(|s| Self::from_apr(&s))
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// --version

doc_struct! {
    /// `apr --version --json`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct VersionInfo {
        /// Always `apr`.
        pub name: String,
        /// Semantic version, e.g. `0.72.3`.
        pub version: String,
        /// Source commit of the build.
        pub git_sha: String,
        /// Whether the binary was built with `--features cuda`.
        pub cuda_feature: bool,
        /// Whether `nvidia-smi -L` succeeded when apr ran.
        pub cuda_runtime_available: bool,
        /// CUDA devices apr can see.
        pub visible_devices: Vec<String>,
    }
}

impl VersionInfo {
    /// The version parsed as semver.
    ///
    /// # Errors
    /// When apr reported an unparseable version.
    pub fn semver(&self) -> Result<semver::Version, semver::Error> {
        semver::Version::parse(self.version.trim_start_matches('v'))
    }
}

// ---------------------------------------------------------------------------------------------
// run

string_enum! {
    /// `status` of `apr run --json`.
    RunStatus { Ok = "ok", Refused = "refused", Failed = "failed" }
}

string_enum! {
    /// `finish_reason` of `apr run --json`.
    FinishReason { Stop = "stop", Length = "length" }
}

doc_struct! {
    /// `apr run --json`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct RunOutput {
        /// The SOURCE argument as given.
        pub model: String,
        /// Decoded generated text (chat markers stripped, trimmed); null in a refusal document.
        #[with = run_text]
        pub text: Option<String>,
        /// Generated token ids (prompt excluded; a terminating EOS is dropped on the GGUF path).
        #[with = run_tokens]
        pub tokens: Vec<u32>,
        /// Number of generated tokens.
        pub tokens_generated: Option<u64>,
        /// The `--max-tokens` used.
        pub max_tokens: Option<u64>,
        /// Prompt length after templating, BOS included.
        pub prompt_tokens: Option<u64>,
        /// Completion length.
        pub completion_tokens: Option<u64>,
        /// `stop` or `length`.
        pub finish_reason: Option<FinishReason>,
        /// Model context length.
        pub context_length: Option<u64>,
        /// Throughput over generation.
        pub tok_per_sec: Option<f64>,
        /// Whole window including load.
        pub inference_time_ms: Option<f64>,
        /// Generation time.
        pub generation_ms: Option<f64>,
        /// Load and setup time.
        pub setup_ms: Option<f64>,
        /// Whether a GPU ran the model.
        pub used_gpu: Option<bool>,
        /// Whether the model came from a cache.
        pub cached: Option<bool>,
        /// Requested and actual backend.
        pub backend: Option<Backend>,
        /// Constraint refusal details.
        pub refusal: Option<Value>,
        /// `ok`, `refused` or `failed`.
        pub status: RunStatus,
        /// Error details when status is not `ok`.
        pub error: Option<RunError>,
        /// Per-step top-K log-probabilities (`--logprobs K`, GGUF only).
        pub logprobs: Option<Logprobs>,
        /// apr's version.
        pub apr_version: String,
        /// apr's commit.
        pub apr_commit: String,
        /// sha256 of the local model file (null for hub/URL sources).
        pub model_digest: Option<String>,
    }
}

doc_struct! {
    /// `backend` of `apr run --json`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct Backend {
        /// `gpu` or `default`.
        pub requested: String,
        /// `gpu` or `cpu`.
        pub ran: String,
        /// Whether a requested accelerator fell back to CPU.
        pub fell_back: bool,
    }
}

impl RunOutput {
    /// apr ended at an end-of-sequence token: `finish_reason` is `stop`, or nothing was
    /// generated although tokens were asked for and apr calls it an `empty_completion` (a stop
    /// before the first token, which apr 0.72.3 reports as a failure, exit 8, with no finish
    /// reason).
    pub fn stopped_at_eos(&self) -> bool {
        self.finish_reason == Some(FinishReason::Stop)
            || (self.tokens.is_empty()
                && self.max_tokens.is_some_and(|n| n > 0)
                && self
                    .error
                    .as_ref()
                    .is_some_and(|e| e.kind == "empty_completion"))
    }
}

/// A refusal document (exit 15) carries no generation fields.
fn is_refusal(n: &Node<'_>) -> bool {
    n.raw("status").and_then(Value::as_str) == Some("refused") && !n.has("tokens")
}

/// `text`: expected (a null is recorded), except in a refusal document.
fn run_text(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<String> {
    if is_refusal(n) {
        cx.opt(n, key)
    } else {
        cx.get(n, key)
    }
}

/// `tokens`: expected, except in a refusal document.
fn run_tokens(cx: &mut Cx, n: &Node<'_>, key: &str) -> Vec<u32> {
    if is_refusal(n) {
        Vec::new()
    } else {
        cx.vec(n, key)
    }
}

doc_struct! {
    /// `error` of `apr run --json`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct RunError {
        /// `backend_unavailable`, `constraint_refused`, `empty_completion`, ...
        pub kind: String,
        /// Human message.
        pub message: String,
        /// The exit code apr uses for it.
        pub exit_code: Option<i64>,
    }
}

doc_struct! {
    /// `logprobs` of `apr run --json --logprobs K`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Logprobs {
        /// K.
        pub top_k: u64,
        /// The prompt as apr tokenized it (BOS included where added).
        pub prompt_token_ids: Vec<u32>,
        /// One entry per generated token.
        pub steps: Vec<LogprobStep>,
    }
}

doc_struct! {
    /// One generation step.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct LogprobStep {
        /// Step index.
        pub step: u64,
        /// Chosen token id.
        pub chosen: u32,
        /// Its log-probability.
        pub chosen_logprob: f64,
        /// Top-K candidates, best first.
        pub top: Vec<TopLogprob>,
        /// ln Σ exp(logits) over the full vocabulary.
        pub logsumexp_full: f64,
    }
}

doc_struct! {
    /// One top-K candidate.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TopLogprob {
        /// Token id.
        pub token_id: u32,
        /// Raw logit (after repetition penalty, before temperature).
        pub logit: f64,
        /// Log-probability.
        pub logprob: f64,
    }
}

// ---------------------------------------------------------------------------------------------
// eval

doc_struct! {
    /// `apr eval --json` (perplexity).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct EvalOutput {
        /// Model path.
        pub model: String,
        /// `WikiText2`, `Lambada` or `Custom`.
        pub dataset: String,
        /// Always `cpu` for perplexity.
        pub device: String,
        /// exp(mean negative log-likelihood).
        pub perplexity: f64,
        /// Mean negative log-likelihood (nats).
        pub cross_entropy: f64,
        /// Number of tokens scored (predictions = this − 1).
        pub tokens_evaluated: u64,
        /// Time taken.
        pub eval_time_secs: f64,
        /// The `--threshold` used.
        pub threshold: f64,
        /// `perplexity <= threshold`.
        pub passed: bool,
    }
}

// ---------------------------------------------------------------------------------------------
// inspect

string_enum! {
    /// File format as apr reports it.
    ModelFormat { Apr = "apr", Gguf = "gguf", SafeTensors = "safetensors" }
}

impl ModelFormat {
    fn detect(format: &str) -> ModelFormat {
        let lower = format.to_ascii_lowercase();
        if lower.starts_with("apr") {
            ModelFormat::Apr
        } else if lower.contains("gguf") {
            ModelFormat::Gguf
        } else if lower.contains("safetensors") {
            ModelFormat::SafeTensors
        } else {
            ModelFormat::Other(format.to_string())
        }
    }
}

/// `apr inspect --json`, with the architecture fields exposed uniformly for APR
/// (`metadata.*`) and GGUF (`<arch>.block_count`, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InspectOutput {
    /// File path.
    pub file: String,
    /// Format family.
    pub kind: ModelFormat,
    /// apr's own format string (`APR v2`, `GGUF`, `SafeTensors`).
    pub format: String,
    /// Architecture (`llama`, `qwen2`, `gpt2`; None when apr says `unknown` or nothing).
    pub architecture: Option<String>,
    /// Transformer blocks.
    pub num_layers: Option<u64>,
    /// Attention heads.
    pub num_heads: Option<u64>,
    /// Key/value heads (GQA).
    pub num_kv_heads: Option<u64>,
    /// Hidden size.
    pub hidden_size: Option<u64>,
    /// Vocabulary size.
    pub vocab_size: Option<u64>,
    /// FFN size.
    pub intermediate_size: Option<u64>,
    /// Context length.
    pub max_position_embeddings: Option<u64>,
    /// Number of tensors.
    pub tensor_count: u64,
    /// File size in bytes.
    pub file_size: Option<u64>,
    /// Parameter count.
    pub total_params: Option<u64>,
    /// Quantization (GGUF/SafeTensors view).
    pub quantization: Option<String>,
    /// APR flags (APR only).
    pub flags: Option<AprFlags>,
    /// APR checksum verdict (APR only).
    pub checksum_valid: Option<bool>,
    /// The raw metadata object (APR `metadata`, or every GGUF/SafeTensors key).
    pub metadata: BTreeMap<String, Value>,
}

doc_struct! {
    /// `flags` of an APR inspect document.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct AprFlags {
        /// Tensors are quantized.
        pub quantized: bool,
        /// An embedded tokenizer vocabulary is present (needed by `apr run`).
        pub has_vocab: bool,
        /// LZ4 compressed.
        pub lz4_compressed: bool,
        /// Zstd compressed.
        pub zstd_compressed: bool,
        /// Encrypted.
        pub encrypted: bool,
        /// Signed.
        pub signed: bool,
        /// Sharded.
        pub sharded: bool,
    }
}

/// A metadata value as an integer: numbers, or strings holding numbers (GGUF values are
/// printed as strings).
fn meta_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn meta_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() && s != "unknown" => Some(s.clone()),
        _ => None,
    }
}

// Hand-written: which keys hold the architecture depends on the format, with metadata fallbacks.
impl FromDoc for InspectOutput {
    fn read(cx: &mut Cx, n: &Node<'_>) -> Self {
        let format: String = cx.req(n, "format");
        let kind = ModelFormat::detect(&format);
        let meta_node = n.at("metadata");
        let metadata: BTreeMap<String, Value> = match meta_node.value {
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None | Some(Value::Null) => {
                cx.missing(n, "metadata");
                BTreeMap::new()
            }
            Some(v) => {
                cx.wrong(meta_node.path.clone(), "object", v);
                BTreeMap::new()
            }
        };
        let top_arch = cx
            .opt::<String>(n, "architecture")
            .filter(|a| a != "unknown");
        let mut out = InspectOutput {
            file: cx.req(n, "file"),
            kind: kind.clone(),
            format,
            architecture: None,
            num_layers: None,
            num_heads: None,
            num_kv_heads: None,
            hidden_size: None,
            vocab_size: None,
            intermediate_size: None,
            max_position_embeddings: None,
            tensor_count: cx.req(n, "tensor_count"),
            file_size: None,
            total_params: None,
            quantization: None,
            flags: None,
            checksum_valid: None,
            metadata: BTreeMap::new(),
        };
        let m = |key: &str| metadata.get(key);
        if kind == ModelFormat::Apr {
            out.architecture = top_arch.or_else(|| meta_str(m("architecture")));
            out.num_layers = cx
                .opt(n, "num_layers")
                .or_else(|| meta_u64(m("num_layers")));
            out.num_heads = cx.opt(n, "num_heads").or_else(|| meta_u64(m("num_heads")));
            out.num_kv_heads = meta_u64(m("num_kv_heads"));
            out.hidden_size = cx
                .opt(n, "hidden_size")
                .or_else(|| meta_u64(m("hidden_size")));
            out.vocab_size = cx
                .opt(n, "vocab_size")
                .or_else(|| meta_u64(m("vocab_size")));
            out.intermediate_size = meta_u64(m("intermediate_size"));
            out.max_position_embeddings = meta_u64(m("max_position_embeddings"));
            out.total_params = meta_u64(m("param_count"));
            out.file_size = cx.opt(n, "size_bytes");
            out.checksum_valid = cx.opt(n, "checksum_valid");
            out.flags = AprFlags::read_opt(cx, n, "flags");
        } else {
            let arch = top_arch.or_else(|| meta_str(m("general.architecture")));
            let get = |suffix: &str| {
                arch.as_ref()
                    .and_then(|a| meta_u64(metadata.get(&format!("{a}.{suffix}"))))
            };
            out.num_layers = get("block_count");
            out.num_heads = get("attention.head_count");
            out.num_kv_heads = get("attention.head_count_kv");
            out.hidden_size = get("embedding_length");
            out.intermediate_size = get("feed_forward_length");
            out.max_position_embeddings = get("context_length");
            out.vocab_size =
                get("vocab_size").or_else(|| token_list_len(m("tokenizer.ggml.tokens")));
            out.architecture = arch;
            out.file_size = cx.opt(n, "file_size");
            out.total_params = cx.opt(n, "total_params");
            out.quantization = cx
                .opt::<String>(n, "quantization")
                .filter(|q| q != "unknown");
        }
        out.metadata = metadata;
        out
    }
}

/// Length of a GGUF string-array metadata value as apr prints it (a JSON array, or a string
/// such as `[151 items]` / `["a", "b", ...]` when summarised).
fn token_list_len(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Array(items) => Some(items.len() as u64),
        Value::String(s) => {
            let digits: String = s
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let looks_like_count =
                s.contains("items") || s.contains("elements") || s.contains("len");
            if looks_like_count {
                digits.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// validate

doc_struct! {
    /// `apr validate --json` (APR and GGUF/SafeTensors shapes).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ValidateOutput {
        /// Model path.
        pub model: String,
        /// `apr`, `gguf` or `safetensors`.
        pub format: String,
        /// apr's pass/fail decision (exit 5 when false).
        pub passed: bool,
        /// Individual checks.
        pub checks: Vec<ValidateCheck>,
        /// Number of checks.
        pub total_checks: u64,
        /// Failed checks.
        pub failed: u64,
        /// APR only: `VALID` or `INVALID` (can disagree with `passed`).
        pub verdict: Option<String>,
        /// APR only: 0..=100 score.
        pub total_score: Option<u64>,
        /// APR only: letter grade.
        pub grade: Option<String>,
        /// APR only: tensors failing content checks.
        pub content_failed_tensors: Option<u64>,
        /// APR only: NaN values in content.
        pub content_total_nan: Option<u64>,
        /// APR only: Inf values in content.
        pub content_total_inf: Option<u64>,
        /// GGUF/SafeTensors only: tensors examined.
        pub total_tensors: Option<u64>,
        /// GGUF/SafeTensors only: tensors failing.
        pub failed_tensors: Option<u64>,
        /// GGUF/SafeTensors only: NaN values.
        pub total_nan: Option<u64>,
        /// GGUF/SafeTensors only: Inf values.
        pub total_inf: Option<u64>,
    }
}

doc_struct! {
    /// One validation check.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ValidateCheck {
        /// APR check id.
        #[with = opt_text]
        pub id: Option<String>,
        /// Check name.
        pub name: String,
        /// `PASS`, `FAIL`, ...
        pub status: String,
        /// Details.
        pub detail: Option<String>,
        /// APR points.
        pub points: Option<f64>,
    }
}

impl ValidateOutput {
    /// Checks whose status is not `PASS`.
    pub fn failing_checks(&self) -> impl Iterator<Item = &ValidateCheck> {
        self.checks.iter().filter(|c| c.status != "PASS")
    }
}

// ---------------------------------------------------------------------------------------------
// tensors

doc_struct! {
    /// `apr tensors --json`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TensorsOutput {
        /// File path.
        pub file: String,
        /// Format/version string.
        pub format_version: String,
        /// Number of tensors in the file.
        pub tensor_count: u64,
        /// Total bytes of tensor data.
        pub total_size_bytes: u64,
        /// The tensors listed.
        pub tensors: Vec<TensorInfo>,
    }
}

doc_struct! {
    /// One tensor of `apr tensors`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TensorInfo {
        /// Name as stored in the file.
        pub name: String,
        /// Shape.
        pub shape: Vec<u64>,
        /// Data type.
        pub dtype: String,
        /// Bytes.
        pub size_bytes: u64,
        /// Mean (`--stats`).
        pub mean: Option<f64>,
        /// Standard deviation (`--stats`).
        pub std: Option<f64>,
        /// Minimum (`--stats`).
        pub min: Option<f64>,
        /// Maximum (`--stats`).
        pub max: Option<f64>,
        /// NaN count (`--stats`).
        pub nan_count: Option<u64>,
        /// Inf count (`--stats`).
        pub inf_count: Option<u64>,
    }
}

impl TensorsOutput {
    /// The tensor with this exact name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// lint

doc_struct! {
    /// `apr lint --json`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct LintOutput {
        /// Model path.
        pub model: String,
        /// Exit decision (errors, or warnings with `--strict`).
        pub passed: bool,
        /// No issues of any level.
        pub clean: bool,
        /// Whether `--strict` was on.
        pub strict: bool,
        /// `ERROR` or `WARN`.
        pub fail_level: String,
        /// Errors.
        pub error_count: u64,
        /// Warnings.
        pub warn_count: u64,
        /// Infos.
        pub info_count: u64,
        /// All issues.
        pub total_issues: u64,
        /// The issues.
        pub issues: Vec<LintIssue>,
    }
}

doc_struct! {
    /// One lint finding.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct LintIssue {
        /// `ERROR`, `WARN`, `INFO`.
        pub level: String,
        /// Category.
        pub category: String,
        /// Message.
        pub message: String,
        /// Suggested fix.
        pub suggestion: Option<String>,
    }
}

// ---------------------------------------------------------------------------------------------
// check

doc_struct! {
    /// `apr check --json` (self-test stages). apr always exits 0 here: read `all_passed`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct CheckOutput {
        /// Model path.
        pub model: String,
        /// Architecture (`unknown` when apr cannot tell).
        pub architecture: String,
        /// The stages.
        pub stages: Vec<CheckStage>,
        /// Stages passed.
        pub passed: u64,
        /// Stages run.
        pub total: u64,
        /// Every stage passed.
        pub all_passed: bool,
    }
}

doc_struct! {
    /// One self-test stage.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct CheckStage {
        /// Stage name.
        pub name: String,
        /// `PASS` or `FAIL`.
        pub status: String,
        /// Details.
        pub details: Option<String>,
    }
}

impl CheckOutput {
    /// Stages whose status is not `PASS`.
    pub fn failing_stages(&self) -> impl Iterator<Item = &CheckStage> {
        self.stages.iter().filter(|s| s.status != "PASS")
    }
}

// ---------------------------------------------------------------------------------------------
// diff

doc_struct! {
    /// `apr diff --json` (structure and metadata).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct DiffOutput {
        /// First file.
        pub file1: String,
        /// Second file.
        pub file2: String,
        /// Format of the first file.
        pub format1: String,
        /// Format of the second file.
        pub format2: String,
        /// No differences.
        pub identical: bool,
        /// Number of differences.
        pub difference_count: u64,
        /// Counts per category (`format`, `metadata`, `tensor`, `quantization`, `size`).
        #[with = counts]
        pub category_counts: BTreeMap<String, u64>,
        /// The differences.
        pub differences: Vec<Difference>,
    }
}

doc_struct! {
    /// One difference.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Difference {
        /// The field (or tensor) that differs.
        pub field: String,
        /// Value in the first file (rendered as text).
        #[with = req_text]
        pub file1_value: String,
        /// Value in the second file (rendered as text).
        #[with = req_text]
        pub file2_value: String,
        /// Category.
        pub category: Option<String>,
        /// Kind (`dtype`, `size`, `data`, `format`).
        #[key = "type"]
        pub kind: Option<String>,
    }
}

fn render(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// An expected value of any type, as text (a string as is, anything else as JSON).
fn req_text(cx: &mut Cx, n: &Node<'_>, key: &str) -> String {
    render(cx.get::<Value>(n, key))
}

/// An optional value of any type, as text.
fn opt_text(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<String> {
    cx.opt::<Value>(n, key).map(|v| render(Some(v)))
}

/// An optional object of counts (absent → empty); a mistyped count is recorded and left out.
fn counts(cx: &mut Cx, n: &Node<'_>, key: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    if let Some(counts) = cx.opt_obj(n, key)
        && let Some(Value::Object(map)) = counts.value
    {
        for key in map.keys() {
            if let Some(v) = cx.opt::<u64>(&counts, key) {
                out.insert(key.clone(), v);
            }
        }
    }
    out
}

doc_struct! {
    /// `apr diff --values --json`. apr always exits 0 here (#3913): judge the numbers.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct DiffValuesOutput {
        /// First model.
        pub model_a: String,
        /// Second model.
        pub model_b: String,
        /// Tensors compared (at most `--limit`).
        pub tensors_compared: u64,
        /// Per-tensor statistics.
        pub results: Vec<TensorValueDiff>,
    }
}

doc_struct! {
    /// Per-tensor value comparison.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TensorValueDiff {
        /// Normalised tensor name.
        pub name: String,
        /// Shape in the first model.
        pub shape_a: Vec<u64>,
        /// Shape in the second model.
        pub shape_b: Vec<u64>,
        /// Elements compared.
        pub element_count: u64,
        /// Mean absolute difference.
        pub mean_diff: f64,
        /// Max absolute difference.
        pub max_diff: f64,
        /// Root mean square error.
        pub rmse: f64,
        /// Cosine similarity.
        pub cosine_similarity: f64,
        /// apr's label (`Identical`, `NearlyIdentical`, ..., `Critical`).
        pub status: String,
    }
}

// ---------------------------------------------------------------------------------------------
// tree

/// A node of `apr tree --json` (the root is named `model`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TreeNode {
    /// Last name component.
    pub name: String,
    /// Dotted path.
    pub path: String,
    /// Tensor or group.
    pub kind: TreeKind,
}

/// What a tree node is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TreeKind {
    /// A tensor (leaf).
    Tensor {
        /// Shape.
        shape: Vec<u64>,
        /// Bytes.
        size_bytes: u64,
    },
    /// A group of nodes.
    Group {
        /// Bytes under this group.
        total_size: u64,
        /// Tensors under this group as apr counts them.
        tensor_count: u64,
        /// Children.
        children: Vec<TreeNode>,
    },
}

impl TreeNode {
    /// Number of tensor leaves under this node (counted, not apr's figure).
    #[must_use]
    pub fn leaf_count(&self) -> u64 {
        match &self.kind {
            TreeKind::Tensor { .. } => 1,
            TreeKind::Group { children, .. } => children.iter().map(TreeNode::leaf_count).sum(),
        }
    }

    /// apr's `tensor_count` for a group, 1 for a tensor.
    #[must_use]
    pub fn tensor_count(&self) -> u64 {
        match &self.kind {
            TreeKind::Tensor { .. } => 1,
            TreeKind::Group { tensor_count, .. } => *tensor_count,
        }
    }

    /// Dotted paths of every tensor leaf, depth first.
    #[must_use]
    pub fn leaf_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves(&self, out: &mut Vec<String>) {
        match &self.kind {
            TreeKind::Tensor { .. } => out.push(self.path.clone()),
            TreeKind::Group { children, .. } => {
                for c in children {
                    c.collect_leaves(out);
                }
            }
        }
    }
}

/// Deepest nesting read; deeper groups are recorded as drift (apr splits names on `.`, so
/// real trees are a handful of levels deep).
const MAX_TREE_DEPTH: usize = 64;

// Hand-written: `type` decides which fields a node has, and recursion is bounded by depth.
fn read_tree_node(cx: &mut Cx, n: &Node<'_>, depth: usize) -> TreeNode {
    let ty: String = cx.req(n, "type");
    let kind = if ty == "tensor" || (ty.is_empty() && n.has("shape")) {
        TreeKind::Tensor {
            shape: cx.vec(n, "shape"),
            size_bytes: cx.req(n, "size_bytes"),
        }
    } else {
        let children = if depth >= MAX_TREE_DEPTH {
            cx.wrong(n.path.clone(), "tree at most 64 levels deep", &Value::Null);
            Vec::new()
        } else {
            cx.arr(n, "children")
                .iter()
                .map(|c| read_tree_node(cx, c, depth + 1))
                .collect()
        };
        TreeKind::Group {
            total_size: cx.req(n, "total_size"),
            tensor_count: cx.req(n, "tensor_count"),
            children,
        }
    };
    TreeNode {
        name: cx.req(n, "name"),
        path: cx.req(n, "path"),
        kind,
    }
}

impl FromDoc for TreeNode {
    fn read(cx: &mut Cx, n: &Node<'_>) -> Self {
        read_tree_node(cx, n, 0)
    }
}

// ---------------------------------------------------------------------------------------------
// oracle

doc_struct! {
    /// `apr oracle --json` for a local file. The architecture is under `format.architecture`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct OracleOutput {
        /// The source argument.
        pub source: String,
        /// `local`, `hugging_face` or `family`.
        pub mode: String,
        /// File facts (local mode).
        #[with = oracle_format]
        pub format: Option<OracleFormat>,
        /// Model family description (needs apr's contracts registry).
        pub family: Option<Value>,
        /// Matched size variant.
        pub size_variant: Option<Value>,
        /// Compliance with the family contract.
        pub compliance: Option<Value>,
    }
}

doc_struct! {
    /// `format` of an oracle report.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct OracleFormat {
        /// `APR`, `GGUF`, `SafeTensors`.
        pub format_type: String,
        /// Bytes.
        pub file_size: u64,
        /// Tensors.
        pub tensor_count: u64,
        /// Parameters.
        pub total_params: u64,
        /// Quantization.
        pub quantization: Option<String>,
        /// Architecture.
        pub architecture: Option<String>,
    }
}

impl OracleOutput {
    /// `format.architecture`.
    #[must_use]
    pub fn architecture(&self) -> Option<&str> {
        self.format.as_ref()?.architecture.as_deref()
    }
}

/// `format`: expected in local mode, optional otherwise.
fn oracle_format(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<OracleFormat> {
    if n.raw("mode").and_then(Value::as_str) == Some("local") {
        let f = cx.obj(n, key);
        f.value.is_some().then(|| OracleFormat::read(cx, &f))
    } else {
        OracleFormat::read_opt(cx, n, key)
    }
}

// ---------------------------------------------------------------------------------------------
// hex

/// `apr hex --json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HexOutput {
    /// Human text printed before the JSON (GGUF summary header).
    pub header: Option<String>,
    /// The matching tensors.
    pub tensors: Vec<HexTensor>,
}

doc_struct! {
    /// One tensor of `apr hex --json`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct HexTensor {
        /// Name.
        pub name: String,
        /// APR `shape` (row-major), or GGUF `dims` (GGUF order, fastest first).
        #[with = hex_shape]
        pub shape: Vec<u64>,
        /// Whether `shape` came from GGUF `dims`.
        #[with = gguf_dims]
        pub gguf_dims: bool,
        /// Data type.
        pub dtype: String,
        /// Byte offset (APR).
        pub offset: Option<u64>,
        /// Bytes (APR).
        pub size_bytes: Option<u64>,
        /// `--stats`.
        pub stats: Option<HexStats>,
        /// First values, dequantised to f32.
        pub sample_values: Vec<f64>,
    }
}

doc_struct! {
    /// `stats` of a hex tensor.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct HexStats {
        /// Minimum.
        pub min: f64,
        /// Maximum.
        pub max: f64,
        /// Mean.
        pub mean: f64,
        /// Standard deviation.
        pub std: f64,
    }
}

/// Whether a hex tensor gives GGUF `dims` instead of `shape` (read from the node, not a key).
fn gguf_dims(_: &mut Cx, n: &Node<'_>, _: &str) -> bool {
    !n.has("shape") && n.has("dims")
}

/// `shape`, or GGUF `dims` when the tensor has those instead.
fn hex_shape(cx: &mut Cx, n: &Node<'_>, key: &str) -> Vec<u64> {
    let key = if gguf_dims(cx, n, key) { "dims" } else { key };
    cx.vec(n, key)
}

// ---------------------------------------------------------------------------------------------
// debug

doc_struct! {
    /// `apr --json debug`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct DebugOutput {
        /// Model path.
        pub model: String,
        /// Format.
        pub format: String,
        /// Architecture.
        pub architecture: Option<String>,
        /// Tensor count.
        pub tensors: u64,
        /// Parameter count.
        pub parameters: u64,
        /// File size.
        pub size_bytes: u64,
        /// Always `OK` in 0.72.3 (constant, not a verdict).
        pub health: String,
    }
}

// ---------------------------------------------------------------------------------------------
// bench

doc_struct! {
    /// `apr --json bench`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct BenchOutput {
        /// Model path.
        pub model: String,
        /// Throughput.
        pub tokens_per_second: f64,
        /// Tokens generated over all iterations.
        pub total_tokens: u64,
        /// Total time.
        pub total_time_ms: f64,
        /// Time to first token.
        pub time_to_first_token_ms: f64,
        /// Iterations measured.
        pub iterations: u64,
        /// Mean iteration time.
        pub mean_time_ms: f64,
        /// Median iteration time.
        pub median_time_ms: f64,
        /// Standard deviation.
        pub std_dev_ms: f64,
        /// `tokens_per_second >= 10` (exit 5 otherwise).
        pub passed: bool,
        /// Raw samples.
        pub samples_ms: Vec<f64>,
        /// p50 latency.
        #[with = opt_measured]
        pub latency_p50_ms: Option<f64>,
        /// p95 latency.
        #[with = opt_measured]
        pub latency_p95_ms: Option<f64>,
        /// p99 latency.
        #[with = opt_measured]
        pub latency_p99_ms: Option<f64>,
        /// Peak RSS.
        #[with = opt_measured]
        pub peak_rss_mb: Option<f64>,
        /// sha256 of the model.
        pub model_sha256: Option<String>,
        /// Build provenance.
        pub provenance: Option<Value>,
    }
}

/// An optional measurement; apr's NaN (printed as null) means "not measured", so it is `None`.
fn opt_measured(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<f64> {
    cx.opt_f64(n, key).filter(|v| !v.is_nan())
}

// ---------------------------------------------------------------------------------------------
// qa

doc_struct! {
    /// `apr qa --json`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct QaOutput {
        /// Model path.
        pub model: String,
        /// Every executed gate passed (skipped gates do not count).
        pub passed: bool,
        /// The gates.
        pub gates: Vec<QaGate>,
        /// Gates executed.
        pub gates_executed: u64,
        /// Gates skipped.
        pub gates_skipped: u64,
        /// Registered gate names.
        pub gates_registered: Vec<String>,
        /// Duration.
        pub total_duration_ms: u64,
        /// RFC 3339 time stamp.
        pub timestamp: String,
        /// One-line summary.
        pub summary: String,
        /// Host description.
        pub system_info: Option<Value>,
    }
}

/// Outcome of a QA gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateState {
    /// Ran and passed.
    Passed,
    /// Ran and failed.
    Failed,
    /// Not run (apr reports `passed: false, skipped: true`).
    Skipped,
}

doc_struct! {
    /// One QA gate.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct QaGate {
        /// Gate name (`tensor_contract`, `golden_output`, `format_parity`, ...).
        pub name: String,
        /// Passed (false for skipped gates).
        pub passed: bool,
        /// Skipped.
        pub skipped: bool,
        /// Message (`Skipped: <reason>` for skipped gates).
        pub message: String,
        /// Measured value.
        pub value: Option<f64>,
        /// Threshold.
        pub threshold: Option<f64>,
        /// Duration.
        pub duration_ms: u64,
    }
}

impl QaGate {
    /// Passed, failed or skipped.
    #[must_use]
    pub fn state(&self) -> GateState {
        if self.skipped {
            GateState::Skipped
        } else if self.passed {
            GateState::Passed
        } else {
            GateState::Failed
        }
    }
}

impl QaOutput {
    /// The gate with this name.
    #[must_use]
    pub fn gate(&self, name: &str) -> Option<&QaGate> {
        self.gates.iter().find(|g| g.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// list

doc_struct! {
    /// `apr --json list`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ListOutput {
        /// Cached models.
        pub models: Vec<ListedModel>,
        /// Count.
        pub total: u64,
        /// Bytes.
        pub total_size_bytes: u64,
    }
}

doc_struct! {
    /// One cached model.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ListedModel {
        /// Name.
        pub name: String,
        /// Bytes.
        pub size_bytes: u64,
        /// Format.
        pub format: String,
        /// Path.
        pub path: String,
        /// `manifest` or `disk_scan`.
        pub source: String,
    }
}

// ---------------------------------------------------------------------------------------------
// parity

/// `apr parity --json`: CPU vs GPU logits of one GGUF.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ParityOutput {
    /// The measurement ran.
    Measured(ParityReport),
    /// apr refused before loading (exit 12).
    Refused(ParityRefusal),
}

doc_struct! {
    /// A parity measurement.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ParityReport {
        /// Model path.
        pub model: String,
        /// Prompt positions measured.
        pub tokens: u64,
        /// Positions that passed.
        pub passed: u64,
        /// Positions that failed.
        pub failed: u64,
        /// Overall verdict.
        pub parity: bool,
        /// Per position.
        pub metrics: Vec<ParityPosition>,
    }
}

doc_struct! {
    /// Per-position parity metrics.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ParityPosition {
        /// Prompt position.
        pub position: u64,
        /// Token at that position.
        pub token_id: u32,
        /// CPU argmax.
        pub cpu_argmax: u32,
        /// GPU argmax.
        pub gpu_argmax: u32,
        /// Max absolute logit difference.
        pub max_abs_diff: f64,
        /// Mean absolute logit difference.
        pub mean_abs_diff: f64,
        /// Cosine similarity of the logits.
        pub cosine_similarity: f64,
        /// KL(CPU‖GPU).
        pub kl_divergence: f64,
        /// `Pass`, `WarnArgmax`, `WarnOutOfSpec`, `FailDivergent`, `FailCatastrophic`, `FailNan`.
        pub verdict: String,
    }
}

doc_struct! {
    /// A parity refusal.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ParityRefusal {
        /// Architecture.
        pub architecture: Option<String>,
        /// Quantization.
        pub quant: Option<String>,
        /// Why.
        pub reason: String,
        /// Tracking issue.
        #[with = opt_text]
        pub issue: Option<String>,
    }
}

// Hand-written: a `refused` object makes it a refusal, otherwise the document is a report.
impl FromDoc for ParityOutput {
    fn read(cx: &mut Cx, n: &Node<'_>) -> Self {
        match ParityRefusal::read_opt(cx, n, "refused") {
            Some(refusal) => ParityOutput::Refused(refusal),
            None => ParityOutput::Measured(ParityReport::read(cx, n)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rosetta diff-tensors

doc_struct! {
    /// `apr rosetta diff-tensors --json` (shapes and names only, not values).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct DiffTensorsOutput {
        /// First model.
        pub model_a: String,
        /// Second model.
        pub model_b: String,
        /// Tensors in the first model.
        pub tensors_a: u64,
        /// Tensors in the second model.
        pub tensors_b: u64,
        /// Shape/layout mismatches.
        pub layout_mismatches: u64,
        /// Tensors only in B.
        pub missing_in_a: u64,
        /// Tensors only in A.
        pub missing_in_b: u64,
        /// The mismatching tensors (printed only when there are some).
        #[with = opt_list]
        pub mismatched_tensors: Vec<ShapeMismatch>,
        /// apr's diagnosis line.
        pub diagnosis: String,
    }
}

doc_struct! {
    /// One shape mismatch.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ShapeMismatch {
        /// Normalised name.
        pub name: String,
        /// Shape in A.
        pub shape_a: Vec<u64>,
        /// Shape in B.
        pub shape_b: Vec<u64>,
    }
}

/// An array apr prints only when it has items (absent → empty, no problem).
fn opt_list<T: Element>(cx: &mut Cx, n: &Node<'_>, key: &str) -> Vec<T> {
    let items = cx.opt_arr(n, key);
    T::read_items(cx, &items)
}

// ---------------------------------------------------------------------------------------------
// rosetta fingerprint

doc_struct! {
    /// `apr rosetta fingerprint --json` for one model.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct FingerprintOutput {
        /// One fingerprint per tensor.
        pub fingerprints: Vec<TensorFingerprint>,
    }
}

doc_struct! {
    /// Statistical fingerprint of one tensor (non-finite statistics are read as NaN/±inf).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TensorFingerprint {
        /// Name.
        pub name: String,
        /// Shape.
        pub shape: Vec<u64>,
        /// Data type.
        pub dtype: String,
        /// Mean.
        pub mean: f64,
        /// Standard deviation.
        pub std: f64,
        /// Minimum.
        pub min: f64,
        /// Maximum.
        pub max: f64,
        /// 5th percentile.
        pub p5: f64,
        /// 25th percentile.
        pub p25: f64,
        /// Median.
        pub p50: f64,
        /// 75th percentile.
        pub p75: f64,
        /// 95th percentile.
        pub p95: f64,
        /// NaN count.
        pub nan_count: u64,
        /// Inf count.
        pub inf_count: u64,
        /// Fraction of zeros.
        pub zero_fraction: f64,
        /// Checksum.
        pub checksum: Value,
    }
}

// ---------------------------------------------------------------------------------------------
// compare-hf

doc_struct! {
    /// `apr compare-hf --json`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct CompareHfOutput {
        /// Tensors compared.
        pub total_compared: u64,
        /// Tensors within threshold.
        pub total_passed: u64,
        /// Shape mismatches.
        pub shape_mismatches: u64,
        /// Worst tensor.
        pub worst_tensor: Option<String>,
        /// Its difference.
        pub worst_diff: Option<f64>,
        /// All passed (exit 5 otherwise, and when nothing was compared).
        pub all_passed: bool,
        /// Per tensor.
        pub comparisons: Vec<HfComparison>,
    }
}

doc_struct! {
    /// One tensor compared against the hub copy.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct HfComparison {
        /// Name.
        pub name: String,
        /// Shapes equal.
        pub shape_match: bool,
        /// Within threshold.
        pub passes_threshold: bool,
        /// Max absolute difference.
        pub max_diff: f64,
        /// L2 distance.
        pub l2_distance: f64,
        /// Cosine similarity.
        pub cosine_similarity: f64,
    }
}

// ---------------------------------------------------------------------------------------------
// pull --dry-run

doc_struct! {
    /// `apr --json pull --dry-run`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct PullDryRunOutput {
        /// The reference given.
        pub model: String,
        /// What it resolved to.
        pub resolved: String,
        /// Revision.
        pub revision: Option<String>,
        /// Kind of revision.
        pub revision_kind: Option<String>,
        /// Offline mode.
        pub offline: bool,
        /// Always `dry-run`.
        pub mode: String,
    }
}

/// `apr pull` without `--dry-run`: apr prints human progress only, even with `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullOutput {
    /// What apr printed on stdout.
    pub log: String,
}

// ---------------------------------------------------------------------------------------------
// import / export

doc_struct! {
    /// `apr --json import`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ImportOutput {
        /// Source.
        pub source: String,
        /// Written file.
        pub output: String,
        /// The *requested* `--arch` (usually `Auto`), not the detected one.
        pub architecture: String,
        /// `Basic` or `Strict`.
        pub validation: String,
        /// `Int8`, `Int4`, `Fp16`, `Q4K` or null.
        pub quantize: Option<String>,
        /// Quality score.
        pub score: Option<u64>,
        /// Grade.
        pub grade: Option<String>,
        /// `ok` or `warnings`.
        pub status: String,
    }
}

doc_struct! {
    /// `apr --json export`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    pub struct ExportOutput {
        /// `success`.
        pub status: String,
        /// Input bytes.
        pub original_size: u64,
        /// Output bytes.
        pub exported_size: u64,
        /// Tensors written.
        pub tensor_count: u64,
        /// Format written.
        pub format: String,
        /// Quantization applied.
        pub quantization: Option<String>,
    }
}

doc_struct! {
    /// `apr --json merge` (executed).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct MergeOutput {
        /// `success`.
        pub status: String,
        /// The written file, as apr names it.
        pub output: String,
        /// `average`, `weighted`, `slerp`, `ties`, `dare`.
        pub strategy: String,
        pub model_count: u64,
        /// Tensors written.
        pub tensor_count: u64,
        /// Bytes written.
        pub output_size: u64,
    }
}

doc_struct! {
    /// `apr --json prune` (executed).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct PruneOutput {
        /// `completed`.
        pub status: String,
        pub output: String,
        /// `Magnitude`, ...
        pub method: String,
        pub target_ratio: f64,
        /// Tensors written.
        pub tensors: u64,
        pub original_params: u64,
        /// Parameters left in the model (pruning zeroes, it does not remove).
        pub pruned_params: u64,
        /// Parameters that are zero after pruning, by apr's count.
        pub zero_params: u64,
        /// `zero_params / original_params`, by apr.
        pub actual_sparsity: f64,
        pub output_size: u64,
    }
}

doc_struct! {
    /// `apr --json prune --plan`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct PrunePlan {
        pub method: String,
        pub target_ratio: f64,
        pub parameters_in: u64,
        pub parameters_kept: u64,
        /// Percent of the weights the plan says pruning zeroes.
        pub weights_zeroed_pct: f64,
        pub estimated_output_size: u64,
    }
}

doc_struct! {
    /// `apr --json quantize`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct QuantizeOutput {
        /// `success`.
        pub status: String,
        pub output: String,
        /// `Int8`, `Int4`, `Fp16`, `Q4K`.
        pub scheme: String,
        pub original_size: u64,
        pub quantized_size: u64,
        pub tensor_count: u64,
    }
}

doc_struct! {
    /// `apr --json merge --plan`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct MergePlan {
        /// `valid`.
        pub status: String,
        pub strategy: String,
        pub model_count: u64,
        /// The inputs' bytes together.
        pub total_input_size: u64,
    }
}

doc_struct! {
    /// `apr --json quantize --plan`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct QuantizePlan {
        pub input_size: u64,
        pub estimated_output_size: u64,
        pub reduction_ratio: f64,
        /// `Int8`, `Int4`, `Fp16`, `Q4K`.
        pub scheme: String,
        /// `apr`, `gguf`, `safetensors`.
        pub output_format: String,
    }
}

doc_struct! {
    /// `apr --json convert`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ConvertOutput {
        /// `success`.
        pub status: String,
        pub output: String,
        pub original_size: u64,
        pub converted_size: u64,
        pub tensor_count: u64,
        /// `zstd`, `lz4`, or null.
        pub compression: Option<String>,
    }
}

doc_struct! {
    /// `apr --json finetune`, planned (`--plan`) or trained: the same document, `plan_only` says
    /// which.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct FinetunePlan {
        /// Whether nothing was trained.
        pub plan_only: bool,
        /// Parameters of the model, by apr's count.
        pub model_params: u64,
        /// `LoRA`, `QLoRA`, `Full`.
        pub recommended_method: String,
        pub recommended_rank: u64,
        /// Parameters the plan trains.
        pub trainable_params: u64,
        pub trainable_percent: f64,
    }
}

doc_struct! {
    /// `apr --json finetune --merge`: an adapter folded into its base model.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct FinetuneMerge {
        /// `merged`.
        pub status: String,
        pub output: String,
        pub output_size: u64,
        /// Base weights an adapter pair was added to.
        pub merged_targets: u64,
        /// Adapter pairs the adapter file holds.
        pub lora_targets: u64,
        pub total_tensors: u64,
        pub rank: u64,
    }
}

doc_struct! {
    /// `apr --json distill` (executed).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct DistillOutput {
        /// `completed`.
        pub status: String,
        pub output: String,
        pub teacher_size: u64,
        pub student_size: u64,
        pub output_size: u64,
        pub teacher_tensors: u64,
        pub student_tensors: u64,
    }
}

doc_struct! {
    /// `apr --json distill --plan`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct DistillPlan {
        pub teacher_size: u64,
        pub student_size: u64,
        pub epochs: u64,
    }
}

/// What `apr trace --save-tensor` says on stdout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceStages {
    /// apr's fixed trace prompt as the file's own tokenizer encoded it (no BOS).
    pub token_ids: Vec<u32>,
}

doc_struct! {
    /// `apr --json tokenize encode`: the ids apr's encoder gives a text, and which encoder ran.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct TokenizeEncode {
        /// `tokenizer.ggml.pre` as apr read it.
        pub tokenizer_pre: String,
        /// `canonical` (pre-tokenizer and ranked merges, as llama.cpp) or `greedy-fallback: WHY`.
        pub path: String,
        pub ids: Vec<u32>,
    }
}
