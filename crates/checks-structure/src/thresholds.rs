//! The qa and selftest suites' own pass criteria: `[thresholds.qa]` and `[thresholds.selftest]`
//! in suites.toml.

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
