//! Where a runtime's forward pass departs from HF's, stage by stage (the localize suite).

use serde::{Deserialize, Serialize};

/// The traced stages of one forward pass, each held against HF's activations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Localization {
    /// The prompt traced.
    pub prompt: String,
    /// The ids traced.
    pub ids: Vec<u32>,
    /// The prompt as the HF tokenizer encodes it, without special tokens.
    pub hf_ids: Vec<u32>,
    /// The error beyond which a stage departs.
    pub tolerance: f64,
    /// The first stage beyond the tolerance, if any.
    pub first_departure: Option<String>,
    /// The prompts whose tokens diverged, which made the trace worth running.
    pub diverged_prompts: Vec<String>,
    /// Stages the oracle has and the trace does not.
    pub missing: Vec<String>,
    pub stages: Vec<StageRow>,
}

/// One stage's distance from HF. The errors are absent (null) where they are not finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// `layer-K/<stage>`, `final_norm` or `lm_head`.
    pub key: String,
    pub layer: Option<u32>,
    pub stage: String,
    pub rel_l2: Option<f64>,
    pub max_abs: Option<f64>,
    pub cosine: Option<f64>,
    pub norm_rel: Option<f64>,
    /// The error that decided the stage's verdict.
    pub worst: Option<f64>,
    pub elements: usize,
    pub non_finite: bool,
    pub departs: bool,
    /// The rotary pairing apr's columns were read in (`halves`, `interleaved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_order: Option<String>,
    /// apr wrote another number of values than HF has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apr_values: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_values: Option<usize>,
}
