//! The long-context oracles (`<oracle>/long/`, made by `tools/oracle/long.py`): continuations
//! of long prefixes of one text and a long-range copy prompt (prompt oracles, read with
//! [`crate::load`]), the text's per-token negative log-likelihood, and prompts of exactly the
//! lengths around the model's context.

use crate::OracleError;
use crate::model::{Provenance, verify_files};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The folder of a model's oracles that holds its long-context oracles.
pub const LONG_DIR: &str = "long";

/// HF's -log p(t_i | t_<i) for every token of the text after the first, no BOS: any prefix's
/// perplexity is a sum of these, and a departure can be placed by position.
#[derive(Debug, Clone, Deserialize)]
pub struct NllOracle {
    pub text_file: String,
    pub text: String,
    pub token_ids: Vec<u32>,
    /// `nll[i]` scores `token_ids[i + 1]`.
    pub nll: Vec<f64>,
    pub provenance: Option<Provenance>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl NllOracle {
    /// The mean negative log-likelihood of the first `tokens` tokens' predictions (`tokens - 1`
    /// of them), as `apr eval --max-tokens tokens` reports it; `None` past the scored ids.
    pub fn cross_entropy(&self, tokens: usize) -> Option<f64> {
        (2..=self.token_ids.len())
            .contains(&tokens)
            .then(|| self.nll[..tokens - 1].iter().sum::<f64>() / (tokens - 1) as f64)
    }

    /// Refuses the oracle when the model files it records differ from those in `model_dir`.
    pub fn verify_model(&self, model_dir: &Path) -> Result<(), OracleError> {
        verify_recorded(&self.path, self.provenance.as_ref(), model_dir)
    }
}

/// Prompts of exactly C-33, C-2, C-1, C and C+1 tokens for a model whose context is C.
#[derive(Debug, Clone, Deserialize)]
pub struct BoundaryOracle {
    pub context: usize,
    pub cases: Vec<BoundaryCase>,
    pub provenance: Option<Provenance>,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BoundaryCase {
    pub tokens: usize,
    pub prompt: String,
    pub prompt_token_ids: Vec<u32>,
}

impl BoundaryOracle {
    /// Refuses the oracle when the model files it records differ from those in `model_dir`.
    pub fn verify_model(&self, model_dir: &Path) -> Result<(), OracleError> {
        verify_recorded(&self.path, self.provenance.as_ref(), model_dir)
    }
}

fn verify_recorded(
    oracle: &Path,
    provenance: Option<&Provenance>,
    model_dir: &Path,
) -> Result<(), OracleError> {
    match provenance {
        Some(p) => verify_files(oracle, &p.model_files, model_dir),
        None => Ok(()),
    }
}

/// Loads `<dir>/long/nll.json`.
pub fn load_nll(dir: &Path) -> Result<NllOracle, OracleError> {
    let mut oracle: NllOracle = read_json(&dir.join(LONG_DIR).join("nll.json"))?;
    oracle.path = dir.join(LONG_DIR).join("nll.json");
    if oracle.nll.len() + 1 != oracle.token_ids.len() {
        return Err(OracleError::Inconsistent {
            path: oracle.path.clone(),
            detail: format!(
                "{} log-likelihoods for {} ids; one per id after the first",
                oracle.nll.len(),
                oracle.token_ids.len()
            ),
        });
    }
    Ok(oracle)
}

/// Loads `<dir>/long/boundary.json`; `Ok(None)` when the text is shorter than the context
/// (the generator then writes none).
pub fn load_boundary(dir: &Path) -> Result<Option<BoundaryOracle>, OracleError> {
    let path = dir.join(LONG_DIR).join("boundary.json");
    if !path.is_file() {
        return Ok(None);
    }
    let mut oracle: BoundaryOracle = read_json(&path)?;
    oracle.path = path;
    Ok(Some(oracle))
}

/// The prefix lengths whose continuations `<dir>/long/` holds (`prefix-<N>.json`), ascending.
pub fn long_prefixes(dir: &Path) -> Vec<u32> {
    numbered(dir, "prefix-")
}

/// The prompt lengths of a model's position oracles (`<dir>/long/position-N.json`),
/// ascending.
pub fn long_positions(dir: &Path) -> Vec<u32> {
    numbered(dir, "position-")
}

fn numbered(dir: &Path, stem: &str) -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir(dir.join(LONG_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(stem)?.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    found.sort_unstable();
    found
}

/// A JSON file of the oracle folder, parsed.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, OracleError> {
    let bytes = std::fs::read(path).map_err(|source| OracleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| OracleError::Parse {
        path: path.to_path_buf(),
        source,
    })
}
