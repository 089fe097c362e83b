use crate::{OracleError, sha256_file};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One oracle file: the HF greedy continuation of one prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Oracle {
    pub model: String,
    pub model_slug: String,
    pub prompt: String,
    pub tokens: Vec<u32>,
    pub text: String,
    pub max_new_tokens: usize,
    #[serde(default)]
    pub transformers_version: Option<String>,
    #[serde(default)]
    pub torch_version: Option<String>,
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub prompt_token_ids: Option<Vec<u32>>,
    /// Whether the model's convention is a BOS-prefixed prompt (its tokenizer's own policy, or
    /// its GGUF's `add_bos_token`): then [`Oracle::conventional`] is the BOS trajectory.
    /// Oracles made before it was recorded say nothing, and mean the plain prompt.
    #[serde(default)]
    pub add_bos: Option<bool>,
    /// Where `add_bos` comes from.
    #[serde(default)]
    pub add_bos_from: Option<String>,
    /// The ids greedy decoding stops at; a continuation that ends in one of them stopped
    /// there (before `max_new_tokens`) and records it as its last token.
    #[serde(default)]
    pub eos_token_ids: Option<Vec<u32>>,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub steps: Option<Vec<Step>>,
    #[serde(default)]
    pub bos: Option<BosTrajectory>,
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// Why a long-context prompt has its length (`long/position-N.json`): a fixed length, or
    /// an edge the model's config declares (its sliding window, its scaling's original context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_reason: Option<String>,
    /// Where it was loaded from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The trajectory conditioned on a BOS-prefixed prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BosTrajectory {
    pub bos_token_id: u32,
    pub prompt_token_ids: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    pub steps: Vec<Step>,
}

/// One generated position: the chosen token, its log-probability, the top-1 minus top-2
/// logit margin, and the top-k alternatives best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub token_id: u32,
    pub logprob: f64,
    pub margin: f64,
    pub top: Vec<TopEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    pub token_id: u32,
    pub logprob: f64,
}

/// A prompt trajectory in one shape whether it came from the plain or the BOS oracle.
#[derive(Debug, Clone, Copy)]
pub struct Trajectory<'a> {
    /// `None` for the plain prompt, the BOS id for the BOS-prefixed one.
    pub bos: Option<u32>,
    pub prompt_token_ids: &'a [u32],
    pub tokens: &'a [u32],
    pub text: &'a str,
    pub steps: &'a [Step],
    /// The ids decoding stops at (empty when the oracle does not say).
    pub eos: &'a [u32],
}

/// How and from what an oracle was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default)]
    pub generator: Option<String>,
    #[serde(default)]
    pub generator_sha256: Option<String>,
    #[serde(default)]
    pub torch_threads: Option<u32>,
    /// File name (relative to the model folder) to sha256.
    #[serde(default)]
    pub model_files: BTreeMap<String, String>,
    /// The GGUF the model folder was dequantized from, when the oracle ran a GGUF's weights:
    /// the key that ties the oracle to that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_gguf_sha256: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The reference perplexity of the committed evaluation text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerplexityOracle {
    pub model_slug: String,
    pub text_file: String,
    pub text_sha256: String,
    pub token_count: usize,
    /// The ids HF scored (tmgt's own oracles; the reference's have only the count).
    #[serde(default)]
    pub token_ids: Option<Vec<u32>>,
    pub perplexity: f64,
    pub cross_entropy: f64,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub provenance: Option<Provenance>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Oracle {
    pub(crate) fn validate(&self) -> Result<(), OracleError> {
        let inconsistent = |detail: String| OracleError::Inconsistent {
            path: self.path.clone(),
            detail,
        };
        if let Some(steps) = &self.steps {
            if steps.len() != self.tokens.len() {
                return Err(inconsistent(format!(
                    "{} steps for {} tokens",
                    steps.len(),
                    self.tokens.len()
                )));
            }
            if let Some(i) = steps
                .iter()
                .zip(&self.tokens)
                .position(|(s, t)| s.token_id != *t)
            {
                return Err(inconsistent(format!(
                    "step {i} records token {} but tokens[{i}] is {}",
                    steps[i].token_id, self.tokens[i]
                )));
            }
        }
        if let Some(bos) = &self.bos {
            if bos.steps.len() != bos.tokens.len() {
                return Err(inconsistent(format!(
                    "BOS trajectory has {} steps for {} tokens",
                    bos.steps.len(),
                    bos.tokens.len()
                )));
            }
            if bos.prompt_token_ids.first() != Some(&bos.bos_token_id) {
                return Err(inconsistent(
                    "BOS trajectory's prompt does not start with its BOS id".into(),
                ));
            }
        }
        Ok(())
    }

    /// The trajectory for the plain prompt; needs a tmgt oracle (prompt ids and steps).
    pub fn plain(&self) -> Result<Trajectory<'_>, OracleError> {
        let missing = |field| OracleError::Missing {
            path: self.path.clone(),
            field,
        };
        Ok(Trajectory {
            bos: None,
            prompt_token_ids: self
                .prompt_token_ids
                .as_deref()
                .ok_or_else(|| missing("prompt_token_ids"))?,
            tokens: &self.tokens,
            text: &self.text,
            steps: self.steps.as_deref().ok_or_else(|| missing("steps"))?,
            eos: self.eos_token_ids.as_deref().unwrap_or_default(),
        })
    }

    /// The trajectory conditioned on the BOS-prefixed prompt.
    pub fn with_bos(&self) -> Result<Trajectory<'_>, OracleError> {
        let bos = self.bos.as_ref().ok_or_else(|| OracleError::Missing {
            path: self.path.clone(),
            field: "bos",
        })?;
        Ok(Trajectory {
            bos: Some(bos.bos_token_id),
            prompt_token_ids: &bos.prompt_token_ids,
            tokens: &bos.tokens,
            text: &bos.text,
            steps: &bos.steps,
            eos: self.eos_token_ids.as_deref().unwrap_or_default(),
        })
    }

    /// The trajectory of the model's own convention: BOS-prefixed where `add_bos` says so,
    /// else the plain prompt.
    pub fn conventional(&self) -> Result<Trajectory<'_>, OracleError> {
        if self.add_bos == Some(true) {
            self.with_bos()
        } else {
            self.plain()
        }
    }

    /// The tokens of [`Oracle::conventional`]; a reference oracle (tokens only) has just its
    /// plain continuation.
    #[must_use]
    pub fn conventional_tokens(&self) -> &[u32] {
        self.conventional().map_or(&self.tokens, |t| t.tokens)
    }

    /// The trajectories the oracle has: the plain prompt's, then the BOS-prefixed one's.
    pub fn trajectories(&self) -> Vec<Trajectory<'_>> {
        [self.plain().ok(), self.with_bos().ok()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The trajectory whose prompt ids equal `prompt_ids`, if the oracle has one.
    pub fn trajectory_for_prompt(&self, prompt_ids: &[u32]) -> Option<Trajectory<'_>> {
        self.trajectories()
            .into_iter()
            .find(|t| t.prompt_token_ids == prompt_ids)
    }

    /// The trajectory whose prompt has `count` ids starting with `head`: for a runtime that
    /// tells only the count and the first ids it fed (`apr chat --trace`, a server's usage).
    pub fn trajectory_led_by(&self, count: usize, head: &[u32]) -> Option<Trajectory<'_>> {
        self.trajectories()
            .into_iter()
            .find(|t| t.prompt_token_ids.len() == count && t.prompt_token_ids.starts_with(head))
    }

    /// The trajectory whose continuation reads `text` (both trimmed): for a runtime that tells
    /// only the text it generated.
    pub fn trajectory_saying(&self, text: &str) -> Option<Trajectory<'_>> {
        self.trajectories()
            .into_iter()
            .find(|t| t.text.trim() == text.trim())
    }

    /// Refuses the oracle when the model files it records differ from those in `model_dir`.
    /// Oracles without provenance (the reference's) cannot be checked and pass through.
    pub fn verify_model(&self, model_dir: &Path) -> Result<(), OracleError> {
        let Some(provenance) = &self.provenance else {
            return Ok(());
        };
        verify_files(&self.path, &provenance.model_files, model_dir)
    }
}

