use crate::{CheckError, ModelUnderTest, Prompt, Quant, Thresholds};
use apr_client::{Captured, Invocation, VersionInfo};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use tmgt_oracle::{Oracle, PerplexityOracle};

/// A file the runner prepares from a model before checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ArtifactKind {
    /// `apr import` of the source at a quantization level.
    Apr(Quant),
    /// `apr export --format gguf` of the f32 `.apr`.
    Gguf,
    /// `apr import` of that GGUF back to `.apr`: the round trip.
    RoundTrip,
    /// A GGUF made by llama.cpp's own tools, not by apr: the committed F32 conversion of the
    /// source by `convert_hf_to_gguf.py`, or llama.cpp's quantization of it.
    Native(NativeGguf),
}

/// The levels of llama.cpp's own GGUF of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum NativeGguf {
    /// `convert_hf_to_gguf.py --outtype f32`, committed under `native/<model>/`.
    F32,
    /// `llama_model_quantize` of the F32 file to Q8_0.
    Q8_0,
    /// `llama_model_quantize` of the F32 file to Q4_0.
    Q4_0,
}

impl NativeGguf {
    pub const ALL: [NativeGguf; 3] = [NativeGguf::F32, NativeGguf::Q8_0, NativeGguf::Q4_0];

    pub fn as_str(self) -> &'static str {
        match self {
            NativeGguf::F32 => "f32",
            NativeGguf::Q8_0 => "q8_0",
            NativeGguf::Q4_0 => "q4_0",
        }
    }
}

impl std::fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactKind::Apr(q) => write!(f, "apr-{q}"),
            ArtifactKind::Gguf => f.write_str("gguf-f32"),
            ArtifactKind::RoundTrip => f.write_str("apr-roundtrip"),
            ArtifactKind::Native(level) => write!(f, "native-{}", level.as_str()),
        }
    }
}

/// What a check instance can reach. The runner implements it; calls to apr go through it so
/// identical calls run once per run and every result records the calls it used.
pub trait Context: Sync {
    /// Every model of the run (global checks iterate them).
    fn models(&self) -> &[ModelUnderTest];
    /// The instance's model.
    fn model(&self) -> Result<&ModelUnderTest, CheckError>;
    /// The instance's quantization level.
    fn quant(&self) -> Result<Quant, CheckError>;
    /// The instance's prompt.
    fn prompt(&self) -> Result<&Prompt, CheckError>;
    /// Every prompt of the run.
    fn prompts(&self) -> &[Prompt];
    fn thresholds(&self) -> &Thresholds;
    /// Tokens generated per prompt (the oracles' `max_new_tokens`).
    fn max_new_tokens(&self) -> u32;
    /// What `apr --version --json` said.
    fn apr_version(&self) -> &VersionInfo;
    /// The path of a prepared artifact of the instance's model.
    fn artifact(&self, kind: ArtifactKind) -> Result<PathBuf, CheckError>;
    /// The oracle of the instance's model and prompt, verified against the model's files.
    fn oracle(&self) -> Result<Arc<Oracle>, CheckError>;
    /// The oracle of the instance's model for the run's prompt number `index`, for checks of
    /// a model that judge every prompt.
    fn prompt_oracle(&self, index: usize) -> Result<Arc<Oracle>, CheckError>;
    /// The reference perplexity of the evaluation text for the instance's model.
    fn perplexity_oracle(&self) -> Result<Arc<PerplexityOracle>, CheckError>;
    /// The evaluation text whose perplexity the oracle records.
    fn eval_text(&self) -> Result<Arc<str>, CheckError>;
    /// Runs (or reuses) one apr call. `Err` only when apr could not be started.
    fn apr(&self, invocation: &Invocation) -> Result<Arc<Captured>, CheckError>;
    /// A fresh folder owned by this instance, for files it makes (corrupted copies). The
    /// runner removes it when the instance ends.
    fn scratch_dir(&self) -> Result<PathBuf, CheckError>;
    /// Whether scratch files stay after they are used (`--keep-scratch`): a check that makes
    /// several large files in turn deletes each once used unless this says keep.
    fn keep_scratch(&self) -> bool;
}

/// Checks that compare a model's Int8 and Int4 artifacts apply only to models configured with
/// both levels; for the others the instance is outside the entry (no result).
pub fn require_int8_and_int4(cx: &dyn Context) -> Result<(), CheckError> {
    for level in [Quant::Int8, Quant::Int4] {
        require_level(cx, level)?;
    }
    Ok(())
}

/// A check that compares with the model's artifact at `level` applies only to models
/// configured with it.
pub fn require_level(cx: &dyn Context, level: Quant) -> Result<(), CheckError> {
    let model = cx.model()?;
    if model.quants.contains(&level) {
        Ok(())
    } else {
        Err(CheckError::OutsideEntry(format!(
            "{} lists no {level} level in its entry",
            model.name
        )))
    }
}
