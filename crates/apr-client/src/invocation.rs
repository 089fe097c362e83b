//! Fully specified apr calls.
//!
//! Every constructor puts `--json` in the global position (`apr --json <sub> ...`): it works for
//! every subcommand and is the form apr's `--quiet` latch sees. Paths must be absolute and free
//! of `..`: apr rewrites a missing relative path into an `hf://` download, and its loader
//! rejects any path string containing `..`.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::{AprError, Subcommand, shell_quote};

/// Quantization types accepted by `apr import`/`apr export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantize {
    /// APR Q8 (32-element blocks).
    Int8,
    /// APR Q4 (32-element blocks).
    Int4,
    /// Half precision.
    Fp16,
    /// Q4_K (256-element super-blocks).
    Q4k,
}

impl Quantize {
    /// apr's CLI spelling.
    #[must_use]
    pub fn as_arg(self) -> &'static str {
        match self {
            Quantize::Int8 => "int8",
            Quantize::Int4 => "int4",
            Quantize::Fp16 => "fp16",
            Quantize::Q4k => "q4k",
        }
    }
}

/// A fully specified apr call: the argv after the binary, plus the files it reads and writes.
///
/// Identical invocations compare equal and hash alike, so a run engine can reuse one result.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Invocation {
    subcommand: Subcommand,
    args: Vec<String>,
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
    /// The folder apr runs in, for subcommands that write into their working directory
    /// whatever their flags say (`finetune` writes `checkpoints/` there); `None`: the caller's.
    #[serde(skip_serializing_if = "Option::is_none")]
    workdir: Option<PathBuf>,
    /// What apr reads on stdin (`apr chat`'s turns); `None`: nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    stdin: Option<String>,
}

/// Checks a path argument and returns it as a string.
fn path_arg(path: &Path) -> Result<String, AprError> {
    let relative = || AprError::RelativePath {
        path: path.to_path_buf(),
    };
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(relative());
    }
    let Some(s) = path.to_str() else {
        return Err(AprError::InvalidArgument {
            subcommand: String::new(),
            detail: format!("path {path:?} is not valid UTF-8"),
        });
    };
    // realizar rejects any path *string* containing `..`, even inside a file name.
    if s.contains("..") {
        return Err(relative());
    }
    Ok(s.to_string())
}

fn invalid(subcommand: &str, detail: impl Into<String>) -> AprError {
    AprError::InvalidArgument {
        subcommand: subcommand.to_string(),
        detail: detail.into(),
    }
}

/// What a LoRA training run is asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoraTraining {
    pub rank: u32,
    pub epochs: u32,
    /// 0 leaves every adapter matrix where it started.
    pub learning_rate: f64,
}

/// Builder of one invocation.
#[derive(Debug)]
struct Build {
    inv: Invocation,
}

impl Build {
    fn new(subcommand: Subcommand) -> Build {
        let mut args = vec!["--json".to_string()];
        args.extend(subcommand.as_str().split(' ').map(str::to_string));
        Build {
            inv: Invocation {
                subcommand,
                args,
                inputs: Vec::new(),
                outputs: Vec::new(),
                workdir: None,
                stdin: None,
            },
        }
    }

    fn arg(mut self, a: impl Into<String>) -> Build {
        self.inv.args.push(a.into());
        self
    }

    fn flag(self, name: &str, on: bool) -> Build {
        if on { self.arg(name) } else { self }
    }

    fn opt(self, name: &str, value: impl ToString) -> Build {
        self.arg(name).arg(value.to_string())
    }

    /// `--name=value`, safe for free text that may start with `-`.
    fn text(self, name: &str, value: &str) -> Build {
        self.arg(format!("{name}={value}"))
    }

    fn input(mut self, path: &Path) -> Result<Build, AprError> {
        let s = path_arg(path).map_err(|e| self.name_error(e))?;
        self.inv.inputs.push(path.to_path_buf());
        Ok(self.arg(s))
    }

    /// An input file given after a flag (`--base-model M`).
    fn input_opt(mut self, flag: &str, path: &Path) -> Result<Build, AprError> {
        let s = path_arg(path).map_err(|e| self.name_error(e))?;
        self.inv.inputs.push(path.to_path_buf());
        Ok(self.arg(flag).arg(s))
    }

    fn output(mut self, flag: &str, path: &Path) -> Result<Build, AprError> {
        let s = path_arg(path).map_err(|e| self.name_error(e))?;
        self.inv.outputs.push(path.to_path_buf());
        Ok(self.arg(flag).arg(s))
    }

    fn workdir(mut self, dir: &Path) -> Result<Build, AprError> {
        path_arg(dir).map_err(|e| self.name_error(e))?;
        self.inv.workdir = Some(dir.to_path_buf());
        Ok(self)
    }

    fn name_error(&self, e: AprError) -> AprError {
        match e {
            AprError::InvalidArgument { detail, .. } => {
                invalid(self.inv.subcommand.as_str(), detail)
            }
            other => other,
        }
    }

    fn done(self) -> Invocation {
        self.inv
    }
}

fn finite_threshold(subcommand: &str, threshold: f64) -> Result<String, AprError> {
    if threshold.is_finite() && threshold >= 0.0 {
        Ok(format!("{threshold}"))
    } else {
        Err(invalid(
            subcommand,
            format!("threshold must be finite and >= 0, got {threshold}"),
        ))
    }
}

