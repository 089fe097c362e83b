use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A quantization level tmgt asks apr to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quant {
    F32,
    Fp16,
    Int8,
    Int4,
    Q4k,
}

impl Quant {
    pub const ALL: [Quant; 5] = [
        Quant::F32,
        Quant::Fp16,
        Quant::Int8,
        Quant::Int4,
        Quant::Q4k,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Quant::F32 => "f32",
            Quant::Fp16 => "fp16",
            Quant::Int8 => "int8",
            Quant::Int4 => "int4",
            Quant::Q4k => "q4k",
        }
    }

    /// The `apr import --quantize` value; `None` keeps f32.
    pub fn apr_quantize(self) -> Option<apr_client::Quantize> {
        match self {
            Quant::F32 => None,
            Quant::Fp16 => Some(apr_client::Quantize::Fp16),
            Quant::Int8 => Some(apr_client::Quantize::Int8),
            Quant::Int4 => Some(apr_client::Quantize::Int4),
            Quant::Q4k => Some(apr_client::Quantize::Q4k),
        }
    }
}

impl std::fmt::Display for Quant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Quant {
    type Err = String;
    fn from_str(s: &str) -> Result<Quant, String> {
        Quant::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| {
                format!("unknown quantization level `{s}` (expected f32, fp16, int8, int4 or q4k)")
            })
    }
}

/// A prompt: its name (the oracle file stem) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    pub name: String,
    pub text: String,
}

/// Architecture facts of a model, as its HF config.json states them. Structure checks hold
/// apr's reading of an artifact against these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// apr's architecture name: `llama`, `qwen2`, `gpt2`.
    pub architecture: String,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub hidden: usize,
    pub vocab: usize,
    /// Whether the output projection shares the embedding matrix.
    pub tied_embeddings: bool,
}

/// Why an HF `config.json` gives no model facts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigJsonError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// `keys` are the names the value may go by, joined with `` ` or ` ``.
    #[error("{} has no integer `{keys}`", path.display())]
    NoInteger { path: PathBuf, keys: String },
    #[error("{} has no `model_type`", path.display())]
    NoModelType { path: PathBuf },
}

impl ModelFacts {
    /// Reads the facts from an HF `config.json`, naming the missing key when one is absent.
    pub fn from_hf_config(path: &Path) -> Result<ModelFacts, ConfigJsonError> {
        let at = || path.to_path_buf();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigJsonError::Read { path: at(), source })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|source| ConfigJsonError::NotJson { path: at(), source })?;
        let get = |keys: &[&str]| -> Result<usize, ConfigJsonError> {
            keys.iter()
                .find_map(|k| json.get(*k).and_then(serde_json::Value::as_u64))
                .map(|v| v as usize)
                .ok_or_else(|| ConfigJsonError::NoInteger {
                    path: at(),
                    keys: keys.join("` or `"),
                })
        };
        let model_type = json
            .get("model_type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ConfigJsonError::NoModelType { path: at() })?;
        let heads = get(&["num_attention_heads", "n_head"])?;
        Ok(ModelFacts {
            architecture: model_type.to_string(),
            layers: get(&["num_hidden_layers", "n_layer"])?,
            heads,
            kv_heads: get(&["num_key_value_heads"]).unwrap_or(heads),
            hidden: get(&["hidden_size", "n_embd"])?,
            vocab: get(&["vocab_size"])?,
            tied_embeddings: json
                .get("tie_word_embeddings")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(model_type == "gpt2"),
        })
    }
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelSource {
    /// An HF-layout folder on disk (config.json, model.safetensors, tokenizer.json).
    Local { dir: PathBuf },
    /// A hub id apr downloads itself (`hf://org/name`).
    Hub { id: String },
}

/// A model of the run, with everything checks need to judge apr's handling of it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelUnderTest {
    pub name: String,
    pub source: ModelSource,
    pub facts: ModelFacts,
    pub oracle_dir: PathBuf,
    pub quants: Vec<Quant>,
    /// The reference's perplexity ceiling for this model.
    pub ppl_ceiling: f64,
    /// A ready-made file (made by any converter) to check in place of tmgt's own artifact of
    /// the same format; the model's source still provides the oracle and the structure.
    pub provided: Option<PathBuf>,
    /// The reference's measured figures of operations on this model, where it has them.
    pub ops_oracle: Option<OpsOracleRef>,
    /// Set when this entry is one rung of another model's quantization ladder: `provided` is
    /// llama.cpp's quantization of that model's F32 GGUF, and `oracle_dir` holds oracles made
    /// from that very file.
    pub rung: Option<Rung>,
    /// The chat templates its chat oracles render conversations with (`chat_templates`), each
    /// judged on a copy of llama.cpp's GGUF that carries it.
    pub chat_templates: Vec<ChatTemplate>,
    /// The repetition penalties its sampling oracles continue the prompts with (`penalties`).
    pub penalties: Vec<f64>,
}

/// A chat template by name, and the committed file that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatTemplate {
    pub name: String,
    pub file: PathBuf,
}

/// One rung of a model's quantization ladder. Its oracles ran the rung's own weights
/// (dequantized to float32), so a runtime's error on it is its kernels' alone; the base
/// model's float32 oracles measure what the quantization itself costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rung {
    /// The entry whose F32 GGUF llama.cpp quantized.
    pub base: String,
    pub ftype: llamacpp_runtime::Ftype,
    /// The base entry's float32 oracles.
    pub base_oracle_dir: PathBuf,
}

/// Where a model's operations figures lie: `dir/<operation>/<slug>.json`. The slug may name
/// another model of the same architecture, whose figures (parameter and tensor counts, a LoRA's
/// trainable parameters) are this model's too; the check verifies that against the model's
/// own files before it judges apr by them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpsOracleRef {
    pub dir: PathBuf,
    pub slug: String,
}

impl ModelUnderTest {
    /// The local HF folder, if the model has one.
    pub fn local_dir(&self) -> Option<&Path> {
        match &self.source {
            ModelSource::Local { dir } => Some(dir),
            ModelSource::Hub { .. } => None,
        }
    }
}
