//! Inference suites: apr's generated tokens, log-probabilities and perplexity against the
//! HuggingFace float32 oracles, with every divergence located and classified.

pub mod compare;
mod generation;
mod thresholds;

pub use generation::{APR_TOP_K, Generation, generate_for, run_generation};
pub use runtime_apr::judge_f32_apr;
pub use runtime_gguf::judge_gguf_run;
pub use thresholds::{
    DriftThresholds, LogprobThresholds, PerplexityThresholds, RuntimeThresholds, TieThresholds,
    TokenThresholds,
};

mod canary;
mod drift;
mod logprobs;
mod ppl_ceiling;
mod ppl_drift;
mod ppl_oracle;
mod prompt_bos;
mod prompt_tokens;
mod roundtrip;
mod runtime_apr;
mod runtime_gguf;
mod token;
