//! llama.cpp as a second runtime, out of process.
//!
//! When apr disagrees with the HuggingFace oracle, the next question is what llama.cpp does
//! with the same file. llama.cpp aborts the whole process on files it finds inconsistent
//! (`GGML_ASSERT`), and tmgt's job is to be handed suspect files, so llama.cpp never runs in
//! tmgt's own process: every call goes to a worker (`tmgt-llama-worker`, crate
//! `llamacpp-worker`) that tmgt supervises like an apr call (its own process group, a time
//! limit scaled by the file's size, ended by tmgt's interruption and at its exit). A worker
//! that aborts, crashes or hangs becomes a [`LlamaError`] naming the fault and the command
//! that reproduces it; the caller's run goes on.
//!
//! - [`generate`]: greedy decoding of a GGUF on a raw prompt, returning the prompt ids as
//!   llama.cpp encoded them, the generated ids, the text and, per step, the top-k
//!   log-probabilities and the top-1/top-2 logit margin, in the shape of tmgt's oracles.
//! - [`inspect`]: load a GGUF and read what llama.cpp understood of it.
//! - [`tokenize`]: the GGUF's own tokenizer on some texts (vocabulary only).
//! - [`quantize`]: llama.cpp's own quantization (`llama_model_quantize`) of a GGUF.
//!
//! Workers are kept between calls and keep their last model loaded, so consecutive calls on
//! one file load it once.

mod error;
mod pool;
pub mod protocol;
mod worker;

pub use error::LlamaError;
pub use pool::{RuntimeUsage, cancel_with, set_base_limit, shutdown, usage, worker_binary};
pub use protocol::{
    Encoding, Ftype, GenerateRequest, Generation, ModelInfo, PromptInput, Step, WORKER_BINARY,
};

use protocol::{Op, Reply};
use std::path::Path;

/// The `llama-cpp-2` release the worker is built and tested against (pinned in the
/// workspace).
pub const BINDINGS_VERSION: &str = "llama-cpp-2 0.1.160";

/// llama.cpp's own version string, and the CPU features its build uses.
pub fn llama_cpp_version() -> Result<String, LlamaError> {
    pool::worker_version()
}

/// Greedy decoding of `request.prompt` on `request.model`, stopping after
/// `max_new_tokens` tokens or at an end-of-generation token.
pub fn generate(request: &GenerateRequest) -> Result<Generation, LlamaError> {
    let steps = u64::from(request.max_new_tokens) + 1;
    match pool::call(&request.model, steps, Op::Generate(request.clone()))? {
        Reply::Generation(g) => Ok(g),
        other => Err(LlamaError::unexpected("generate", &other)),
    }
}

/// Loads `path` and reports what llama.cpp read from it.
pub fn inspect(path: &Path) -> Result<ModelInfo, LlamaError> {
    let op = Op::Inspect {
        model: path.to_path_buf(),
    };
    match pool::call(path, 1, op)? {
        Reply::Info(info) => Ok(info),
        other => Err(LlamaError::unexpected("inspect", &other)),
    }
}

/// Encodes each of `texts` with the GGUF's own tokenizer, loading its vocabulary only (no
/// weights). A special token's text in the input is that special token, as transformers and
/// `llama-cli` read a prompt.
pub fn tokenize(path: &Path, texts: &[&str]) -> Result<Vec<Encoding>, LlamaError> {
    let op = Op::Tokenize {
        model: path.to_path_buf(),
        texts: texts.iter().map(|t| (*t).to_string()).collect(),
    };
    match pool::call(path, 1, op)? {
        Reply::Encodings(e) => Ok(e),
        other => Err(LlamaError::unexpected("tokenize", &other)),
    }
}

/// The log-probability llama.cpp gives each of `ids[1..]` after the ids before it, in one
/// teacher-forced pass over the whole sequence (no BOS added): the sum of their negatives is
/// the sequence's negative log-likelihood, any prefix's a partial sum.
pub fn score(path: &Path, ids: &[u32]) -> Result<Vec<f64>, LlamaError> {
    let op = Op::Score {
        model: path.to_path_buf(),
        ids: ids.to_vec(),
    };
    // One pass reads every weight once; its arithmetic grows with the sequence.
    let steps = 1 + ids.len() as u64 / 32;
    match pool::call(path, steps, op)? {
        Reply::Scores(s) => Ok(s),
        other => Err(LlamaError::unexpected("score", &other)),
    }
}

/// The values of `tensor` in the GGUF `model` as ggml itself reads and dequantizes them (its
/// own GGUF reader, the type's `to_float`): the reference tmgt's own decoders are held to.
pub fn dequantize(model: &Path, tensor: &str) -> Result<Vec<f32>, LlamaError> {
    let op = Op::Dequantize {
        model: model.to_path_buf(),
        tensor: tensor.to_string(),
    };
    match pool::call(model, 1, op)? {
        Reply::Values(values) => Ok(values),
        other => Err(LlamaError::unexpected("dequantize", &other)),
    }
}

/// Quantizes the GGUF `input` into `output` with llama.cpp's defaults for `ftype` (what
/// `llama-quantize input output Q8_0` does: 1-D tensors stay f32; a tensor whose rows do not
/// fit a type's block size falls back as llama.cpp decides). One thread, so the output is
/// byte-for-byte reproducible.
pub fn quantize(input: &Path, output: &Path, ftype: Ftype) -> Result<(), LlamaError> {
    let op = Op::Quantize {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        ftype,
    };
    // Quantizing reads every weight once and writes it once: about two decoding steps.
    match pool::call(input, 2, op)? {
        Reply::Done => Ok(()),
        other => Err(LlamaError::unexpected("quantize", &other)),
    }
}
