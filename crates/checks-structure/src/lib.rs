//! Structure suites: apr's reading of the files it makes (`inspect`, `validate`, `tensors`,
//! `lint`, `check`, `diff`, `tree`, `oracle`, `hex`, `debug`, `bench`, `qa`) held against
//! tmgt's own reading of the model: config.json facts and the source safetensors header.

pub mod common;
pub mod dtypes;
pub mod names;
pub mod source;
pub mod stats;

mod bench;
mod debug;
mod diff;
mod hex;
mod inspect;
mod inspect_quantized;
mod lint;
mod oracle_id;
mod qa;
mod selftest;
mod tensors_dtype;
mod tensors_layout;
mod tree;
mod validate_checks;
mod validate_exit;
