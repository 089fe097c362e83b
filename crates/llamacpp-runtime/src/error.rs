//! Why llama.cpp could not do what was asked: llama.cpp's own refusals, told by the worker,
//! and the worker's faults, told by the supervisor.

use crate::protocol::{Ftype, Reply};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Why llama.cpp could not do what was asked. A `log` is what llama.cpp logged during the
/// call (warnings and errors), which is where it says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LlamaError {
    #[error("llama.cpp backend could not start: {0}")]
    Backend(String),
    #[error("{path} is not a path llama.cpp can open (not UTF-8 or contains NUL)")]
    Path { path: PathBuf },
    #[error("llama.cpp could not load {path}: {log}")]
    Load { path: PathBuf, log: String },
    #[error("llama.cpp could not create a context for {path}: {detail}; {log}")]
    Context {
        path: PathBuf,
        detail: String,
        log: String,
    },
    #[error("llama.cpp encoded the prompt into no tokens")]
    EmptyPrompt,
    #[error("prompt token id {id} is outside the GGUF's vocabulary of {n_vocab}")]
    TokenOutOfVocabulary { id: u32, n_vocab: u32 },
    #[error("llama_decode failed at step {step} ({detail}); {log}")]
    Decode {
        step: usize,
        detail: String,
        log: String,
    },
    #[error("ggml cannot dequantize `{tensor}` of {path}: {reason}")]
    Dequantize {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("llama_model_quantize {input} -> {output} ({ftype}) returned {code}; {log}")]
    Quantize {
        input: PathBuf,
        output: PathBuf,
        ftype: Ftype,
        code: u32,
        log: String,
    },
    /// The worker binary is not where tmgt looks for it.
    #[error(
        "the llama.cpp worker `{binary}` is missing (looked in {searched}); build it with \
         `cargo build -p tmgt-runner --bins`, or name it in TMGT_LLAMA_WORKER"
    )]
    WorkerMissing { binary: String, searched: String },
    /// The worker could not be started, or did not greet as this protocol's worker.
    #[error("the llama.cpp worker {binary} could not start: {reason}")]
    WorkerStart { binary: PathBuf, reason: String },
    /// The worker died during a call: llama.cpp aborted (a `GGML_ASSERT`), crashed, or was
    /// killed. `fault` is the line that says why, from its stderr.
    #[error(
        "llama.cpp crashed ({ending}) during {op} on {path}: {fault}; reproduce with: {reproduce}"
    )]
    Crashed {
        path: PathBuf,
        op: String,
        ending: String,
        fault: String,
        reproduce: String,
    },
    /// The call ran past its limit; tmgt killed the worker.
    #[error(
        "llama.cpp did not finish {op} on {path} within {limit_s} s ([timeouts].llamacpp plus \
         the file read once per step at 50 MB/s); tmgt killed it; reproduce with: {reproduce}"
    )]
    TimedOut {
        path: PathBuf,
        op: String,
        limit_s: u64,
        reproduce: String,
    },
    /// tmgt was interrupted; the worker was ended.
    #[error("interrupted: llama.cpp {op} on {path} was ended")]
    Cancelled { path: PathBuf, op: String },
    /// The worker said something that is not this protocol.
    #[error("the llama.cpp worker broke the protocol during {op}: {detail}")]
    Protocol { op: String, detail: String },
}

impl LlamaError {
    /// The worker answered with a reply of another operation.
    pub(crate) fn unexpected(op: &str, reply: &Reply) -> LlamaError {
        LlamaError::Protocol {
            op: op.to_string(),
            detail: format!("answered with {reply:?}"),
        }
    }

    /// Whether llama.cpp itself did not survive the call (it aborted, crashed or hung): a
    /// fault of the runtime on this file, not an answer about it.
    #[must_use]
    pub fn is_worker_fault(&self) -> bool {
        matches!(
            self,
            LlamaError::Crashed { .. }
                | LlamaError::TimedOut { .. }
                | LlamaError::Cancelled { .. }
                | LlamaError::WorkerMissing { .. }
                | LlamaError::WorkerStart { .. }
                | LlamaError::Protocol { .. }
        )
    }
}
