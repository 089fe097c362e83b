//! An oracle's self-check: the HF folder transformers derived from a GGUF, held field by field
//! against the file with the metadata suite's own readers, and the fields the conversion lost
//! written back from the file where config.json can carry them.
//!
//! The file is the truth here (it is what the user brought); the folder is the suspect. A
//! field that cannot be written back (a width, a head count: the weights decide them) is a
//! reason to refuse the oracle, not to guess.

use crate::field::{Family, Field};
use crate::file::{FileError, FileMeta, Found, VocabError};
use crate::judge::judge_field;
use crate::source::{HfError, Source};
use crate::value::MetaValue;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Whether `field` decides what a model computes from ids: the shape the weights must have,
/// the numbers of the forward pass, and which special ids exist and are added (padding and
/// unknown ids change no greedy continuation).
fn decides_behaviour(field: Field) -> bool {
    match field.family() {
        Family::Shape | Family::Numerics => true,
        Family::SpecialTokens => !matches!(field, Field::Pad | Field::Unknown),
        Family::Vocabulary | Family::ChatTemplate => false,
    }
}

/// Why a folder could not be held against its file.
#[derive(Debug, thiserror::Error)]
pub enum VouchError {
    #[error(transparent)]
    Folder(#[from] HfError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Vocabulary(#[from] VocabError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How one field of the folder stands against the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Agrees,
    Differs,
    /// The folder states nothing the file can be held to, or the field does not apply.
    Skipped,
}

/// One behaviour field, judged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldStanding {
    /// tmgt's name of the field (`RopeTheta`).
    pub field: String,
    /// The file's key.
    pub key: String,
    pub standing: Standing,
    /// Both values and where the folder's comes from.
    pub said: String,
}

/// A folder held against its file, after whatever could be written back was.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Vouching {
    /// Every behaviour field as it stands now.
    pub fields: Vec<FieldStanding>,
    /// One line per field written back into the folder: the key, the old and the new value.
    pub restored: Vec<String>,
    /// Whether the file's tokenizer adds a BOS (llama.cpp's reading of `add_bos_token`);
    /// `None` when the file cannot say.
    pub file_adds_bos: Option<bool>,
}

impl Vouching {
    /// The fields that still differ, BOS policy aside (an oracle records both BOS variants and
    /// follows the file's policy, so a tokenizer that adds none is no reason to refuse).
    pub fn disagreements(&self) -> impl Iterator<Item = &FieldStanding> {
        self.fields
            .iter()
            .filter(|f| f.standing == Standing::Differs && f.field != "AddBos")
    }

    /// How many fields were compared (agreeing or not).
    #[must_use]
    pub fn compared(&self) -> usize {
        self.fields
            .iter()
            .filter(|f| f.standing != Standing::Skipped)
            .count()
    }
}

/// Holds `folder` (an HF folder transformers derived from `gguf`) against the file, writes
/// back what the conversion lost where config.json, generation_config.json or
/// tokenizer_config.json can carry it, and judges again.
pub fn vouch_derived_folder(folder: &Path, gguf: &Path) -> Result<Vouching, VouchError> {
    let file = FileMeta::open(gguf)?;
    let first = judge(folder, &file)?;
    let mut restored = Vec::new();
    for (field, _) in first
        .iter()
        .filter(|(_, s)| s.standing == Standing::Differs)
    {
        if let Found::Value { value, key } = file.found(*field)? {
            if let Some(line) = restore(folder, *field, &value, &key)? {
                restored.push(line);
            }
        }
    }
    let fields = if restored.is_empty() {
        first
    } else {
        judge(folder, &file)?
    };
    let file_adds_bos = match file.found(Field::AddBos)? {
        Found::Value {
            value: MetaValue::Flag(adds),
            ..
        } => Some(adds),
        Found::Absent {
            assumed: Some((MetaValue::Flag(adds), _)),
            ..
        } => Some(adds),
        _ => None,
    };
    Ok(Vouching {
        fields: fields.into_iter().map(|(_, s)| s).collect(),
        restored,
        file_adds_bos,
    })
}