impl Oracle {
    /// Refuses the oracle unless it records that it ran the weights of the GGUF whose sha256
    /// is `file_sha` (`file` at the entry `model`).
    pub fn verify_gguf(&self, file: &Path, file_sha: &str, model: &str) -> Result<(), OracleError> {
        verify_gguf(&self.path, self.provenance.as_ref(), file, file_sha, model)
    }
}

impl PerplexityOracle {
    /// Same refusal as [`Oracle::verify_gguf`].
    pub fn verify_gguf(&self, file: &Path, file_sha: &str, model: &str) -> Result<(), OracleError> {
        verify_gguf(&self.path, self.provenance.as_ref(), file, file_sha, model)
    }

    /// Same refusal as [`Oracle::verify_model`].
    pub fn verify_model(&self, model_dir: &Path) -> Result<(), OracleError> {
        let Some(provenance) = &self.provenance else {
            return Ok(());
        };
        verify_files(&self.path, &provenance.model_files, model_dir)
    }
}

fn verify_gguf(
    oracle: &Path,
    provenance: Option<&Provenance>,
    file: &Path,
    file_sha: &str,
    model: &str,
) -> Result<(), OracleError> {
    match provenance.and_then(|p| p.source_gguf_sha256.as_deref()) {
        Some(expected) if expected == file_sha => Ok(()),
        Some(expected) => Err(OracleError::FileMismatch {
            oracle: oracle.to_path_buf(),
            file: file.to_path_buf(),
            model: model.to_string(),
            expected: expected.into(),
            actual: file_sha.into(),
        }),
        None => Err(OracleError::Unkeyed {
            oracle: oracle.to_path_buf(),
            file: file.to_path_buf(),
            model: model.to_string(),
        }),
    }
}

pub(crate) fn verify_files(
    oracle: &Path,
    files: &BTreeMap<String, String>,
    model_dir: &Path,
) -> Result<(), OracleError> {
    for (file, expected) in files {
        let path = model_dir.join(file);
        let actual = sha256_file(&path).map_err(|source| OracleError::Hash {
            path: path.clone(),
            source,
        })?;
        if &actual != expected {
            return Err(OracleError::ModelMismatch {
                oracle: oracle.to_path_buf(),
                model: path,
                file: file.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

impl Trajectory<'_> {
    /// The oracle's top-1 minus top-2 logit margin at `step`, if recorded.
    pub fn margin(&self, step: usize) -> Option<f64> {
        self.steps.get(step).map(|s| s.margin)
    }

    /// The end-of-sequence id the oracle stopped at, if it stopped before `max_new_tokens`.
    pub fn stopped_at(&self) -> Option<u32> {
        self.tokens.last().copied().filter(|t| self.eos.contains(t))
    }
}
