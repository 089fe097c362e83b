//! What the source's HF files say each field is: config.json, generation_config.json,
//! tokenizer_config.json and tokenizer.json, read by tmgt, with the tokenizer applied by HF's
//! own library so the special-token flags are what transformers does, not what a key claims.

use crate::field::Field;
use crate::file::Format;
use crate::value::MetaValue;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tmgt_gguf::GgufError;
use tokenizers::Tokenizer;

/// Why a model's HF folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error("HF tokenizers cannot load {}: {source}", path.display())]
    Tokenizer {
        path: PathBuf,
        source: tokenizers::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no readable `model`: {source}", path.display())]
    TokenizerModel {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} is not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// HF's tokenizer fails on the probe text, so which special tokens it adds is unknown.
#[derive(Debug, thiserror::Error)]
#[error("HF tokenizers cannot encode {text:?}: {source}")]
struct EncodeError {
    text: &'static str,
    source: tokenizers::Error,
}

/// A source's statement about one field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    /// The value, and the file and key it comes from.
    Is { value: MetaValue, from: String },
    /// The field means nothing for this model (RoPE of a model with learned positions), or the
    /// source cannot say (why).
    NotApplicable(String),
}

/// A model's HF folder, read.
pub(crate) struct Source {
    dir: PathBuf,
    config: Value,
    generation: Option<Value>,
    tokenizer_config: Option<Value>,
    model: TokenizerModel,
    tokenizer: Tokenizer,
    /// llama.cpp's own conversion of this folder, where there is one: its
    /// `tokenizer.ggml.pre` is the name llama.cpp's converter recognised the tokenizer as.
    native: Option<PathBuf>,
    native_pre: OnceLock<Result<Option<String>, GgufError>>,
}

/// The parts of tokenizer.json's `model` the fields need; the vocabulary itself is read through
/// HF's tokenizers library, so the file is not held as a JSON tree.
#[derive(Debug, Deserialize)]
struct TokenizerModel {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    byte_fallback: Option<bool>,
    #[serde(default)]
    merges: Vec<Merge>,
}

/// A merge as tokenizers writes it: `"a b"`, or `["a", "b"]` in newer files.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct TokenizerParts {
    model: TokenizerModel,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn read_json(path: &Path) -> Result<Value, HfError> {
    let text = std::fs::read_to_string(path).map_err(|source| HfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| HfError::NotJson {
        path: path.to_path_buf(),
        source,
    })
}

