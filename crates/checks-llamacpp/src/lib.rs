//! llama.cpp suites: llama.cpp itself, in-process (`llamacpp-runtime`), as a second runtime.
//!
//! - `llamacpp-text`: llama.cpp on GGUFs made by llama.cpp's own tools (the committed F32
//!   conversion and its Q8_0/Q4_0 quantizations) against the oracle, with the inference
//!   suites' first-divergence and tie-flip classification.
//! - `cross-runtime`: the same GGUF (apr's export, and llama.cpp's native one) through apr and
//!   llama.cpp; tokens must be equal, and the result names the outlier among apr, llama.cpp
//!   and the oracle.
//! - `llamacpp-loads-apr-gguf`: apr's GGUF export loads in llama.cpp, with the right shape
//!   and tokenizer.
//!
//! - `ladder`: each rung of a model's quantization ladder, the quantization's own cost kept
//!   apart from apr's kernel error on top of it, llama.cpp on the same file as second voice.
//!
//! llama.cpp generations are memoized per (file, prompt, length) within a process; apr calls
//! go through the runner's engine as everywhere else.

mod apr;
mod continuation;
mod cross;
mod judge;
mod ladder;
mod llama;
pub mod outlier;

pub use continuation::judge_llamacpp_continuation;

mod cross_apr_gguf;
mod cross_native_gguf;
mod ladder_import;
mod ladder_rung;
mod ladder_unknown_type;
mod loads_apr_gguf;
mod loads_apr_prompt;
mod text_f32;
mod text_logprobs;
mod text_prompt;
mod text_quant;
