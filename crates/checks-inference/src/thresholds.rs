//! The pass criteria of the token, runtime, logprobs and ppl suites (and the llama.cpp suites
//! that judge by the same numbers): `[thresholds.token]`, `[thresholds.tie]`,
//! `[thresholds.runtime]`, `[thresholds.logprobs]` and `[thresholds.perplexity]`. Defaults are
//! the reference project's numbers where it had one; the others are stated beside each field.

use serde::{Deserialize, Serialize};
use tmgt_check::Quant;

/// Most token mismatches against the oracle, out of `max_new_tokens`, per quantization level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenThresholds {
    pub f32: usize,
    pub fp16: usize,
    pub int8: usize,
    pub int4: usize,
    pub q4k: usize,
}

impl Default for TokenThresholds {
    fn default() -> Self {
        TokenThresholds {
            f32: 0,
            fp16: 0,
            int8: 3,
            int4: 5,
            q4k: 5,
        }
    }
}

impl TokenThresholds {
    pub fn for_quant(&self, quant: Quant) -> usize {
        match quant {
            Quant::F32 => self.f32,
            Quant::Fp16 => self.fp16,
            Quant::Int8 => self.int8,
            Quant::Int4 => self.int4,
            Quant::Q4k => self.q4k,
        }
    }
}

/// A divergence at a step whose oracle top-1/top-2 logit margin is below `margin` is a
/// `tie-flip`, not a `divergence`. 0.5 logits: 2.9% of the bundled oracles' steps fall below
/// it, while run-to-run float noise is about 1e-5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TieThresholds {
    pub margin: f64,
}

impl Default for TieThresholds {
    fn default() -> Self {
        TieThresholds { margin: 0.5 }
    }
}

/// Unquantized runtimes must reproduce the oracle's tokens; their log-probabilities may
/// differ from the oracle's by at most `max_logprob_diff` (float32 accumulation-order noise),
/// and only a step the oracle itself ties within `tie_margin` logits may flip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeThresholds {
    pub max_logprob_diff: f64,
    pub tie_margin: f64,
}

impl Default for RuntimeThresholds {
    fn default() -> Self {
        RuntimeThresholds {
            max_logprob_diff: 1e-3,
            tie_margin: 1e-2,
        }
    }
}

/// Log-probability agreement of a GGUF run with the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogprobThresholds {
    /// Mean per-step KL divergence (oracle || apr) over the shared top-k, renormalised.
    pub max_mean_kl: f64,
    /// Share of steps where apr's top-1 equals the oracle's.
    pub min_same_top1: f64,
    /// Largest absolute difference of a shared top-k token's log-probability.
    pub max_abs_logprob_diff: f64,
}

impl Default for LogprobThresholds {
    fn default() -> Self {
        LogprobThresholds {
            max_mean_kl: 1e-3,
            min_same_top1: 1.0,
            max_abs_logprob_diff: 1e-2,
        }
    }
}

/// Perplexity of the evaluation text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerplexityThresholds {
    /// abs(PPL int4 - PPL int8) must stay below this.
    pub drift: f64,
    /// apr's f32 perplexity over the oracle's must stay within [1/max_ratio, max_ratio].
    pub max_ratio: f64,
}

impl Default for PerplexityThresholds {
    fn default() -> Self {
        PerplexityThresholds {
            drift: 0.5,
            max_ratio: 1.01,
        }
    }
}

tmgt_check::declare_thresholds!(TokenThresholds, suite: "token");
tmgt_check::declare_thresholds!(TieThresholds, suite: "tie");
tmgt_check::declare_thresholds!(RuntimeThresholds, suite: "runtime");
tmgt_check::declare_thresholds!(LogprobThresholds, suite: "logprobs");
tmgt_check::declare_thresholds!(PerplexityThresholds, suite: "perplexity");

/// Int8 may have at most `slack` more mismatches than Int4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftThresholds {
    pub slack: usize,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        DriftThresholds { slack: 1 }
    }
}

tmgt_check::declare_thresholds!(DriftThresholds, suite: "drift");