fn optional_json(path: &Path) -> Result<Option<Value>, HfError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl Source {
    /// Reads `dir`; `native` is llama.cpp's GGUF of it, if any.
    pub(crate) fn read(dir: &Path, native: Option<&Path>) -> Result<Source, HfError> {
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|source| HfError::Tokenizer {
                path: tokenizer_path.clone(),
                source,
            })?;
        let bytes = std::fs::read(&tokenizer_path).map_err(|source| HfError::Read {
            path: tokenizer_path.clone(),
            source,
        })?;
        let parts: TokenizerParts =
            serde_json::from_slice(&bytes).map_err(|source| HfError::TokenizerModel {
                path: tokenizer_path,
                source,
            })?;
        Ok(Source {
            dir: dir.to_path_buf(),
            config: read_json(&dir.join("config.json"))?,
            generation: optional_json(&dir.join("generation_config.json"))?,
            tokenizer_config: optional_json(&dir.join("tokenizer_config.json"))?,
            model: parts.model,
            tokenizer,
            native: native.map(Path::to_path_buf),
            native_pre: OnceLock::new(),
        })
    }

    /// HF's tokenizer of the source.
    pub(crate) fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The first of `keys` config.json has, as a number.
    fn config_int(&self, keys: &[&str]) -> Option<(u64, String)> {
        keys.iter().find_map(|k| {
            self.config
                .get(*k)
                .and_then(Value::as_u64)
                .map(|v| (v, format!("config.json `{k}`")))
        })
    }

    fn is(value: MetaValue, from: impl Into<String>) -> Expected {
        Expected::Is {
            value,
            from: from.into(),
        }
    }

    fn int(&self, keys: &[&str]) -> Expected {
        match self.config_int(keys) {
            Some((v, from)) => Source::is(MetaValue::Int(v), from),
            None => {
                Expected::NotApplicable(format!("config.json has no `{}`", keys.join("` or `")))
            }
        }
    }

    fn model_type(&self) -> &str {
        self.config
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Whether the model positions tokens by RoPE (GPT-2 learns absolute positions).
    fn has_rope(&self) -> bool {
        self.model_type() != "gpt2"
    }

    /// `rope_parameters` of the global layers, where they are: per layer kind for models with
    /// local and global layers (Gemma 3), whose file states the global layers'.
    fn global_rope(&self) -> (&Value, &'static str) {
        let rope = &self.config["rope_parameters"];
        match &rope["full_attention"] {
            Value::Object(_) => (&rope["full_attention"], "rope_parameters.full_attention"),
            _ => (rope, "rope_parameters"),
        }
    }

    /// The RoPE parameters of the global layers, or an older config's `rope_scaling`.
    fn scaling_parameters(&self) -> &Value {
        match self.global_rope() {
            (rope @ Value::Object(_), _) => rope,
            _ => &self.config["rope_scaling"],
        }
    }

    /// How RoPE positions are scaled, in llama.cpp's names; for a GGUF, a scaling llama.cpp
    /// carries as a tensor (llama3's `rope_freqs.weight`) or in its converter's model class
    /// (dynamic) is not a field.
    fn rope_scaling(&self, format: Format) -> Expected {
        let rope = self.scaling_parameters();
        let Some(kind) = rope["rope_type"].as_str().or_else(|| rope["type"].as_str()) else {
            return Source::is(
                MetaValue::Text("none".into()),
                "config.json states no scaling",
            );
        };
        let kind = crate::spelling::rope_scaling(kind);
        match (format, kind) {
            (Format::Gguf, "llama3" | "dynamic") => Expected::NotApplicable(format!(
                "llama.cpp carries {kind} scaling outside the scaling keys"
            )),
            _ => Source::is(
                MetaValue::Text(kind.to_string()),
                "config.json's RoPE `rope_type`",
            ),
        }
    }

    /// The attention window: none where `use_sliding_window` is false (Qwen2 states a window
    /// it does not use) or `sliding_window` is null or absent.
    fn sliding_window(&self) -> Expected {
        if self.config.get("use_sliding_window") == Some(&Value::Bool(false)) {
            return Source::is(MetaValue::Unset, "config.json `use_sliding_window` false");
        }
        match self.config.get("sliding_window") {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(w) => Source::is(MetaValue::Int(w), "config.json `sliding_window`"),
                None => Expected::NotApplicable(format!("config.json `sliding_window` {n}")),
            },
            Some(_) => Source::is(MetaValue::Unset, "config.json `sliding_window` null"),
            None => Source::is(MetaValue::Unset, "config.json has no `sliding_window`"),
        }
    }

    /// A soft-cap the model applies, or not applicable where it applies none.
    fn softcap(&self, key: &str) -> Expected {
        match self.config.get(key).and_then(Value::as_f64) {
            Some(cap) => Source::is(MetaValue::Float(cap), format!("config.json `{key}`")),
            None => Expected::NotApplicable(format!("config.json has no `{key}`: no soft-cap")),
        }
    }

    fn head_dim(&self) -> Option<(u64, String)> {
        self.config_int(&["head_dim"]).or_else(|| {
            let (hidden, _) = self.config_int(&["hidden_size", "n_embd"])?;
            let (heads, _) = self.config_int(&["num_attention_heads", "n_head"])?;
            (heads > 0).then(|| {
                (
                    hidden / heads,
                    "config.json `hidden_size` / `num_attention_heads`".to_string(),
                )
            })
        })
    }

    /// A special token named in tokenizer_config.json (a string or `{content: ...}`), as its
    /// id in the tokenizer; else the config's id key. `Unset` where neither names one.
    fn special(&self, name: &str, id_keys: &[&str]) -> Expected {
        let key = format!("{name}_token");
        if let Some(entry) = self.tokenizer_config.as_ref().and_then(|c| c.get(&key)) {
            let content = entry
                .as_str()
                .or_else(|| entry.get("content").and_then(Value::as_str));
            return match content {
                Some(text) => match self.tokenizer.token_to_id(text) {
                    Some(id) => Source::is(
                        MetaValue::Int(u64::from(id)),
                        format!("tokenizer_config.json `{key}` {text:?}"),
                    ),
                    None => Expected::NotApplicable(format!(
                        "tokenizer_config.json `{key}` {text:?} is no token of tokenizer.json"
                    )),
                },
                None => Source::is(MetaValue::Unset, format!("tokenizer_config.json `{key}`")),
            };
        }
        for file in [Some(&self.config), self.generation.as_ref()]
            .into_iter()
            .flatten()
        {
            for k in id_keys {
                match file.get(*k) {
                    Some(Value::Number(n)) => {
                        if let Some(v) = n.as_u64() {
                            return Source::is(MetaValue::Int(v), format!("`{k}`"));
                        }
                    }
                    Some(Value::Array(ids)) => {
                        if let Some(v) = ids.first().and_then(Value::as_u64) {
                            return Source::is(MetaValue::Int(v), format!("`{k}` (first)"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Source::is(
            MetaValue::Unset,
            format!("no `{key}` in tokenizer_config.json or config.json"),
        )
    }

    /// What HF adds around a text when asked for special tokens: (at the start, at the end).
    fn added_specials(&self) -> Result<(bool, bool), EncodeError> {
        let probe = "Hello";
        let ids = |special| {
            self.tokenizer
                .encode(probe, special)
                .map(|e| e.get_ids().to_vec())
                .map_err(|source| EncodeError {
                    text: probe,
                    source,
                })
        };
        let (plain, with) = (ids(false)?, ids(true)?);
        let start = with.len() > plain.len() && !with.starts_with(&plain);
        let end = with.len() > plain.len() && !with.ends_with(&plain);
        Ok((start, end))
    }

    /// Token texts by id, added tokens included (a gap is an empty text).
    fn token_texts(&self) -> Vec<String> {
        let vocab = self.tokenizer.get_vocab(true);
        let len = vocab.values().max().map_or(0, |m| *m as usize + 1);
        let mut texts = vec![String::new(); len];
        for (text, id) in vocab {
            texts[id as usize] = text;
        }
        texts
    }

    /// Each token's type in GGUF's terms, with its text: `control` for special added tokens,
    /// `user-defined` for other added tokens, `byte` for byte-fallback pieces, else `normal`.
    fn token_types(&self) -> Vec<String> {
        let added = self.tokenizer.get_added_tokens_decoder();
        let byte_fallback = self.model.byte_fallback == Some(true);
        self.token_texts()
            .into_iter()
            .enumerate()
            .map(|(id, text)| {
                let kind = match added.get(&(id as u32)) {
                    Some(t) if t.special => "control",
                    Some(_) => "user-defined",
                    None if byte_fallback && text.starts_with("<0x") && text.len() == 6 => "byte",
                    None => "normal",
                };
                format!("{kind} {text}")
            })
            .collect()
    }

    fn merges(&self) -> Vec<String> {
        self.model
            .merges
            .iter()
            .map(|m| match m {
                Merge::Joined(s) => s.clone(),
                Merge::Pair(pair) => pair.join(" "),
            })
            .collect()
    }

    /// The native GGUF's pre-tokenizer name, read once.
    fn native_pre(&self) -> Result<Option<&str>, &GgufError> {
        self.native_pre
            .get_or_init(|| {
                let Some(path) = &self.native else {
                    return Ok(None);
                };
                let gguf = tmgt_gguf::GgufFile::open(path)?;
                Ok(gguf.get_str("tokenizer.ggml.pre").map(str::to_string))
            })
            .as_ref()
            .map(Option::as_deref)
    }

    fn chat_template(&self) -> Expected {
        let jinja = self.dir.join("chat_template.jinja");
        if let Ok(text) = std::fs::read_to_string(&jinja) {
            return Source::is(MetaValue::Text(text), "chat_template.jinja");
        }
        match self
            .tokenizer_config
            .as_ref()
            .and_then(|c| c.get("chat_template"))
        {
            Some(Value::String(t)) => Source::is(
                MetaValue::Text(t.clone()),
                "tokenizer_config.json `chat_template`",
            ),
            Some(Value::Array(named)) => named
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .map_or_else(
                    || {
                        Expected::NotApplicable(
                            "tokenizer_config.json has no default chat template".into(),
                        )
                    },
                    |t| {
                        Source::is(
                            MetaValue::Text(t.to_string()),
                            "tokenizer_config.json `chat_template` (default)",
                        )
                    },
                ),
            _ => Source::is(
                MetaValue::Unset,
                "no chat template in tokenizer_config.json",
            ),
        }
    }

    /// What the source says `field` is, in the terms of a file of `format`.
    pub(crate) fn expected(&self, field: Field, format: Format) -> Expected {
        let no_rope = || {
            Expected::NotApplicable(format!(
                "{} has learned absolute positions, no RoPE",
                self.model_type()
            ))
        };
        match field {
            Field::Architecture => {
                let model_type = self.model_type();
                match (format, crate::spelling::llama_cpp_architecture(model_type)) {
                    (Format::Gguf, Some(name)) if name != model_type => Source::is(
                        MetaValue::Text(name.to_string()),
                        format!(
                            "config.json `model_type` {model_type:?}, which llama.cpp calls {name:?}"
                        ),
                    ),
                    _ => Source::is(
                        MetaValue::Text(model_type.to_string()),
                        "config.json `model_type`",
                    ),
                }
            }
            Field::Layers => self.int(&["num_hidden_layers", "n_layer"]),
            Field::Hidden => self.int(&["hidden_size", "n_embd"]),
            Field::FeedForward => match self.config_int(&["intermediate_size", "n_inner"]) {
                Some((v, from)) => Source::is(MetaValue::Int(v), from),
                // GPT-2's `n_inner: null` means four times the width.
                None => match self.config_int(&["n_embd"]) {
                    Some((w, _)) => Source::is(
                        MetaValue::Int(4 * w),
                        "config.json 4 x `n_embd` (`n_inner` null)",
                    ),
                    None => self.int(&["intermediate_size"]),
                },
            },
            Field::Heads => self.int(&["num_attention_heads", "n_head"]),
            Field::KvHeads => match self.config_int(&["num_key_value_heads"]) {
                Some((v, from)) => Source::is(MetaValue::Int(v), from),
                None => self.int(&["num_attention_heads", "n_head"]),
            },
            Field::HeadDim => match self.head_dim() {
                Some((v, from)) => Source::is(MetaValue::Int(v), from),
                None => self.int(&["head_dim"]),
            },
            Field::Vocab => self.int(&["vocab_size"]),
            Field::Context => self.int(&["max_position_embeddings", "n_positions"]),
            Field::RopeTheta if !self.has_rope() => no_rope(),
            Field::RopeTheta => {
                let direct = self.config.get("rope_theta").and_then(Value::as_f64);
                let (rope, at) = self.global_rope();
                let nested = rope["rope_theta"].as_f64();
                match (direct, nested) {
                    (Some(v), _) => Source::is(MetaValue::Float(v), "config.json `rope_theta`"),
                    (None, Some(v)) => Source::is(
                        MetaValue::Float(v),
                        format!("config.json `{at}.rope_theta`"),
                    ),
                    // transformers' default base.
                    (None, None) => Source::is(
                        MetaValue::Float(10_000.0),
                        "transformers' default (config.json has no `rope_theta`)",
                    ),
                }
            }
            Field::RopeThetaLocal => {
                let nested = self.config["rope_parameters"]["sliding_attention"]["rope_theta"]
                    .as_f64()
                    .map(|v| {
                        (
                            v,
                            "config.json `rope_parameters.sliding_attention.rope_theta`",
                        )
                    });
                let flat = self
                    .config
                    .get("rope_local_base_freq")
                    .and_then(Value::as_f64)
                    .map(|v| (v, "config.json `rope_local_base_freq`"));
                match nested.or(flat) {
                    Some((v, from)) => Source::is(MetaValue::Float(v), from),
                    None => Expected::NotApplicable(
                        "every layer has the same RoPE base (no local layers' own)".into(),
                    ),
                }
            }
            Field::RopeScaling | Field::RopeScalingFactor if !self.has_rope() => no_rope(),
            Field::RopeScaling => self.rope_scaling(format),
            Field::RopeScalingFactor => match self.rope_scaling(format) {
                Expected::Is {
                    value: MetaValue::Text(t),
                    ..
                } if t == "linear" || t == "yarn" => {
                    match self.scaling_parameters()["factor"].as_f64() {
                        Some(f) => {
                            Source::is(MetaValue::Float(f), "config.json's scaling `factor`")
                        }
                        None => Expected::NotApplicable(format!("{t} scaling without a factor")),
                    }
                }
                _ => Expected::NotApplicable("no linear or YaRN scaling".into()),
            },
            Field::SlidingWindow => self.sliding_window(),
            Field::AttnSoftcap => self.softcap("attn_logit_softcapping"),
            Field::FinalSoftcap => self.softcap("final_logit_softcapping"),
            Field::RopeDims if !self.has_rope() => no_rope(),
            Field::RopeDims => {
                let factor = self
                    .config
                    .get("partial_rotary_factor")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0);
                match self.head_dim() {
                    Some((d, from)) => Source::is(
                        MetaValue::Int((d as f64 * factor).round() as u64),
                        format!("{from} x `partial_rotary_factor` {factor}"),
                    ),
                    None => self.int(&["head_dim"]),
                }
            }
            Field::NormEps => match ["rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps"]
                .iter()
                .find_map(|k| self.config.get(*k).and_then(Value::as_f64).map(|v| (v, *k)))
            {
                Some((v, k)) => Source::is(MetaValue::Float(v), format!("config.json `{k}`")),
                None => Expected::NotApplicable("config.json states no norm epsilon".into()),
            },
            Field::Bos => self.special("bos", &["bos_token_id"]),
            Field::Eos => self.special("eos", &["eos_token_id"]),
            Field::Pad => self.special("pad", &["pad_token_id"]),
            Field::Unknown => self.special("unk", &["unk_token_id"]),
            Field::AddBos | Field::AddEos => match self.added_specials() {
                Ok((start, end)) => Source::is(
                    MetaValue::Flag(if field == Field::AddBos { start } else { end }),
                    "HF tokenizers' encoding of \"Hello\" with special tokens (tokenizer.json post-processor)",
                ),
                Err(e) => Expected::NotApplicable(e.to_string()),
            },
            Field::TokenizerModel => {
                let kind = self.model.kind.clone();
                let byte_fallback = self.model.byte_fallback == Some(true);
                let value = match format {
                    Format::Apr => kind.clone(),
                    // llama.cpp's names: byte-level BPE is `gpt2`, SentencePiece-style BPE `llama`.
                    Format::Gguf => match kind.as_str() {
                        "BPE" if byte_fallback => "llama".into(),
                        "BPE" => "gpt2".into(),
                        "WordPiece" => "bert".into(),
                        "Unigram" => "t5".into(),
                        other => other.to_string(),
                    },
                };
                Source::is(
                    MetaValue::Text(value),
                    format!("tokenizer.json `model.type` {kind:?}"),
                )
            }
            Field::PreTokenizer => match (self.native_pre(), &self.native) {
                (Ok(Some(pre)), Some(path)) => Source::is(
                    MetaValue::Text(pre.to_string()),
                    format!("llama.cpp's own conversion {}", path.display()),
                ),
                (Err(e), _) => Expected::NotApplicable(format!(
                    "llama.cpp's own conversion cannot be read: {e}"
                )),
                _ => Expected::NotApplicable(
                    "no llama.cpp conversion of this model names its pre-tokenizer".into(),
                ),
            },
            Field::Tokens => Source::is(
                MetaValue::Tokens(self.token_texts()),
                "tokenizer.json vocabulary and added tokens",
            ),
            Field::TokenTypes => Source::is(
                MetaValue::Tokens(self.token_types()),
                "tokenizer.json added tokens' `special` flags",
            ),
            Field::Merges => Source::is(
                MetaValue::List(self.merges()),
                "tokenizer.json `model.merges`",
            ),
            Field::ChatTemplate => self.chat_template(),
        }
    }
}
