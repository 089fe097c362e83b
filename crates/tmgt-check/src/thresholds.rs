//! Pass criteria, read from `[thresholds]` in suites.toml. Defaults are the reference
//! project's numbers where it had one; the others are stated beside each field.

use crate::{CheckError, Quant};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Thresholds {
    pub token: TokenThresholds,
    pub tie: TieThresholds,
    pub runtime: RuntimeThresholds,
    pub logprobs: LogprobThresholds,
    pub perplexity: PerplexityThresholds,
    pub structure: StructureThresholds,
    /// The tables of suites that declare their own pass criteria ([`crate::declare_thresholds!`]),
    /// by suite name, each checked against its type and filled with its defaults when the
    /// configuration loads. A suite reads its table with [`Thresholds::suite`].
    #[serde(flatten)]
    pub suites: BTreeMap<String, serde_json::Value>,
}

impl Thresholds {
    /// The `[thresholds.<suite>]` table of a suite that declared it, as its type. The
    /// configuration loader has already filled in its defaults or refused the file.
    pub fn suite<T: DeserializeOwned>(&self, suite: &str) -> Result<T, CheckError> {
        let input = |reason: String| CheckError::Input {
            what: format!("[thresholds.{suite}]"),
            reason,
        };
        let table = self.suites.get(suite).ok_or_else(|| {
            input("not in the configuration (was the suite's crate linked when it loaded?)".into())
        })?;
        serde_json::from_value(table.clone()).map_err(|e| input(e.to_string()))
    }
}

/// A suite's own `[thresholds.<suite>]` table, registered by [`crate::declare_thresholds!`].
#[derive(Debug, Clone, Copy)]
pub struct SuiteThresholds {
    pub suite: &'static str,
    /// Reads a table as the suite's type and writes it back with every default filled in;
    /// `Err` names the first key that is unknown or of the wrong type.
    pub normalize: fn(serde_json::Value) -> Result<serde_json::Value, TableError>,
}

inventory::collect!(SuiteThresholds);

impl SuiteThresholds {
    /// Every registered table.
    pub fn all() -> impl Iterator<Item = &'static SuiteThresholds> {
        inventory::iter::<SuiteThresholds>.into_iter()
    }
}

/// Why a suite's thresholds table does not read as its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key of the wrong type or a required key left out; `key` is where, when known.
    #[error("{message}")]
    Invalid {
        key: Option<String>,
        message: String,
    },
}

/// [`SuiteThresholds::normalize`] for a type: unknown keys are errors, absent ones defaults.
pub fn normalize_as<T: DeserializeOwned + Serialize>(
    table: serde_json::Value,
) -> Result<serde_json::Value, TableError> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(table, &mut note);
    let typed: T = serde_path_to_error::deserialize(ignoring).map_err(|e| {
        let key = e.path().to_string();
        TableError::Invalid {
            key: (key != ".").then_some(key),
            message: e.into_inner().to_string(),
        }
    })?;
    if let Some(key) = unknown.into_iter().next() {
        return Err(TableError::UnknownKey(key));
    }
    serde_json::to_value(typed).map_err(|e| TableError::Invalid {
        key: None,
        message: e.to_string(),
    })
}

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

/// Tensor statistics apr reports, against tmgt's own reading of the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StructureThresholds {
    /// Relative tolerance for min/max/mean/std of an f32 tensor.
    pub f32_stat_tolerance: f64,
    /// Tolerance, in units of the tensor's std, for a quantized tensor's statistics.
    pub quant_stat_tolerance: f64,
}

impl Default for StructureThresholds {
    fn default() -> Self {
        StructureThresholds {
            f32_stat_tolerance: 1e-4,
            quant_stat_tolerance: 0.1,
        }
    }
}