/// A float option of apr's command line, compared and hashed by its bits so requests stay
/// keys of the call cache.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(transparent)]
pub struct Real(pub f64);

impl PartialEq for Real {
    fn eq(&self, other: &Real) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Real {}

impl std::hash::Hash for Real {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl std::fmt::Display for Real {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How `apr run` chooses each token when it does not decode greedily: each field is the flag
/// of the same name, and `None` leaves apr's default (top-k 40, no top-p, seed 299792458,
/// penalty 1, window 64).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Sampling {
    /// `--temperature` (0 decodes greedily).
    pub temperature: Option<Real>,
    /// `--top-k` (0 disables the filter).
    pub top_k: Option<u32>,
    /// `--top-p`.
    pub top_p: Option<Real>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--repeat-penalty`.
    pub repeat_penalty: Option<Real>,
    /// `--repeat-last-n`.
    pub repeat_last_n: Option<u32>,
}

/// Options of `apr run`. Greedy decoding (`--temperature 0`) on the CPU unless asked otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RunRequest {
    model: PathBuf,
    prompt: String,
    max_tokens: u32,
    logprobs: Option<u8>,
    gpu: bool,
    chat: bool,
    verbose: bool,
    sampling: Sampling,
}

impl RunRequest {
    /// Greedy CPU run of `prompt` on `model`, 32 tokens.
    #[must_use]
    pub fn new(model: &Path, prompt: &str) -> RunRequest {
        RunRequest {
            model: model.to_path_buf(),
            prompt: prompt.to_string(),
            max_tokens: 32,
            logprobs: None,
            gpu: false,
            chat: false,
            verbose: false,
            sampling: Sampling::default(),
        }
    }

    /// Sampling flags; a temperature left unset stays 0 (greedy).
    #[must_use]
    pub fn sampling(mut self, sampling: Sampling) -> RunRequest {
        self.sampling = sampling;
        self
    }

    /// `--max-tokens`.
    #[must_use]
    pub fn max_tokens(mut self, n: u32) -> RunRequest {
        self.max_tokens = n;
        self
    }

    /// `--logprobs K` (K ≤ 20; GGUF only).
    #[must_use]
    pub fn logprobs(mut self, k: Option<u8>) -> RunRequest {
        self.logprobs = k;
        self
    }

    /// Let apr pick an accelerator (omit `--no-gpu`).
    #[must_use]
    pub fn gpu(mut self, on: bool) -> RunRequest {
        self.gpu = on;
        self
    }

    /// `--chat`: apply the model's chat template.
    #[must_use]
    pub fn chat(mut self, on: bool) -> RunRequest {
        self.chat = on;
        self
    }

    /// `-v`: on the GGUF path apr prints the prompt token ids on stderr.
    #[must_use]
    pub fn verbose(mut self, on: bool) -> RunRequest {
        self.verbose = on;
        self
    }

    /// The invocation.
    ///
    /// # Errors
    /// Relative model path, or K > 20.
    pub fn build(&self) -> Result<Invocation, AprError> {
        if let Some(k) = self.logprobs
            && k > 20
        {
            return Err(invalid("run", format!("--logprobs must be <= 20, got {k}")));
        }
        let sampling = &self.sampling;
        let mut b = Build::new(Subcommand::Run)
            .input(&self.model)?
            .text("--prompt", &self.prompt)
            .opt("--max-tokens", self.max_tokens)
            .opt("--temperature", sampling.temperature.unwrap_or(Real(0.0)))
            .flag("--no-gpu", !self.gpu)
            .flag("--chat", self.chat)
            .flag("--verbose", self.verbose);
        if let Some(k) = self.logprobs {
            b = b.opt("--logprobs", k);
        }
        Ok(sampling_flags(b, sampling).done())
    }
}

/// `apr run`'s sampling flags but the temperature, each where it is set.
fn sampling_flags(mut b: Build, sampling: &Sampling) -> Build {
    if let Some(k) = sampling.top_k {
        b = b.opt("--top-k", k);
    }
    if let Some(p) = sampling.top_p {
        b = b.opt("--top-p", p);
    }
    if let Some(seed) = sampling.seed {
        b = b.opt("--seed", seed);
    }
    if let Some(p) = sampling.repeat_penalty {
        b = b.opt("--repeat-penalty", p);
    }
    if let Some(n) = sampling.repeat_last_n {
        b = b.opt("--repeat-last-n", n);
    }
    b
}

/// An `apr chat` session: the user turns are stdin's lines, one reply each, greedy on the CPU
/// unless a temperature is given. `apr chat` has no `--seed` (it is fixed) and no `--top-k`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ChatRequest {
    model: PathBuf,
    system: Option<String>,
    turns: Vec<String>,
    max_tokens: u32,
    temperature: Real,
    top_p: Option<Real>,
    trace: bool,
}

impl ChatRequest {
    /// A greedy chat of `turns` on `model`, 32 tokens a reply.
    #[must_use]
    pub fn new(model: &Path, turns: &[String]) -> ChatRequest {
        ChatRequest {
            model: model.to_path_buf(),
            system: None,
            turns: turns.to_vec(),
            max_tokens: 32,
            temperature: Real(0.0),
            top_p: None,
            trace: false,
        }
    }

    /// `--system`.
    #[must_use]
    pub fn system(mut self, system: Option<&str>) -> ChatRequest {
        self.system = system.map(str::to_string);
        self
    }

    /// `--max-tokens`, per reply.
    #[must_use]
    pub fn max_tokens(mut self, n: u32) -> ChatRequest {
        self.max_tokens = n;
        self
    }

    /// `--temperature` (0 decodes greedily).
    #[must_use]
    pub fn temperature(mut self, t: f64) -> ChatRequest {
        self.temperature = Real(t);
        self
    }

    /// `--top-p`; `None` leaves apr's default (0.9).
    #[must_use]
    pub fn top_p(mut self, p: Option<f64>) -> ChatRequest {
        self.top_p = p.map(Real);
        self
    }

    /// `--trace`: apr prints each turn's rendered prompt (its first 500 bytes) and prompt ids
    /// (the first 50) on stderr.
    #[must_use]
    pub fn trace(mut self, on: bool) -> ChatRequest {
        self.trace = on;
        self
    }

    /// The invocation, its turns on stdin.
    ///
    /// # Errors
    /// A relative model path, no turn, or a turn apr would read as several (a line break) or
    /// as a command (a leading `/`).
    pub fn build(&self) -> Result<Invocation, AprError> {
        if self.turns.is_empty() {
            return Err(invalid("chat", "a chat needs at least one user turn"));
        }
        if let Some(turn) = self
            .turns
            .iter()
            .find(|t| t.contains(['\n', '\r']) || t.trim().starts_with('/') || t.trim().is_empty())
        {
            return Err(invalid(
                "chat",
                format!(
                    "apr chat reads one trimmed line per turn, so a turn must be one non-empty \
                     line that does not start with `/`: {turn:?}"
                ),
            ));
        }
        let mut b = Build::new(Subcommand::Chat)
            .input(&self.model)?
            .opt("--temperature", self.temperature)
            .opt("--max-tokens", self.max_tokens)
            .flag("--no-gpu", true)
            .flag("--trace", self.trace);
        if let Some(system) = &self.system {
            b = b.text("--system", system);
        }
        if let Some(p) = self.top_p {
            b = b.opt("--top-p", p);
        }
        let mut inv = b.done();
        inv.stdin = Some(self.turns.iter().map(|t| format!("{t}\n")).collect());
        Ok(inv)
    }
}

/// Gate selection of `apr qa`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[allow(clippy::struct_excessive_bools)]
pub struct QaOptions {
    /// `--skip-golden` (expects "4" for "What is 2+2?": fails on tiny random models).
    pub skip_golden: bool,
    /// `--skip-throughput`.
    pub skip_throughput: bool,
    /// `--skip-ollama`.
    pub skip_ollama: bool,
    /// `--skip-gpu-speedup`.
    pub skip_gpu_speedup: bool,
    /// `--skip-contract`.
    pub skip_contract: bool,
    /// `--skip-format-parity`.
    pub skip_format_parity: bool,
    /// `--skip-ptx-parity`.
    pub skip_ptx_parity: bool,
    /// `--skip-gpu-state`.
    pub skip_gpu_state: bool,
    /// `--skip-metadata` (max_position_embeddings < 128 is flagged).
    pub skip_metadata: bool,
    /// `--skip-capability`.
    pub skip_capability: bool,
    /// `--safetensors-path` for the GGUF-vs-SafeTensors `format_parity` gate.
    pub safetensors_path: Option<PathBuf>,
    /// `--previous-report` (otherwise apr compares with its own cache of the last run).
    pub previous_report: Option<PathBuf>,
    /// `--iterations`.
    pub iterations: Option<u32>,
    /// `--warmup`.
    pub warmup: Option<u32>,
    /// `--max-tokens`.
    pub max_tokens: Option<u32>,
    /// `--min-executed`.
    pub min_executed: Option<u32>,
}

impl QaOptions {
    /// Skips that a tiny random model and a CPU-only host need: golden output, metadata
    /// plausibility, throughput, ollama and every GPU gate.
    #[must_use]
    pub fn tiny_model() -> QaOptions {
        QaOptions {
            skip_golden: true,
            skip_throughput: true,
            skip_ollama: true,
            skip_gpu_speedup: true,
            skip_ptx_parity: true,
            skip_gpu_state: true,
            skip_metadata: true,
            ..QaOptions::default()
        }
    }
}

impl Invocation {
    /// The subcommand (`run`, `rosetta diff-tensors`, `version` for `--version`).
    #[must_use]
    pub fn subcommand(&self) -> Subcommand {
        self.subcommand
    }

    /// The argv after the binary.
    #[must_use]
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Files apr reads.
    #[must_use]
    pub fn inputs(&self) -> &[PathBuf] {
        &self.inputs
    }

    /// Files apr writes.
    #[must_use]
    pub fn outputs(&self) -> &[PathBuf] {
        &self.outputs
    }

    /// What apr reads on stdin, where the call sends anything.
    #[must_use]
    pub fn stdin(&self) -> Option<&str> {
        self.stdin.as_deref()
    }

    /// The folder apr runs in, where it is not the caller's.
    #[must_use]
    pub fn workdir(&self) -> Option<&Path> {
        self.workdir.as_deref()
    }

    /// A shell-quoted `apr ...` line to reproduce the call (`cd DIR && apr ...` where the call
    /// has a folder of its own).
    #[must_use]
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(dir) = &self.workdir {
            let _ = write!(s, "cd {} && ", shell_quote(&dir.to_string_lossy()));
        }
        if let Some(input) = &self.stdin {
            let _ = write!(s, "printf %s {} | ", shell_quote(input));
        }
        s.push_str("apr");
        for a in &self.args {
            let _ = write!(s, " {}", shell_quote(a));
        }
        s
    }

    /// `apr --version --json`.
    #[must_use]
    pub fn version() -> Invocation {
        Invocation {
            subcommand: Subcommand::Version,
            args: vec!["--version".into(), "--json".into()],
            inputs: Vec::new(),
            outputs: Vec::new(),
            workdir: None,
            stdin: None,
        }
    }

    /// Greedy CPU `apr run` (see [`RunRequest`] for more options).
    ///
    /// # Errors
    /// Relative model path, or `logprobs` > 20.
    pub fn run(
        model: &Path,
        prompt: &str,
        max_tokens: u32,
        logprobs: Option<u8>,
    ) -> Result<Invocation, AprError> {
        RunRequest::new(model, prompt)
            .max_tokens(max_tokens)
            .logprobs(logprobs)
            .build()
    }

    /// CPU `apr run --batch-jsonl FILE` of `model`: every line of `prompts` (`{"prompt": ...,
    /// "task_id": ...}`) answered with one JSON line, the model loaded once. Greedy unless
    /// `sampling` sets a temperature; its other fields are passed as `apr run` takes them.
    ///
    /// # Errors
    /// Relative paths.
    pub fn run_batch(
        model: &Path,
        prompts: &Path,
        max_tokens: u32,
        sampling: &Sampling,
    ) -> Result<Invocation, AprError> {
        let b = Build::new(Subcommand::Run)
            .input(model)?
            .input_opt("--batch-jsonl", prompts)?
            .opt("--max-tokens", max_tokens)
            .opt("--temperature", sampling.temperature.unwrap_or(Real(0.0)))
            .flag("--no-gpu", true);
        Ok(sampling_flags(b, sampling).done())
    }

    /// Perplexity of `text`: `--dataset custom --text`, and a threshold of 1e9 so the gate
    /// never hides the number.
    ///
    /// # Errors
    /// Relative model path, or empty text.
    pub fn eval_text(model: &Path, text: &str, max_tokens: u32) -> Result<Invocation, AprError> {
        if text.is_empty() {
            return Err(invalid("eval", "--text must not be empty"));
        }
        Ok(Build::new(Subcommand::Eval)
            .input(model)?
            .opt("--dataset", "custom")
            .text("--text", text)
            .opt("--max-tokens", max_tokens)
            .opt("--threshold", "1000000000")
            .done())
    }

    /// `apr --json tokenize encode MODEL --prompt=TEXT`: the ids apr's own encoder (the one
    /// `apr run` uses) gives `text` on a GGUF, special-token look-alikes as text.
    ///
    /// # Errors
    /// Relative model path, or empty text.
    pub fn tokenize_encode(model: &Path, text: &str) -> Result<Invocation, AprError> {
        if text.is_empty() {
            return Err(invalid("tokenize encode", "--prompt must not be empty"));
        }
        Ok(Build::new(Subcommand::TokenizeEncode)
            .input(model)?
            .text("--prompt", text)
            .done())
    }

    /// Perplexity of apr's built-in paragraph, gated at `threshold`.
    ///
    /// # Errors
    /// Relative model path, or a threshold that is negative or not finite.
    pub fn eval_builtin(model: &Path, threshold: f64) -> Result<Invocation, AprError> {
        let t = finite_threshold("eval", threshold)?;
        Ok(Build::new(Subcommand::Eval)
            .input(model)?
            .opt("--threshold", t)
            .done())
    }

    /// `apr --json inspect MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn inspect(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Inspect).input(model)?.done())
    }

