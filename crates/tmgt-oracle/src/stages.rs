//! Stage oracles: HF's activations at every stage `apr trace --save-tensor` dumps, for the
//! token ids apr traced (`oracle/<model>/stages.safetensors`, written by
//! `tools/oracle/oracle.py --stage-ids`).
//!
//! Each stage is kept as rows (one per position; one per head and query position for the
//! attention scores; one for the last position's logits) of which at most `row_cap` elements
//! are stored, at indices `j * L / k` ([`sample_indices`]), beside every full row's L2 norm:
//! a real model's stages stay about a megabyte while a tiny model's are mostly whole.

use crate::OracleError;
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file a model's oracle folder keeps its stages in.
pub const STAGES_FILE: &str = "stages.safetensors";
const SCHEMA: &str = "tmgt-stages/1";

/// HF's stages for one traced prompt, in forward order.
#[derive(Clone, Debug)]
pub struct StageOracle {
    pub path: PathBuf,
    /// HF `model_type` (`llama`, `qwen2`, `gpt2`).
    pub architecture: String,
    pub prompt: String,
    /// The ids the stages were computed for (those apr traced when the file was made).
    pub ids: Vec<u32>,
    /// The prompt as the HF tokenizer encodes it, without special tokens.
    pub hf_ids: Vec<u32>,
    pub row_cap: usize,
    pub stages: Vec<OracleStage>,
}

/// One stage: sampled rows and full-row norms.
#[derive(Clone, Debug)]
pub struct OracleStage {
    /// `layer-K/<stage>` (the embedding is `layer-0/embedding`, as apr writes it),
    /// `final_norm` or `lm_head`.
    pub key: String,
    /// The layer (`None` for the model-level stages).
    pub layer: Option<u32>,
    /// apr's stage name (`q_post_rope`).
    pub stage: String,
    /// Elements per full row.
    pub row_len: usize,
    /// `rows × sample_indices(row_len, row_cap).len()` values, row after row.
    pub values: Vec<f32>,
    /// Each full row's L2 norm.
    pub norms: Vec<f32>,
}

impl OracleStage {
    #[must_use]
    pub fn rows(&self) -> usize {
        self.norms.len()
    }
}

/// The elements of a row of `row_len` a stage oracle keeps: `k = min(row_len, cap)` evenly
/// spaced indices `j * row_len / k`.
#[must_use]
pub fn sample_indices(row_len: usize, cap: usize) -> Vec<usize> {
    let keep = row_len.min(cap);
    (0..keep).map(|j| j * row_len / keep).collect()
}

/// Loads `dir/stages.safetensors`; `Ok(None)` when the model has no stage oracle.
///
/// # Errors
/// The file exists but cannot be read, is not a stage oracle, or is inconsistent.
pub fn load_stages(dir: &Path) -> Result<Option<StageOracle>, OracleError> {
    let path = dir.join(STAGES_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|source| OracleError::Read {
        path: path.clone(),
        source,
    })?;
    let bad = |detail: String| OracleError::Inconsistent {
        path: path.clone(),
        detail,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let meta: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    let field = |name: &str| {
        meta.get(name).ok_or_else(|| {
            bad(format!(
                "metadata lacks `{name}` (remake it with oracle.py --stage-ids)"
            ))
        })
    };
    let json = |name: &str| -> Result<serde_json::Value, OracleError> {
        serde_json::from_str(field(name)?).map_err(|e| bad(format!("metadata `{name}`: {e}")))
    };
    if field("schema")? != SCHEMA {
        return Err(bad(format!(
            "schema {:?}, expected {SCHEMA:?}",
            field("schema")?
        )));
    }
    let ids_of = |name: &str| -> Result<Vec<u32>, OracleError> {
        serde_json::from_value(json(name)?).map_err(|e| bad(format!("metadata `{name}`: {e}")))
    };
    let order: Vec<String> = serde_json::from_value(json("stages")?)
        .map_err(|e| bad(format!("metadata `stages`: {e}")))?;
    let row_len: HashMap<String, usize> = serde_json::from_value(json("row_len")?)
        .map_err(|e| bad(format!("metadata `row_len`: {e}")))?;
    let row_cap: usize = field("row_cap")?
        .parse()
        .map_err(|e| bad(format!("metadata `row_cap`: {e}")))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let floats = |name: &str| -> Result<Vec<f32>, OracleError> {
        let view = tensors
            .tensor(name)
            .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, not F32",
                view.dtype()
            )));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let mut stages = Vec::with_capacity(order.len());
    for key in order {
        let len = *row_len
            .get(&key)
            .ok_or_else(|| bad(format!("no row length for stage `{key}`")))?;
        let values = floats(&format!("{key}.values"))?;
        let norms = floats(&format!("{key}.norms"))?;
        if values.len() != norms.len() * sample_indices(len, row_cap).len() {
            return Err(bad(format!(
                "stage `{key}`: {} values for {} rows of {} kept elements",
                values.len(),
                norms.len(),
                sample_indices(len, row_cap).len()
            )));
        }
        let (layer, stage) = split_key(&key).ok_or_else(|| bad(format!("stage key `{key}`")))?;
        stages.push(OracleStage {
            stage: stage.to_string(),
            layer,
            key,
            row_len: len,
            values,
            norms,
        });
    }
    Ok(Some(StageOracle {
        architecture: field("architecture")?.clone(),
        prompt: field("prompt")?.clone(),
        ids: ids_of("ids")?,
        hf_ids: ids_of("hf_ids")?,
        row_cap,
        stages,
        path,
    }))
}

/// `layer-3/attn_norm` → (Some(3), "attn_norm"); `lm_head` → (None, "lm_head").
fn split_key(key: &str) -> Option<(Option<u32>, &str)> {
    match key.split_once('/') {
        Some((layer, stage)) => Some((Some(layer.strip_prefix("layer-")?.parse().ok()?), stage)),
        None => Some((None, key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_every_element_of_a_short_row_and_spreads_a_long_one() {
        assert_eq!(sample_indices(4, 64), vec![0, 1, 2, 3]);
        let long = sample_indices(1000, 4);
        assert_eq!(long, vec![0, 250, 500, 750]);
        assert_eq!(sample_indices(49152, 64).len(), 64);
    }

    #[test]
    fn splits_stage_keys() {
        assert_eq!(
            split_key("layer-12/q_post_rope"),
            Some((Some(12), "q_post_rope"))
        );
        assert_eq!(split_key("lm_head"), Some((None, "lm_head")));
        assert_eq!(split_key("layer-x/attn_norm"), None);
    }
}
