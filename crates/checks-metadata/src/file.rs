//! What a converted file says each field is, read by tmgt's own readers (not apr's): a GGUF's
//! key/value section, an `.apr`'s JSON metadata. Where a key is absent, what the runtime that
//! reads such files then assumes.

use crate::field::Field;
use crate::value::MetaValue;
use checks_structure::layout::{Layout, LayoutError};
use llamacpp_runtime::LlamaError;
use serde_json::Value;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tmgt_check::CheckError;
use tmgt_gguf::{GgufError, GgufFile};

/// Why a converted file's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be opened, or is shorter than a magic.
    #[error("cannot read {}: {source}", path.display())]
    Magic { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    /// The metadata section is larger than this platform can hold.
    #[error(transparent)]
    MetadataSize(#[from] std::num::TryFromIntError),
    #[error("cannot read the metadata of {}: {source}", path.display())]
    ReadMetadata { path: PathBuf, source: io::Error },
    #[error("{}: its metadata is not a JSON object", path.display())]
    NotObject { path: PathBuf },
    #[error("{}: its metadata is not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// llama.cpp cannot load a GGUF's vocabulary, so what it assumes for BOS/EOS is unknown.
/// Clone, its cause shared, because the outcome is read once and asked for field by field.
#[derive(Debug, Clone, thiserror::Error)]
#[error("llama.cpp cannot load the vocabulary of {}: {source}", path.display())]
pub struct VocabError {
    path: PathBuf,
    source: Box<LlamaError>,
}

impl From<VocabError> for CheckError {
    fn from(e: VocabError) -> CheckError {
        let what = format!("the vocabulary of {}", e.path.display());
        CheckError::llama(what, *e.source)
    }
}

/// The file formats whose metadata tmgt reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Gguf,
    Apr,
}

/// What a file says about one field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    Value {
        value: MetaValue,
        key: String,
    },
    /// The key is absent; `assumed` is what the runtime then uses, and who that is.
    Absent {
        key: String,
        assumed: Option<(MetaValue, &'static str)>,
    },
    /// The format has no place for the field.
    CannotCarry(&'static str),
}

/// One file's metadata.
#[derive(Debug)]
pub(crate) struct FileMeta {
    pub format: Format,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Gguf {
        file: Box<GgufFile>,
        /// llama.cpp's BOS/EOS flags for the file, as it loads it: read the first time a
        /// BOS/EOS field is asked for (llama.cpp loads the whole vocabulary for them).
        llama_adds: OnceLock<Result<(bool, bool), VocabError>>,
    },
    Apr(serde_json::Map<String, Value>),
}

impl FileMeta {
    /// Reads the metadata of a GGUF or `.apr`, whichever its magic says.
    pub(crate) fn open(path: &Path) -> Result<FileMeta, FileError> {
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|source| FileError::Magic {
                path: path.to_path_buf(),
                source,
            })?;
        let (format, inner) = if &magic == b"GGUF" {
            let file = GgufFile::open(path)?;
            (
                Format::Gguf,
                Inner::Gguf {
                    file: Box::new(file),
                    llama_adds: OnceLock::new(),
                },
            )
        } else {
            (Format::Apr, Inner::Apr(apr_metadata(path)?))
        };
        Ok(FileMeta { format, inner })
    }

    /// What the file says `field` is; `Err` when llama.cpp cannot load the GGUF's vocabulary
    /// to say what it assumes.
    pub(crate) fn found(&self, field: Field) -> Result<Found, VocabError> {
        match &self.inner {
            Inner::Gguf { file, llama_adds } => {
                let adds = if matches!(field, Field::AddBos | Field::AddEos) {
                    llama_adds
                        .get_or_init(|| llama_flags(file.path()))
                        .clone()?
                } else {
                    (false, false)
                };
                Ok(gguf_field(file, adds, field))
            }
            Inner::Apr(meta) => Ok(apr_field(meta, field)),
        }
    }
}

