//! The drift suite's own pass criteria: `[thresholds.drift]` in suites.toml.

use serde::{Deserialize, Serialize};

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
