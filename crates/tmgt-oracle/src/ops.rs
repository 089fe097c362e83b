//! The reference project's figures of model operations (`oracle-ops/<operation>/<slug>.json`):
//! what torch and peft measured when they pruned and LoRA-fine-tuned a model. Each
//! file is a JSON array of runs; tmgt reads the run of the method it compares and only the
//! fields it compares, so the files are used as the reference wrote them.

use crate::OracleError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A peft LoRA run (`finetune/<slug>.json`, method `lora`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoraFigures {
    pub rank: u32,
    pub target_modules: Vec<String>,
    /// Parameters the adapter trains.
    pub trainable_params: u64,
    /// The model's parameters plus the adapter's (peft's count).
    pub total_params: u64,
}

/// A magnitude pruning (`prune/<slug>.json`, method `magnitude`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PruneFigures {
    pub target_sparsity: f64,
    /// The fraction of zeros the pruned model had.
    pub actual_sparsity: f64,
    /// The model's parameters.
    pub total_params: u64,
}

/// The figures the reference measured for one model, each with the file it came from.
#[derive(Debug, Clone)]
pub struct OpsOracle {
    pub lora: (PathBuf, LoraFigures),
    pub prune: (PathBuf, PruneFigures),
}

/// Loads the LoRA and magnitude-pruning runs of `slug` under `dir`. (The other files hold
/// nothing an apr plan states: a merge's tensor count, torch's own int8 format, a folder size.)
pub fn load_ops(dir: &Path, slug: &str) -> Result<OpsOracle, OracleError> {
    Ok(OpsOracle {
        lora: run_of(dir, "finetune", slug, "lora")?,
        prune: run_of(dir, "prune", slug, "magnitude")?,
    })
}

/// The run of `method` in `dir/<operation>/<slug>.json`.
fn run_of<T: DeserializeOwned>(
    dir: &Path,
    operation: &str,
    slug: &str,
    method: &str,
) -> Result<(PathBuf, T), OracleError> {
    let path = dir.join(operation).join(format!("{slug}.json"));
    let bytes = std::fs::read(&path).map_err(|source| OracleError::Read {
        path: path.clone(),
        source,
    })?;
    let runs: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|source| OracleError::Parse {
            path: path.clone(),
            source,
        })?;
    let run = runs
        .into_iter()
        .find(|r| r.get("method").and_then(serde_json::Value::as_str) == Some(method))
        .ok_or_else(|| OracleError::Inconsistent {
            path: path.clone(),
            detail: format!("no run with method `{method}`"),
        })?;
    let figures = serde_json::from_value(run).map_err(|source| OracleError::Parse {
        path: path.clone(),
        source,
    })?;
    Ok((path, figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_committed_smollm_figures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../oracle-ops");
        let ops = load_ops(&dir, "smollm-135m").unwrap();
        assert_eq!((ops.lora.1.rank, ops.lora.1.trainable_params), (8, 460_800));
        assert_eq!(ops.lora.1.target_modules, ["q_proj", "v_proj"]);
        assert_eq!(ops.prune.1.total_params, 134_515_008);
    }

    #[test]
    fn a_missing_method_or_file_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("finetune")).unwrap();
        std::fs::write(
            tmp.path().join("finetune/m.json"),
            r#"[{"method": "qlora"}]"#,
        )
        .unwrap();
        let err = load_ops(tmp.path(), "m").unwrap_err().to_string();
        assert!(
            err.contains("finetune/m.json") && err.contains("`lora`"),
            "{err}"
        );
        let err = load_ops(tmp.path(), "absent").unwrap_err().to_string();
        assert!(err.contains("finetune/absent.json"), "{err}");
    }
}