    /// `apr --json validate MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn validate(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Validate).input(model)?.done())
    }

    /// `apr --json tensors MODEL --limit 0 [--stats]` (all tensors).
    ///
    /// # Errors
    /// Relative path.
    pub fn tensors(model: &Path, stats: bool) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Tensors)
            .input(model)?
            .opt("--limit", 0)
            .flag("--stats", stats)
            .done())
    }

    /// `apr --json lint MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn lint(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Lint).input(model)?.done())
    }

    /// `apr --json check MODEL --no-gpu` (always exits 0: read `all_passed`).
    ///
    /// # Errors
    /// Relative path.
    pub fn check(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Check)
            .input(model)?
            .arg("--no-gpu")
            .done())
    }

    /// `apr --json diff A B` (structure and metadata).
    ///
    /// # Errors
    /// Relative path.
    pub fn diff(a: &Path, b: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Diff).input(a)?.input(b)?.done())
    }

    /// `apr --json diff A B --values --limit N` (per-tensor value statistics; never fails).
    ///
    /// # Errors
    /// Relative path.
    pub fn diff_values(a: &Path, b: &Path, limit: u32) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Diff)
            .input(a)?
            .input(b)?
            .arg("--values")
            .opt("--limit", limit)
            .done())
    }

    /// `apr --json tree MODEL --sizes`.
    ///
    /// # Errors
    /// Relative path.
    pub fn tree(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Tree)
            .input(model)?
            .arg("--sizes")
            .done())
    }

    /// `apr --json oracle MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn oracle(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Oracle).input(model)?.done())
    }

    /// `apr --json hex MODEL --tensor FILTER [--stats]` (substring filter).
    ///
    /// # Errors
    /// Relative path, or an empty filter.
    pub fn hex(model: &Path, tensor_filter: &str, stats: bool) -> Result<Invocation, AprError> {
        if tensor_filter.is_empty() {
            return Err(invalid("hex", "the tensor filter must not be empty"));
        }
        Ok(Build::new(Subcommand::Hex)
            .input(model)?
            .text("--tensor", tensor_filter)
            .flag("--stats", stats)
            .done())
    }

    /// `apr --json debug MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn debug(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Debug).input(model)?.done())
    }

    /// `apr --json bench MODEL --iterations I --warmup W --max-tokens N`.
    ///
    /// `iterations = 0` is passed through: apr 0.72.3 panics on it (exit 101).
    ///
    /// # Errors
    /// Relative path.
    pub fn bench(
        model: &Path,
        iterations: u32,
        warmup: u32,
        max_tokens: u32,
    ) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Bench)
            .input(model)?
            .opt("--iterations", iterations)
            .opt("--warmup", warmup)
            .opt("--max-tokens", max_tokens)
            .done())
    }

    /// `apr --json qa MODEL [skips...]`.
    ///
    /// # Errors
    /// Relative model or option path.
    pub fn qa(model: &Path, options: &QaOptions) -> Result<Invocation, AprError> {
        let o = options;
        let mut b = Build::new(Subcommand::Qa)
            .input(model)?
            .flag("--skip-golden", o.skip_golden)
            .flag("--skip-throughput", o.skip_throughput)
            .flag("--skip-ollama", o.skip_ollama)
            .flag("--skip-gpu-speedup", o.skip_gpu_speedup)
            .flag("--skip-contract", o.skip_contract)
            .flag("--skip-format-parity", o.skip_format_parity)
            .flag("--skip-ptx-parity", o.skip_ptx_parity)
            .flag("--skip-gpu-state", o.skip_gpu_state)
            .flag("--skip-metadata", o.skip_metadata)
            .flag("--skip-capability", o.skip_capability);
        if let Some(p) = &o.safetensors_path {
            b = b.arg("--safetensors-path").input(p)?;
        }
        if let Some(p) = &o.previous_report {
            b = b.arg("--previous-report").input(p)?;
        }
        for (flag, value) in [
            ("--iterations", o.iterations),
            ("--warmup", o.warmup),
            ("--max-tokens", o.max_tokens),
            ("--min-executed", o.min_executed),
        ] {
            if let Some(v) = value {
                b = b.opt(flag, v);
            }
        }
        Ok(b.done())
    }

    /// `apr --json list`.
    #[must_use]
    pub fn list() -> Invocation {
        Build::new(Subcommand::List).done()
    }

    /// `apr --json parity GGUF --prompt P` (CPU vs GPU; needs a CUDA build).
    ///
    /// # Errors
    /// Relative path.
    pub fn parity(gguf: &Path, prompt: &str) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Parity)
            .input(gguf)?
            .text("--prompt", prompt)
            .done())
    }

    /// `apr --json rosetta diff-tensors A B` (names and shapes).
    ///
    /// # Errors
    /// Relative path.
    pub fn rosetta_diff_tensors(a: &Path, b: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::RosettaDiffTensors)
            .input(a)?
            .input(b)?
            .done())
    }

    /// `apr --json rosetta fingerprint MODEL`.
    ///
    /// # Errors
    /// Relative path.
    pub fn rosetta_fingerprint(model: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::RosettaFingerprint)
            .input(model)?
            .done())
    }

    /// `apr --json compare-hf MODEL --hf ORG/REPO` (downloads the hub copy).
    ///
    /// # Errors
    /// Relative path, or a repo that is not `org/name`.
    pub fn compare_hf(model: &Path, repo: &str) -> Result<Invocation, AprError> {
        if repo.starts_with('-') || !repo.contains('/') {
            return Err(invalid(
                "compare-hf",
                format!("repo must be `org/name`, got {repo:?}"),
            ));
        }
        Ok(Build::new(Subcommand::CompareHf)
            .input(model)?
            .text("--hf", repo)
            .done())
    }

    /// `apr --json pull REF`: downloads into apr's cache. apr prints human progress even with
    /// `--json` (parse with [`crate::parse::pull`]).
    ///
    /// # Errors
    /// An empty reference or one starting with `-`.
    pub fn pull(model_ref: &str) -> Result<Invocation, AprError> {
        if model_ref.is_empty() || model_ref.starts_with('-') {
            return Err(invalid(
                "pull",
                format!("bad model reference {model_ref:?}"),
            ));
        }
        Ok(Build::new(Subcommand::Pull).arg(model_ref).done())
    }

    /// The same call with apr's global `--offline` (no network: hub references fail with
    /// exit 10 instead of downloading).
    #[must_use]
    pub fn offline(mut self) -> Invocation {
        if !self.args.iter().any(|a| a == "--offline") {
            let at = usize::from(self.args.first().is_some_and(|a| a == "--json"));
            self.args.insert(at, "--offline".to_string());
        }
        self
    }

    /// `apr --json pull REF --dry-run`.
    ///
    /// # Errors
    /// An empty reference or one starting with `-`.
    pub fn pull_dry_run(model_ref: &str) -> Result<Invocation, AprError> {
        if model_ref.is_empty() || model_ref.starts_with('-') {
            return Err(invalid(
                "pull",
                format!("bad model reference {model_ref:?}"),
            ));
        }
        Ok(Build::new(Subcommand::Pull)
            .arg(model_ref)
            .arg("--dry-run")
            .done())
    }

    /// `apr --json import SOURCE -o OUT [--quantize Q]` from a local `.safetensors` file, HF
    /// folder or `.gguf`.
    ///
    /// # Errors
    /// Relative path.
    pub fn import(
        source: &Path,
        out: &Path,
        quant: Option<Quantize>,
    ) -> Result<Invocation, AprError> {
        let mut b = Build::new(Subcommand::Import)
            .input(source)?
            .output("-o", out)?;
        if let Some(q) = quant {
            b = b.opt("--quantize", q.as_arg());
        }
        Ok(b.done())
    }

    /// `apr --json import GGUF -o OUT --preserve-q4k`: the GGUF through realizar's block-keeping
    /// converter, which apr's help says the default has replaced, though it is another path.
    ///
    /// # Errors
    /// Relative path.
    pub fn import_preserving_blocks(gguf: &Path, out: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Import)
            .input(gguf)?
            .output("-o", out)?
            .flag("--preserve-q4k", true)
            .done())
    }

    /// `apr --json merge A B ... --strategy S [--weights W,...] [--base-model M] -o OUT`: the
    /// model operations' merge (`average`, `weighted`, `slerp`, `ties`, `dare`; the last two
    /// take the base model their task vectors are measured from).
    ///
    /// # Errors
    /// Relative path, fewer than two inputs, or weights that are not one per input.
    pub fn merge(
        inputs: &[&Path],
        strategy: &str,
        weights: Option<&[f64]>,
        base: Option<&Path>,
        out: &Path,
    ) -> Result<Invocation, AprError> {
        if inputs.len() < 2 {
            return Err(invalid("merge", "merging needs at least two models"));
        }
        let mut b = Build::new(Subcommand::Merge);
        for input in inputs {
            b = b.input(input)?;
        }
        b = b.opt("--strategy", strategy);
        if let Some(w) = weights {
            if w.len() != inputs.len() {
                return Err(invalid("merge", "one weight per model"));
            }
            let list: Vec<String> = w.iter().map(f64::to_string).collect();
            b = b.opt("--weights", list.join(","));
        }
        if let Some(base) = base {
            b = b.input_opt("--base-model", base)?;
        }
        Ok(b.output("-o", out)?.done())
    }

    /// `apr --json merge A B ... --strategy S --plan`: what the merge would do.
    ///
    /// # Errors
    /// Relative path, or fewer than two inputs.
    pub fn merge_plan(inputs: &[&Path], strategy: &str) -> Result<Invocation, AprError> {
        if inputs.len() < 2 {
            return Err(invalid("merge", "merging needs at least two models"));
        }
        let mut b = Build::new(Subcommand::Merge);
        for input in inputs {
            b = b.input(input)?;
        }
        Ok(b.opt("--strategy", strategy).flag("--plan", true).done())
    }

    /// `apr --json quantize INPUT --scheme S --plan`.
    ///
    /// # Errors
    /// Relative path.
    pub fn quantize_plan(input: &Path, scheme: Quantize) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Quantize)
            .input(input)?
            .opt("--scheme", scheme.as_arg())
            .flag("--plan", true)
            .done())
    }

    /// `apr --json convert INPUT --compress C -o OUT` (`none`, `zstd`, `zstd-max`, `lz4`).
    ///
    /// # Errors
    /// Relative path.
    pub fn convert_compressed(
        input: &Path,
        codec: &str,
        out: &Path,
    ) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Convert)
            .input(input)?
            .opt("--compress", codec)
            .output("-o", out)?
            .done())
    }

    /// `apr --json trace MODEL --save-tensor all --save-tensor-dir DIR
    /// --save-tensor-layers 0..LAYERS`: one forward pass of apr's fixed trace prompt over a
    /// `.apr`, every stage of layers `0..LAYERS` dumped as f32 under DIR (see
    /// [`crate::stage_dump`]). apr prints text, not JSON, whatever `--json` says.
    ///
    /// # Errors
    /// Relative path, or no layers.
    pub fn trace_stages(model: &Path, dir: &Path, layers: u32) -> Result<Invocation, AprError> {
        if layers == 0 {
            return Err(invalid("trace", "a trace needs at least one layer"));
        }
        Ok(Build::new(Subcommand::Trace)
            .input(model)?
            .opt("--save-tensor", "all")
            .output("--save-tensor-dir", dir)?
            .opt("--save-tensor-layers", format!("0..{layers}"))
            .done())
    }

    /// `apr --json finetune INPUT --method lora --rank R --plan`.
    ///
    /// # Errors
    /// Relative path.
    pub fn finetune_plan(input: &Path, rank: u32) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Finetune)
            .input(input)?
            .opt("--method", "lora")
            .opt("--rank", rank)
            .flag("--plan", true)
            .done())
    }

    /// `apr --json finetune INPUT --method lora --rank R -d DATA --epochs E --learning-rate LR
    /// -o OUT`, run in WORKDIR: a LoRA training run. apr 0.72.3 writes its checkpoints to
    /// `WORKDIR/checkpoints/` whatever `-o` says.
    ///
    /// # Errors
    /// Relative path, no epochs, or a learning rate that is negative or not finite.
    pub fn finetune_lora(
        input: &Path,
        data: &Path,
        training: LoraTraining,
        out: &Path,
        workdir: &Path,
    ) -> Result<Invocation, AprError> {
        if training.epochs == 0 {
            return Err(invalid("finetune", "training needs at least one epoch"));
        }
        if !(training.learning_rate.is_finite() && training.learning_rate >= 0.0) {
            return Err(invalid(
                "finetune",
                format!(
                    "learning rate must be finite and >= 0, got {}",
                    training.learning_rate
                ),
            ));
        }
        Ok(Build::new(Subcommand::Finetune)
            .input(input)?
            .opt("--method", "lora")
            .opt("--rank", training.rank)
            .input_opt("-d", data)?
            .opt("--epochs", training.epochs)
            .opt("--learning-rate", training.learning_rate)
            .output("-o", out)?
            .workdir(workdir)?
            .done())
    }

    /// `apr --json finetune BASE --merge --adapter ADAPTER -o OUT`: the adapter folded into
    /// the base model.
    ///
    /// # Errors
    /// Relative path.
    pub fn finetune_merge(base: &Path, adapter: &Path, out: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Finetune)
            .input(base)?
            .flag("--merge", true)
            .input_opt("--adapter", adapter)?
            .output("-o", out)?
            .done())
    }

    /// `apr --json distill TEACHER --student S -d DATA --epochs E (-o OUT | --plan)`.
    ///
    /// # Errors
    /// Relative path.
    pub fn distill(
        teacher: &Path,
        student: &Path,
        data: &Path,
        epochs: u32,
        out: Option<&Path>,
    ) -> Result<Invocation, AprError> {
        let b = Build::new(Subcommand::Distill)
            .input(teacher)?
            .input_opt("--student", student)?
            .input_opt("-d", data)?
            .opt("--epochs", epochs);
        Ok(match out {
            Some(out) => b.output("-o", out)?,
            None => b.flag("--plan", true),
        }
        .done())
    }

    /// `apr --json prune INPUT --method magnitude --target-ratio R (-o OUT | --plan)`: with
    /// `out` absent, the plan alone.
    ///
    /// # Errors
    /// Relative path.
    pub fn prune(
        input: &Path,
        target_ratio: f64,
        out: Option<&Path>,
    ) -> Result<Invocation, AprError> {
        let b = Build::new(Subcommand::Prune)
            .input(input)?
            .opt("--method", "magnitude")
            .opt("--target-ratio", target_ratio);
        Ok(match out {
            Some(out) => b.output("-o", out)?,
            None => b.flag("--plan", true),
        }
        .done())
    }

    /// `apr --json quantize INPUT --scheme S -o OUT`.
    ///
    /// # Errors
    /// Relative path.
    pub fn quantize(input: &Path, scheme: Quantize, out: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Quantize)
            .input(input)?
            .opt("--scheme", scheme.as_arg())
            .output("-o", out)?
            .done())
    }

    /// `apr --json export INPUT --format gguf -o OUT` (fails with exit 5 if OUT exists).
    ///
    /// # Errors
    /// Relative path.
    pub fn export_gguf(input: &Path, out: &Path) -> Result<Invocation, AprError> {
        Ok(Build::new(Subcommand::Export)
            .input(input)?
            .opt("--format", "gguf")
            .output("-o", out)?
            .done())
    }

    /// `apr --json export INPUT --format FORMAT -o OUT [--quantize Q]`.
    ///
    /// # Errors
    /// Relative path, or a format other than `safetensors`, `gguf`, `mlx`.
    pub fn export(
        input: &Path,
        out: &Path,
        format: &str,
        quant: Option<Quantize>,
    ) -> Result<Invocation, AprError> {
        if !matches!(format, "safetensors" | "gguf" | "mlx") {
            return Err(invalid(
                "export",
                format!("format must be safetensors, gguf or mlx, got {format:?}"),
            ));
        }
        let mut b = Build::new(Subcommand::Export)
            .input(input)?
            .opt("--format", format)
            .output("-o", out)?;
        if let Some(q) = quant {
            b = b.opt("--quantize", q.as_arg());
        }
        Ok(b.done())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_global_and_first() {
        let inv = Invocation::inspect(Path::new("/m/a.apr")).unwrap();
        assert_eq!(inv.args(), ["--json", "inspect", "/m/a.apr"]);
        assert_eq!(inv.inputs(), [PathBuf::from("/m/a.apr")]);
        let inv =
            Invocation::rosetta_diff_tensors(Path::new("/a.gguf"), Path::new("/b.apr")).unwrap();
        assert_eq!(
            inv.args(),
            ["--json", "rosetta", "diff-tensors", "/a.gguf", "/b.apr"]
        );
        assert_eq!(inv.subcommand(), Subcommand::RosettaDiffTensors);
    }

    #[test]
    fn a_training_run_has_a_folder_of_its_own_and_the_reproduction_enters_it() {
        let training = LoraTraining {
            rank: 4,
            epochs: 1,
            learning_rate: 0.0,
        };
        let (m, d, o, w) = (
            Path::new("/m/a.apr"),
            Path::new("/d/t.jsonl"),
            Path::new("/w/my run/adapter"),
            Path::new("/w/my run"),
        );
        let inv = Invocation::finetune_lora(m, d, training, o, w).unwrap();
        assert_eq!(inv.workdir(), Some(w));
        assert_eq!(inv.inputs(), [PathBuf::from(m), PathBuf::from(d)]);
        assert_eq!(inv.outputs(), [PathBuf::from("/w/my run/adapter")]);
        assert!(
            inv.display()
                .starts_with("cd '/w/my run' && apr --json finetune /m/a.apr --method lora"),
            "{}",
            inv.display()
        );
        assert!(inv.display().contains("--learning-rate 0 "));
        let zero_epochs = LoraTraining {
            epochs: 0,
            ..training
        };
        assert!(Invocation::finetune_lora(m, d, zero_epochs, o, w).is_err());
        let nan_rate = LoraTraining {
            learning_rate: f64::NAN,
            ..training
        };
        assert!(Invocation::finetune_lora(m, d, nan_rate, o, w).is_err());
        assert!(Invocation::finetune_lora(m, d, training, o, Path::new("rel")).is_err());
        assert_eq!(Invocation::inspect(m).unwrap().workdir(), None);
    }

    #[test]
    fn model_operations_name_their_inputs_and_outputs() {
        let (a, b, out) = (
            Path::new("/m/a.apr"),
            Path::new("/m/b.apr"),
            Path::new("/o/m.apr"),
        );
        let inv = Invocation::merge(&[a, b], "weighted", Some(&[1.0, 0.0]), None, out).unwrap();
        assert_eq!(
            inv.args(),
            [
                "--json",
                "merge",
                "/m/a.apr",
                "/m/b.apr",
                "--strategy",
                "weighted",
                "--weights",
                "1,0",
                "-o",
                "/o/m.apr"
            ]
        );
        assert_eq!(inv.inputs().len(), 2);
        assert_eq!(inv.outputs(), [PathBuf::from("/o/m.apr")]);
        assert!(Invocation::merge(&[a], "average", None, None, out).is_err());
        assert!(Invocation::merge(&[a, b], "weighted", Some(&[1.0]), None, out).is_err());
        let plan = Invocation::prune(a, 0.5, None).unwrap();
        assert!(plan.args().contains(&"--plan".to_string()) && plan.outputs().is_empty());
        let q = Invocation::quantize(a, Quantize::Int8, out).unwrap();
        assert_eq!(q.args()[2..5], ["/m/a.apr", "--scheme", "int8"]);
    }

    #[test]
    fn rejects_relative_and_dotdot() {
        for bad in ["m.apr", "a/b.gguf", "/a/../b.gguf", "/a/b..c.gguf"] {
            assert!(
                matches!(
                    Invocation::inspect(Path::new(bad)),
                    Err(AprError::RelativePath { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn run_is_greedy_cpu() {
        let inv = Invocation::run(Path::new("/m/x.gguf"), "-hi there", 8, Some(5)).unwrap();
        assert_eq!(
            inv.args(),
            [
                "--json",
                "run",
                "/m/x.gguf",
                "--prompt=-hi there",
                "--max-tokens",
                "8",
                "--temperature",
                "0",
                "--no-gpu",
                "--logprobs",
                "5"
            ]
        );
        assert!(Invocation::run(Path::new("/m/x.gguf"), "p", 8, Some(21)).is_err());
        assert_eq!(
            inv.display(),
            "apr --json run /m/x.gguf '--prompt=-hi there' --max-tokens 8 --temperature 0 \
             --no-gpu --logprobs 5"
        );
    }

    #[test]
    fn outputs_are_recorded() {
        let inv = Invocation::import(
            Path::new("/hf/tiny"),
            Path::new("/out/t.apr"),
            Some(Quantize::Q4k),
        )
        .unwrap();
        assert_eq!(inv.outputs(), [PathBuf::from("/out/t.apr")]);
        assert_eq!(
            inv.args(),
            [
                "--json",
                "import",
                "/hf/tiny",
                "-o",
                "/out/t.apr",
                "--quantize",
                "q4k"
            ]
        );
    }

    #[test]
    fn eval_threshold_validated() {
        assert!(Invocation::eval_builtin(Path::new("/m.gguf"), f64::NAN).is_err());
        assert!(Invocation::eval_builtin(Path::new("/m.gguf"), -1.0).is_err());
        let inv = Invocation::eval_builtin(Path::new("/m.gguf"), 50.0).unwrap();
        assert_eq!(inv.args()[3..], ["--threshold", "50"]);
    }

    #[test]
    fn offline_is_global() {
        let inv = Invocation::pull_dry_run("hf://a/b")
            .unwrap()
            .offline()
            .offline();
        assert_eq!(
            inv.args(),
            ["--json", "--offline", "pull", "hf://a/b", "--dry-run"]
        );
        assert_eq!(inv.subcommand(), Subcommand::Pull);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("/x/y.gguf"), "/x/y.gguf");
    }

    #[test]
    fn hash_distinguishes_calls() {
        use std::collections::HashSet;
        let a = Invocation::tensors(Path::new("/m.apr"), true).unwrap();
        let b = Invocation::tensors(Path::new("/m.apr"), false).unwrap();
        let set: HashSet<_> = [a.clone(), b, a].into_iter().collect();
        assert_eq!(set.len(), 2);
    }
}