fn judge(folder: &Path, file: &FileMeta) -> Result<Vec<(Field, FieldStanding)>, VouchError> {
    let source = Source::read(folder, None)?;
    Field::ALL
        .into_iter()
        .filter(|f| decides_behaviour(*f))
        .map(|field| {
            let expected = source.expected(field, file.format);
            let found = file.found(field)?;
            let (verdict, key, said, _) = judge_field(&expected, &found);
            let standing = match verdict {
                "agrees" => Standing::Agrees,
                "differs" => Standing::Differs,
                _ => Standing::Skipped,
            };
            Ok((
                field,
                FieldStanding {
                    field: format!("{field:?}"),
                    key,
                    standing,
                    said,
                },
            ))
        })
        .collect()
}

/// The config.json keys that carry a field, the one to write first when none is present.
fn config_keys(field: Field) -> &'static [&'static str] {
    match field {
        Field::Context => &["max_position_embeddings", "n_positions"],
        Field::RopeTheta => &["rope_theta"],
        Field::NormEps => &["rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps"],
        Field::SlidingWindow => &["sliding_window"],
        Field::AttnSoftcap => &["attn_logit_softcapping"],
        Field::FinalSoftcap => &["final_logit_softcapping"],
        Field::Bos => &["bos_token_id"],
        Field::Eos => &["eos_token_id"],
        _ => &[],
    }
}

fn as_json(value: &MetaValue) -> Option<Value> {
    match value {
        MetaValue::Int(v) => Some(Value::from(*v)),
        MetaValue::Float(v) => serde_json::Number::from_f64(*v).map(Value::Number),
        _ => None,
    }
}

/// Writes the file's `value` of `field` into the folder; the line saying so, or `None` when
/// the folder cannot carry the field (the weights decide it).
fn restore(
    folder: &Path,
    field: Field,
    value: &MetaValue,
    file_key: &str,
) -> Result<Option<String>, VouchError> {
    let keys = config_keys(field);
    let Some(new) = as_json(value).filter(|_| !keys.is_empty()) else {
        return Ok(None);
    };
    let config_path = folder.join("config.json");
    let mut config = read_object(&config_path)?;
    let key = keys
        .iter()
        .find(|k| config.contains_key(**k))
        .unwrap_or(&keys[0]);
    let old = config.get(*key).cloned().unwrap_or(Value::Null);
    config.insert((*key).to_string(), new.clone());
    if field == Field::RopeTheta {
        if let Some(Value::Object(rope)) = config.get_mut("rope_parameters") {
            // Per-layer-kind parameters (Gemma 3): the file's base is the global layers'.
            match rope.get_mut("full_attention") {
                Some(Value::Object(global)) => global.insert("rope_theta".into(), new.clone()),
                _ => rope.insert("rope_theta".into(), new.clone()),
            };
        }
    }
    write_object(&config_path, &config)?;
    if matches!(field, Field::Bos | Field::Eos) {
        restore_special(folder, field, key, &new)?;
    }
    Ok(Some(format!(
        "config.json `{key}` {old} -> {new} (the file's `{file_key}`)"
    )))
}

/// A BOS/EOS id also lives in generation_config.json and, as its text, in
/// tokenizer_config.json, which HF reads first.
fn restore_special(folder: &Path, field: Field, key: &str, id: &Value) -> Result<(), VouchError> {
    let generation = folder.join("generation_config.json");
    if generation.is_file() {
        let mut config = read_object(&generation)?;
        config.insert(key.to_string(), id.clone());
        write_object(&generation, &config)?;
    }
    let tokenizer_config = folder.join("tokenizer_config.json");
    if tokenizer_config.is_file() {
        let source = Source::read(folder, None)?;
        let text = id
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .and_then(|id| source.tokenizer().id_to_token(id));
        if let Some(text) = text {
            let mut config = read_object(&tokenizer_config)?;
            let name = if field == Field::Bos {
                "bos_token"
            } else {
                "eos_token"
            };
            config.insert(name.into(), Value::String(text));
            write_object(&tokenizer_config, &config)?;
        }
    }
    Ok(())
}

fn read_object(path: &Path) -> Result<Map<String, Value>, VouchError> {
    let text = std::fs::read_to_string(path).map_err(|source| HfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(HfError::NotJson {
            path: path.to_path_buf(),
            source: serde::de::Error::custom("not a JSON object"),
        }
        .into()),
        Err(source) => Err(HfError::NotJson {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// Writes with sorted keys and two-space indents, as the oracle generator writes config.json.
fn write_object(path: &Path, object: &Map<String, Value>) -> Result<(), VouchError> {
    let mut text = serde_json::to_string_pretty(object).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|source| VouchError::Write {
        path: path.to_path_buf(),
        source,
    })
}
