//! Suite `sampling`: `apr run`'s sampler, which every other suite bypasses with greedy
//! decoding. Exact checks first: at its limits (top-k 1, a top-p that keeps one token, a
//! temperature near 0) it must decode greedily; a seed must reproduce its draw and another seed
//! must not; every token drawn must lie in the top-k and the nucleus HF's warpers give apr's own
//! reported logits; and its repetition penalty must give HF's penalized greedy continuation
//! (`<oracle>/sampling/penalty-<P>/`, made by `tmgt oracle`). All run on llama.cpp's own F32
//! GGUF, whose tokenizer apr reads right, so a departure is the sampler's. apr's two other
//! sampling surfaces, `apr chat` and `apr run --batch-jsonl`, are held to the same limits and
//! seeds on the conversations of the model's first chat template.

mod batch_seeds;
mod calibration;
mod degenerate;
mod draw;
mod penalty;
mod seeds;
mod support;
mod surface_limits;
mod surfaces;
mod warp;

use serde::{Deserialize, Serialize};

/// `[thresholds.sampling]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingThresholds {
    /// Tokens each of the calibration check's 16 draws runs (4 settings x 4 seeds): the
    /// sample is 16 times this. A real model draws a few tokens a second, so its profile
    /// lowers it and the check states the smaller sample.
    pub calibration_tokens: u32,
}

impl Default for SamplingThresholds {
    fn default() -> Self {
        SamplingThresholds {
            calibration_tokens: 256,
        }
    }
}

tmgt_check::declare_thresholds!(SamplingThresholds, suite: "sampling");
