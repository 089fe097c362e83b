//! The structure suites' own pass criteria: `[thresholds.qa]`, `[thresholds.selftest]` and
//! `[thresholds.structure]` (the tensor statistics the hex suite compares) in suites.toml.

use serde::{Deserialize, Serialize};

/// `apr check` must run this many pipeline stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelftestThresholds {
    /// `apr check` pipeline stages that must pass.
    pub min_stages: usize,
}

impl Default for SelftestThresholds {
    fn default() -> Self {
        SelftestThresholds { min_stages: 7 }
    }
}

tmgt_check::declare_thresholds!(SelftestThresholds, suite: "selftest");

/// `apr qa` must run this many gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QaThresholds {
    /// `apr qa` gates that must have executed.
    pub min_gates: usize,
}

impl Default for QaThresholds {
    fn default() -> Self {
        QaThresholds { min_gates: 3 }
    }
}

tmgt_check::declare_thresholds!(QaThresholds, suite: "qa");

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

tmgt_check::declare_thresholds!(StructureThresholds, suite: "structure");
