use std::path::PathBuf;

/// Why an oracle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error("cannot read oracle {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("oracle {path} is not valid oracle JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("oracle {path} is inconsistent: {detail}")]
    Inconsistent { path: PathBuf, detail: String },
    #[error(
        "oracle {path} does not carry {field}; regenerate it with tools/fixtures/generate.py \
         (reference oracles only have tokens and text)"
    )]
    Missing { path: PathBuf, field: &'static str },
    #[error(
        "oracle {oracle} was made from a different {file}: the oracle records sha256 {expected}, \
         the model at {model} has {actual}; regenerate the oracle or point the config at the \
         model it was made from"
    )]
    ModelMismatch {
        oracle: PathBuf,
        model: PathBuf,
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "oracle {oracle} was made from another file than {file}: the oracle records sha256 \
         {expected}, the file has {actual} (llama.cpp or its F32 input changed); remake the \
         oracles from this file with `tmgt oracle {model}`"
    )]
    FileMismatch {
        oracle: PathBuf,
        file: PathBuf,
        model: String,
        expected: Box<str>,
        actual: Box<str>,
    },
    #[error(
        "oracle {oracle} records no source_gguf_sha256, so nothing ties it to {file}; remake it \
         with `tmgt oracle {model}`"
    )]
    Unkeyed {
        oracle: PathBuf,
        file: PathBuf,
        model: String,
    },
    #[error("cannot hash {path}: {source}")]
    Hash {
        path: PathBuf,
        source: std::io::Error,
    },
}