/// Whether llama.cpp adds a BOS and an EOS to the text of this GGUF.
fn llama_flags(path: &Path) -> Result<(bool, bool), VocabError> {
    llamacpp_runtime::tokenize(path, &["Hello"])
        .map_err(|source| VocabError {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
        .map(|encoded| {
            encoded
                .first()
                .map_or((false, false), |e| (e.add_bos, e.add_eos))
        })
}

/// The JSON metadata section of an APR v2 file.
fn apr_metadata(path: &Path) -> Result<serde_json::Map<String, Value>, FileError> {
    let layout = Layout::read(path)?;
    let mut file = std::fs::File::open(path).map_err(|source| FileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let len = usize::try_from(layout.metadata.end - layout.metadata.start)?;
    let mut bytes = vec![0u8; len];
    file.seek(SeekFrom::Start(layout.metadata.start))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|source| FileError::ReadMetadata {
            path: path.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&bytes);
    let path = path.to_path_buf();
    match serde_json::from_str(text.trim_end_matches(['\0', ' ', '\n'])) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(FileError::NotObject { path }),
        Err(source) => Err(FileError::NotJson { path, source }),
    }
}

fn from_gguf(value: &tmgt_gguf::Value) -> MetaValue {
    use tmgt_gguf::Value as G;
    match value {
        G::U8(v) => MetaValue::Int(u64::from(*v)),
        G::U16(v) => MetaValue::Int(u64::from(*v)),
        G::U32(v) => MetaValue::Int(u64::from(*v)),
        G::U64(v) => MetaValue::Int(*v),
        G::I8(v) => int_or_text(i64::from(*v)),
        G::I16(v) => int_or_text(i64::from(*v)),
        G::I32(v) => int_or_text(i64::from(*v)),
        G::I64(v) => int_or_text(*v),
        G::F32(v) => MetaValue::Float(f64::from(*v)),
        G::F64(v) => MetaValue::Float(*v),
        G::Bool(v) => MetaValue::Flag(*v),
        G::String(v) => MetaValue::Text(v.clone()),
        G::Array(items) => MetaValue::List(
            items
                .iter()
                .map(|i| match from_gguf(i) {
                    MetaValue::Text(t) => t,
                    other => other.to_string(),
                })
                .collect(),
        ),
    }
}

fn int_or_text(v: i64) -> MetaValue {
    u64::try_from(v).map_or_else(|_| MetaValue::Text(v.to_string()), MetaValue::Int)
}

/// GGUF's token type numbers in the names [`crate::source`] uses.
fn token_type_name(code: &str) -> &'static str {
    match code {
        "1" => "normal",
        "2" => "unknown",
        "3" => "control",
        "4" => "user-defined",
        "5" => "unused",
        "6" => "byte",
        _ => "undefined",
    }
}

/// `llama_adds` is read only for the BOS/EOS fields.
fn gguf_field(file: &GgufFile, llama_adds: (bool, bool), field: Field) -> Found {
    let arch = file
        .get_str("general.architecture")
        .unwrap_or("llama")
        .to_string();
    let value_of = |key: &str| file.get(key).map(from_gguf);
    let present =
        |key: String| -> Option<Found> { value_of(&key).map(|value| Found::Value { value, key }) };
    let int = |key: &str| file.get_u64(key).map(MetaValue::Int);
    let absent =
        |key: String, assumed: Option<(MetaValue, &'static str)>| Found::Absent { key, assumed };
    let tokens = || match value_of("tokenizer.ggml.tokens") {
        Some(MetaValue::List(t)) => t,
        _ => Vec::new(),
    };
    let or_absent = |key: String, assumed: Option<(MetaValue, &'static str)>| {
        present(key.clone()).unwrap_or_else(|| absent(key, assumed))
    };
    let heads = int(&format!("{arch}.attention.head_count"));
    let head_dim = || {
        int(&format!("{arch}.attention.key_length")).or_else(|| {
            let (MetaValue::Int(w), Some(MetaValue::Int(h))) =
                (int(&format!("{arch}.embedding_length"))?, heads.clone())
            else {
                return None;
            };
            (h > 0).then(|| MetaValue::Int(w / h))
        })
    };
    match field {
        Field::Architecture => or_absent("general.architecture".into(), None),
        Field::Layers => or_absent(format!("{arch}.block_count"), None),
        Field::Hidden => or_absent(format!("{arch}.embedding_length"), None),
        Field::FeedForward => or_absent(format!("{arch}.feed_forward_length"), None),
        Field::Heads => or_absent(format!("{arch}.attention.head_count"), None),
        Field::KvHeads => or_absent(
            format!("{arch}.attention.head_count_kv"),
            heads.clone().map(|h| (h, "llama.cpp takes head_count")),
        ),
        Field::HeadDim => or_absent(
            format!("{arch}.attention.key_length"),
            head_dim().map(|d| (d, "llama.cpp takes embedding_length / head_count")),
        ),
        Field::Vocab => or_absent(
            format!("{arch}.vocab_size"),
            Some((
                MetaValue::Int(tokens().len() as u64),
                "llama.cpp counts tokenizer.ggml.tokens",
            )),
        ),
        Field::Context => or_absent(format!("{arch}.context_length"), None),
        Field::RopeTheta => or_absent(
            format!("{arch}.rope.freq_base"),
            Some((MetaValue::Float(10_000.0), "llama.cpp takes 10000")),
        ),
        Field::RopeDims => or_absent(
            format!("{arch}.rope.dimension_count"),
            head_dim().map(|d| (d, "llama.cpp takes the head dimension")),
        ),
        Field::RopeThetaLocal => or_absent(format!("{arch}.rope.freq_base_swa"), None),
        Field::RopeScaling => or_absent(
            format!("{arch}.rope.scaling.type"),
            Some((
                MetaValue::Text("none".into()),
                "llama.cpp then scales nothing",
            )),
        ),
        Field::RopeScalingFactor => or_absent(format!("{arch}.rope.scaling.factor"), None),
        Field::SlidingWindow => {
            let key = format!("{arch}.attention.sliding_window");
            match value_of(&key) {
                // llama.cpp's Phi-3 converter writes 0 for a model without a window.
                Some(MetaValue::Int(0)) => Found::Value {
                    value: MetaValue::Unset,
                    key,
                },
                Some(value) => Found::Value { value, key },
                None => absent(
                    key,
                    Some((MetaValue::Unset, "llama.cpp then attends to every position")),
                ),
            }
        }
        // Absent, llama.cpp caps with its defaults (50 and 30, Gemma 2's values).
        Field::AttnSoftcap => or_absent(
            format!("{arch}.attn_logit_softcapping"),
            Some((MetaValue::Float(50.0), "llama.cpp's default")),
        ),
        Field::FinalSoftcap => or_absent(
            format!("{arch}.final_logit_softcapping"),
            Some((MetaValue::Float(30.0), "llama.cpp's default")),
        ),
        Field::NormEps => {
            let rms = format!("{arch}.attention.layer_norm_rms_epsilon");
            let plain = format!("{arch}.attention.layer_norm_epsilon");
            present(rms.clone())
                .or_else(|| present(plain))
                .unwrap_or_else(|| absent(rms, None))
        }
        Field::Bos => or_absent("tokenizer.ggml.bos_token_id".into(), None),
        Field::Eos => or_absent("tokenizer.ggml.eos_token_id".into(), None),
        Field::Pad => or_absent(
            "tokenizer.ggml.padding_token_id".into(),
            Some((MetaValue::Unset, "llama.cpp then has no padding token")),
        ),
        Field::Unknown => or_absent(
            "tokenizer.ggml.unknown_token_id".into(),
            Some((MetaValue::Unset, "llama.cpp then has no unknown token")),
        ),
        Field::AddBos => or_absent(
            "tokenizer.ggml.add_bos_token".into(),
            Some((
                MetaValue::Flag(llama_adds.0),
                "llama.cpp's default for this tokenizer",
            )),
        ),
        Field::AddEos => or_absent(
            "tokenizer.ggml.add_eos_token".into(),
            Some((
                MetaValue::Flag(llama_adds.1),
                "llama.cpp's default for this tokenizer",
            )),
        ),
        Field::TokenizerModel => or_absent("tokenizer.ggml.model".into(), None),
        Field::PreTokenizer => or_absent(
            "tokenizer.ggml.pre".into(),
            Some((
                MetaValue::Text("default".into()),
                "llama.cpp takes `default`",
            )),
        ),
        Field::Tokens => or_absent("tokenizer.ggml.tokens".into(), None),
        Field::TokenTypes => {
            let texts = tokens();
            let key = "tokenizer.ggml.token_type".to_string();
            match value_of(&key) {
                Some(MetaValue::List(codes)) => Found::Value {
                    value: MetaValue::List(
                        codes
                            .iter()
                            .zip(&texts)
                            .map(|(c, t)| format!("{} {t}", token_type_name(c)))
                            .collect(),
                    ),
                    key,
                },
                _ => absent(
                    key,
                    Some((
                        MetaValue::List(texts.iter().map(|t| format!("normal {t}")).collect()),
                        "llama.cpp types every token normal",
                    )),
                ),
            }
        }
        Field::Merges => or_absent("tokenizer.ggml.merges".into(), None),
        Field::ChatTemplate => or_absent(
            "tokenizer.chat_template".into(),
            Some((MetaValue::Unset, "runtimes then have no template")),
        ),
    }
}

fn apr_field(meta: &serde_json::Map<String, Value>, field: Field) -> Found {
    let get = |key: &str| -> Found {
        let value = match meta.get(key) {
            None | Some(Value::Null) => {
                return Found::Absent {
                    key: key.to_string(),
                    assumed: None,
                };
            }
            Some(Value::Number(n)) if n.is_u64() => MetaValue::Int(n.as_u64().unwrap_or(0)),
            Some(Value::Number(n)) => MetaValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            Some(Value::String(s)) => MetaValue::Text(s.clone()),
            Some(Value::Bool(b)) => MetaValue::Flag(*b),
            Some(Value::Array(items)) => MetaValue::List(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect(),
            ),
            Some(other) => MetaValue::Text(other.to_string()),
        };
        Found::Value {
            value,
            key: key.to_string(),
        }
    };
    let cannot = Found::CannotCarry;
    match field {
        Field::Architecture => get("architecture"),
        Field::Layers => get("num_layers"),
        Field::Hidden => get("hidden_size"),
        Field::FeedForward => get("intermediate_size"),
        Field::Heads => get("num_heads"),
        Field::KvHeads => get("num_kv_heads"),
        Field::HeadDim => match get("head_dim") {
            Found::Absent { key, .. } => {
                let width = meta.get("hidden_size").and_then(Value::as_u64);
                let heads = meta
                    .get("num_heads")
                    .and_then(Value::as_u64)
                    .filter(|h| *h > 0);
                Found::Absent {
                    key,
                    assumed: width
                        .zip(heads)
                        .map(|(w, h)| (MetaValue::Int(w / h), "apr takes hidden_size / num_heads")),
                }
            }
            found => found,
        },
        Field::Vocab => get("vocab_size"),
        Field::Context => get("max_position_embeddings"),
        Field::RopeTheta => get("rope_theta"),
        Field::RopeThetaLocal => get("rope_local_base_freq"),
        // apr keeps HF's `rope_scaling` object where it keeps it at all.
        Field::RopeScaling => match meta.get("rope_scaling") {
            Some(Value::Object(s)) => match s.get("rope_type").or_else(|| s.get("type")) {
                Some(Value::String(t)) => Found::Value {
                    value: MetaValue::Text(crate::spelling::rope_scaling(t).to_string()),
                    key: "rope_scaling.rope_type".into(),
                },
                _ => get("rope_scaling.rope_type"),
            },
            _ => Found::Absent {
                key: "rope_scaling".into(),
                assumed: Some((MetaValue::Text("none".into()), "no scaling recorded")),
            },
        },
        Field::RopeScalingFactor => match meta.get("rope_scaling") {
            Some(Value::Object(s)) => match s.get("factor").and_then(Value::as_f64) {
                Some(f) => Found::Value {
                    value: MetaValue::Float(f),
                    key: "rope_scaling.factor".into(),
                },
                None => get("rope_scaling.factor"),
            },
            _ => get("rope_scaling"),
        },
        Field::NormEps => get("rms_norm_eps"),
        Field::SlidingWindow => get("sliding_window"),
        Field::AttnSoftcap => get("attn_logit_softcapping"),
        Field::FinalSoftcap => get("final_logit_softcapping"),
        Field::Bos => get("tokenizer.bos_token_id"),
        Field::Eos => get("tokenizer.eos_token_id"),
        Field::TokenizerModel => get("tokenizer.model_type"),
        Field::Tokens => get("tokenizer.vocabulary"),
        Field::Merges => get("tokenizer.merges"),
        Field::RopeDims => {
            cannot("an .apr has no RoPE dimension count: apr rotates the whole head")
        }
        Field::Pad => cannot("an .apr has no padding token"),
        Field::Unknown => cannot("an .apr has no unknown token"),
        Field::AddBos | Field::AddEos => {
            cannot("an .apr has no BOS/EOS flags: apr decides whether to add them")
        }
        Field::PreTokenizer => {
            cannot("an .apr has no pre-tokenizer: apr chooses how to split text")
        }
        Field::TokenTypes => cannot("an .apr has no token types"),
        Field::ChatTemplate => cannot("an .apr has no chat template"),
    }
}
