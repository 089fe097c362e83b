//! tmgt-runner's integration tests, one binary: the built `tmgt` and the library against the
//! real apr on the bundled models (and, in `real_profile`, the real 135M model). One binary
//! links llama.cpp once; `cargo test -p tmgt-runner --test it MODULE::` runs one module.
//! The README's example suite crate is linked by `tests/new_suite.rs` alone, so that no other
//! test loads a configuration that would need its thresholds.

#[path = "../common/mod.rs"]
mod common;

mod artifacts_real_apr;
mod book;
mod config_errors;
mod config_fuzz;
mod engine_reuse;
mod families;
mod fault_injection;
mod ladder;
mod llamacpp_faults;
mod llamacpp_suites;
mod oracle_cmd;
mod real_profile;
mod refusals;
mod registry;
mod reports_end_to_end;
mod run_real_apr;
mod shards;
mod suites_chat_sampling;
mod suites_corruption_contract;
mod suites_localize;
mod suites_long;
mod suites_metadata;
mod suites_operations;
mod suites_serve;
mod suites_structure;
mod suites_weights;
