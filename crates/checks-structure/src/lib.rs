//! Structure suites: apr's reading of the files it makes (`inspect`, `validate`, `tensors`,
//! `lint`, `check`, `diff`, `tree`, `oracle`, `hex`, `debug`, `bench`, `qa`) held against
//! tmgt's own reading of the model: config.json facts and the source safetensors header.
//! Two suites judge apr's robustness and interface rather than its reading of a model:
//! `corruption` (damaged copies of each artifact must be rejected, never crash apr) and
//! `contract` (what `--json` prints is one document that agrees with the exit code).

pub mod common;
pub mod dtypes;
pub mod layout;
pub mod names;
pub mod source;
pub mod stats;
mod thresholds;

pub use thresholds::{QaThresholds, SelftestThresholds, StructureThresholds};

mod bench;
mod contract;
mod corruption;

pub use corruption::{
    labels as damaged_copy_labels, remake as remake_damaged_copy, unknown_type_gguf,
};
mod debug;
mod diff;
mod hex;
mod import_reproducible;
mod inspect;
mod inspect_quantized;
mod inspect_tensors;
mod lint;
mod oracle_id;
mod qa;
mod selftest;
mod tensors_dtype;
mod tensors_layout;
mod tree;
mod validate_checks;
mod validate_exit;
