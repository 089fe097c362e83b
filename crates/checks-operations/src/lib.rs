//! The operations suites: apr's model operations run for real on each model's f32 `.apr`,
//! each judged by a relation it must keep rather than by whether a file appeared. A merge of a
//! model with itself is that model; a weighted merge with weights 1 and 0 is the first model;
//! pruning zeroes the fraction it reports and keeps every tensor; `apr quantize` to a level is
//! `apr import --quantize` at that level. Outputs go to the instance's scratch folder.
//!
//! Tensors are compared byte for byte by tmgt's own `.apr` reader, and the output must still
//! generate what the input generates (greedy, `apr run`, the first configured prompt).

mod common;
mod merge_average;
mod merge_slerp;
mod merge_weighted;
mod prune_sparsity;
mod quantize_import;
