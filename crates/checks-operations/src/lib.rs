//! The operations suites (`merge`, `prune`, `quantize`, `convert`, `finetune`, `distill`):
//! apr's model operations run for real on each model's f32 `.apr`, each judged by a relation
//! it must keep rather than by whether a file appeared. A merge of a model with itself is that
//! model; a weighted merge with weights 1 and 0 is the first model; pruning zeroes the fraction
//! it reports and keeps every tensor; `apr quantize` to a level is `apr import --quantize` at
//! that level, and fp16 is within half-precision rounding; a compressed conversion is lossless
//! and smaller; each `--plan` states the input as tmgt measures it; bad input is refused
//! cleanly. Outputs go to the instance's scratch folder.
//!
//! A LoRA fine-tune trained at learning rate 0 and merged back is the model; its adapter's
//! matrices have the rank asked for and the shapes of the weights they adapt, and lie where
//! `-o` says.
//!
//! The `ops-oracle` suite holds apr's plans against the figures the reference measured doing
//! the same operations with torch and peft (`oracle-ops/`), for the models that have them.
//!
//! Tensors are compared byte for byte by tmgt's own `.apr` reader, and the output must still
//! generate what the input generates (greedy, `apr run`, the first configured prompt).

mod bad_input;
mod common;
mod convert_bad_input;
mod convert_compress;
mod convert_lz4;
mod convert_zstd;
mod distill_student;
mod finetune_adapter_shapes;
mod finetune_output_path;
mod finetune_plan;
mod finetune_zero_rate;
mod lora;
mod merge_average;
mod merge_bad_input;
mod merge_dare;
mod merge_plan;
mod merge_slerp;
mod merge_ties;
mod merge_weighted;
mod prune_bad_input;
mod prune_sparsity;
mod quantize_bad_input;
mod quantize_fp16;
mod quantize_import;
mod quantize_int4;
mod quantize_plan;
mod reference_plans;
