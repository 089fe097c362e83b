use std::path::PathBuf;

use crate::GgmlType;

/// Everything that can go wrong reading a GGUF or writing its HF copy. Each message names the
/// file and where in it (byte offset, field or tensor), since the files are often damaged on
/// purpose by the harness and the reader must say what it tripped on.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: {field} at byte {offset} needs {needed} bytes but only {available} remain \
         (truncated or corrupt file)"
    )]
    Truncated {
        path: PathBuf,
        offset: u64,
        field: String,
        needed: u64,
        available: u64,
    },
    #[error("{path}: not a GGUF file (magic {found:02x?} at byte 0, expected \"GGUF\")")]
    BadMagic { path: PathBuf, found: [u8; 4] },
    #[error("{path}: GGUF version {version} at byte 4 is not supported (only 2 and 3)")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{path}: {field} at byte {offset} has unknown value type {type_id}")]
    BadValueType {
        path: PathBuf,
        offset: u64,
        field: String,
        type_id: u32,
    },
    #[error("{path}: {field} at byte {offset} nests arrays deeper than {max_depth} levels")]
    NestingTooDeep {
        path: PathBuf,
        offset: u64,
        field: String,
        max_depth: u32,
    },
    #[error("{path}: {field} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        path: PathBuf,
        offset: u64,
        field: String,
    },
    #[error("{path}: general.alignment is {value}, not a power-of-two integer")]
    BadAlignment { path: PathBuf, value: String },
    #[error("{path}: tensor {tensor}: {reason}")]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("{path}: tensor {tensor} has type {kind}, which this reader cannot dequantize")]
    UnsupportedType {
        path: PathBuf,
        tensor: String,
        kind: GgmlType,
    },
    #[error("{path}: metadata {key} is missing or not of the expected type")]
    MissingMetadata { path: PathBuf, key: &'static str },
    #[error("{path}: general.architecture is {architecture:?}; only \"llama\" can be exported")]
    NotLlama { path: PathBuf, architecture: String },
    #[error("{path}: tensor {tensor} has no HF LLaMA counterpart")]
    UnknownTensor { path: PathBuf, tensor: String },
    #[error(
        "{path}: tensor {tensor} has {rows} rows, which do not split into {heads} heads of row pairs"
    )]
    HeadSplit {
        path: PathBuf,
        tensor: String,
        rows: u64,
        heads: u64,
    },
    #[error("{path}: output path has no file name")]
    BadOutputPath { path: PathBuf },
    #[error("{path}: writing safetensors: {source}")]
    Safetensors {
        path: PathBuf,
        source: safetensors::SafeTensorError,
    },
}
