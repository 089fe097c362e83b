//! Oracles: what HuggingFace transformers (float32, greedy) generated for a model and prompt.
//!
//! Two generations of files exist side by side. The reference project's oracles carry only
//! `tokens` and `text`; tmgt's own oracles (`schema_version` 1) add prompt token ids, per-step
//! top-k log-probabilities with the top-1/top-2 margin, a BOS-conditioned trajectory and the
//! hashes of the model files they were made from. Everything beyond the reference's fields is
//! optional here so both load, and callers ask for what they need through methods that fail
//! loudly when it is absent.

mod chat;
mod degenerate;
mod digest;
mod error;
mod grade;
mod long;
mod model;
mod ops;
mod stages;

pub use chat::{
    CHAT_DIR, ChatCase, ChatOracle, Dialogue, Message, RefusedChat, SAMPLING_DIR, chat_cases,
    dialogues, penalty_dir,
};
pub use degenerate::degenerate;
pub use digest::{sha256_file, sha256_hex};
pub use error::OracleError;
pub use grade::{FLOAT_TOLERANCE, FloatDifference, Grade, grade};
pub use long::{
    BoundaryCase, BoundaryOracle, LONG_DIR, NllOracle, load_boundary, load_nll, long_positions,
    long_prefixes,
};
pub use model::{Oracle, PerplexityOracle, Provenance, Step, TopEntry, Trajectory};
pub use ops::{LoraFigures, OpsOracle, PruneFigures, load_ops};
pub use stages::{OracleStage, STAGES_FILE, StageOracle, load_stages, sample_indices};

use std::path::Path;

/// Loads `dir/<prompt>.json`.
pub fn load(dir: &Path, prompt: &str) -> Result<Oracle, OracleError> {
    let path = dir.join(format!("{prompt}.json"));
    let bytes = std::fs::read(&path).map_err(|source| OracleError::Read {
        path: path.clone(),
        source,
    })?;
    let mut oracle: Oracle =
        serde_json::from_slice(&bytes).map_err(|source| OracleError::Parse {
            path: path.clone(),
            source,
        })?;
    oracle.path = path;
    oracle.validate()?;
    Ok(oracle)
}

/// Loads `dir/perplexity.json`, the reference perplexity of the evaluation text.
pub fn load_perplexity(dir: &Path) -> Result<PerplexityOracle, OracleError> {
    let path = dir.join("perplexity.json");
    let bytes = std::fs::read(&path).map_err(|source| OracleError::Read {
        path: path.clone(),
        source,
    })?;
    let mut ppl: PerplexityOracle =
        serde_json::from_slice(&bytes).map_err(|source| OracleError::Parse {
            path: path.clone(),
            source,
        })?;
    ppl.path = path;
    Ok(ppl)
}
