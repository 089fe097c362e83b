//! llama.cpp as a second runtime, in-process.
//!
//! When apr disagrees with the HuggingFace oracle, the next question is what llama.cpp does
//! with the same file. This crate answers it without a llama.cpp install: the `llama-cpp-2`
//! crate builds llama.cpp from the source it vendors (cmake, CPU backend only) and links it
//! into the process.
//!
//! - [`generate`]: greedy decoding of a GGUF on a raw prompt, returning the prompt ids as
//!   llama.cpp encoded them, the generated ids, the text and, per step, the top-k
//!   log-probabilities and the top-1/top-2 logit margin, in the shape of tmgt's oracles.
//! - [`inspect`]: load a GGUF and read what llama.cpp understood of it.
//! - [`quantize`]: llama.cpp's own quantization (`llama_model_quantize`) of a GGUF.
//!
//! Every call holds one process-wide lock: llama.cpp's logger is global, and holding the lock
//! lets each error carry the log lines its own call produced (a load failure's reason is only
//! ever logged). Decoding is set up for comparison with a float32 oracle: f32 KV cache, no
//! flash attention, one thread, the whole prompt in one batch, greedy argmax over the raw
//! logits (the lowest id wins an exact tie, as in torch's stable sort).

mod ffi;
mod generate;

pub use generate::{
    Encoding, GenerateRequest, Generation, ModelInfo, PromptInput, Step, generate, inspect,
    tokenize,
};

use std::path::PathBuf;

/// The `llama-cpp-2` release this crate is built and tested against (pinned in the workspace).
pub const BINDINGS_VERSION: &str = "llama-cpp-2 0.1.160";

/// llama.cpp's own version string, and the CPU features its build uses.
pub fn llama_cpp_version() -> Result<String, LlamaError> {
    let _guard = ffi::lock()?;
    Ok(ffi::version())
}

/// Why llama.cpp could not do what was asked. The log is what llama.cpp logged during the
/// call (warnings and errors), which is where it says why.
#[derive(Debug, thiserror::Error)]
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
    #[error("llama_model_quantize {input} -> {output} ({ftype}) returned {code}; {log}")]
    Quantize {
        input: PathBuf,
        output: PathBuf,
        ftype: &'static str,
        code: u32,
        log: String,
    },
}

/// A llama.cpp quantization type tmgt makes native references at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Ftype {
    /// `LLAMA_FTYPE_ALL_F32`: every tensor float32 (dequantized when the input is quantized).
    F32,
    /// `LLAMA_FTYPE_MOSTLY_Q8_0`: 8-bit blocks of 32 with one f16 scale.
    Q8_0,
    /// `LLAMA_FTYPE_MOSTLY_Q4_0`: 4-bit blocks of 32 with one f16 scale.
    Q4_0,
}

impl Ftype {
    pub fn as_str(self) -> &'static str {
        match self {
            Ftype::F32 => "F32",
            Ftype::Q8_0 => "Q8_0",
            Ftype::Q4_0 => "Q4_0",
        }
    }
}

impl std::fmt::Display for Ftype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CPU time this process has spent inside llama.cpp (loads, decoding, quantizing): the part
/// of tmgt's own CPU that is the second runtime's work, not the harness's.
#[must_use]
pub fn cpu_time() -> std::time::Duration {
    ffi::cpu_time()
}

/// Bytes llama.cpp holds in this process now: the loaded model (or a quantization's input
/// file) and the buffers it says it allocated for it (KV cache, compute, output); 0 between
/// calls.
#[must_use]
pub fn held_bytes() -> u64 {
    ffi::held_bytes()
}

/// Hands freed heap memory back to the system (glibc's `malloc_trim`, which lives here beside
/// the other FFI). Each worker thread has its own malloc arena, so memory one check freed
/// stays resident beside what the next check on another thread allocates unless trimmed; the
/// runner calls this after each instance.
pub fn trim_heap() {
    ffi::trim_heap();
}

/// Quantizes the GGUF `input` into `output` with llama.cpp's defaults for `ftype` (what
/// `llama-quantize input output Q8_0` does: 1-D tensors stay f32; a tensor whose rows do not
/// fit a type's block size falls back as llama.cpp decides). One thread, so the output is
/// byte-for-byte reproducible.
pub fn quantize(
    input: &std::path::Path,
    output: &std::path::Path,
    ftype: Ftype,
) -> Result<(), LlamaError> {
    let guard = ffi::lock()?;
    // llama.cpp maps the input and reads every tensor of it.
    guard.hold_weights(std::fs::metadata(input).map(|m| m.len()).unwrap_or(0));
    ffi::quantize(input, output, ftype)
}
