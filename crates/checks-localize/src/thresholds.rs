//! The localize suite's own pass criteria: `[thresholds.localize]` in suites.toml.

use serde::{Deserialize, Serialize};

/// When a stage of apr's traced forward pass departs from HF's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalizeThresholds {
    /// Largest relative L2 error (and relative error of a row's norm) that is float noise:
    /// summation order alone. The faithful tiny Qwen2 f32 `.apr` stays below 1e-5 at every
    /// stage; a wrong RoPE or norm is above 1e-1.
    pub rel_l2: f64,
    /// Trace models whose f32 `.apr` reproduces every oracle too (by default only a model
    /// whose tokens diverge is traced).
    pub trace_passing: bool,
}

impl Default for LocalizeThresholds {
    fn default() -> Self {
        LocalizeThresholds {
            rel_l2: 1e-3,
            trace_passing: false,
        }
    }
}

tmgt_check::declare_thresholds!(LocalizeThresholds, suite: "localize");
