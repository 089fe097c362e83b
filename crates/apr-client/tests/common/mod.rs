//! Loading the captured apr outputs under `tests/captures/<case>/`.
//!
//! Each case folder holds `command` (the apr command line, machine paths replaced by
//! `$MODELS`, `$WORK`, `$HOME`), `stdout`, `stderr` and `exit_code`, written by `capture.sh`.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test crates

use std::path::{Path, PathBuf};

use apr_client::{AprError, Captured, Termination, parse};

pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

/// Loads one captured case; panics with a clear message if it is missing.
pub fn capture(case: &str) -> Captured {
    let dir = captures_dir().join(case);
    let read = |f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| {
            panic!("capture {case}/{f} missing ({e}); run tests/captures/capture.sh to regenerate")
        })
    };
    let command = String::from_utf8(read("command")).unwrap();
    let code: i32 = String::from_utf8(read("exit_code"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Captured::from_parts(
        vec![command.trim().to_string()],
        Termination::Exited(code),
        read("stdout"),
        read("stderr"),
    )
}

/// Every case name, sorted.
pub fn all_cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("exit_code").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A parser, erased to "did it return".
pub type AnyParser = fn(&Captured) -> Result<(), AprError>;

/// Every parser of the crate, by name.
pub fn all_parsers() -> Vec<(&'static str, AnyParser)> {
    vec![
        ("version", |c| parse::version(c).map(drop)),
        ("run", |c| parse::run(c).map(drop)),
        ("eval", |c| parse::eval(c).map(drop)),
        ("inspect", |c| parse::inspect(c).map(drop)),
        ("validate", |c| parse::validate(c).map(drop)),
        ("tensors", |c| parse::tensors(c).map(drop)),
        ("lint", |c| parse::lint(c).map(drop)),
        ("check", |c| parse::check(c).map(drop)),
        ("diff", |c| parse::diff(c).map(drop)),
        ("diff_values", |c| parse::diff_values(c).map(drop)),
        ("tree", |c| parse::tree(c).map(drop)),
        ("oracle", |c| parse::oracle(c).map(drop)),
        ("hex", |c| parse::hex(c).map(drop)),
        ("debug", |c| parse::debug(c).map(drop)),
        ("bench", |c| parse::bench(c).map(drop)),
        ("qa", |c| parse::qa(c).map(drop)),
        ("list", |c| parse::list(c).map(drop)),
        ("parity", |c| parse::parity(c).map(drop)),
        ("rosetta_diff_tensors", |c| {
            parse::rosetta_diff_tensors(c).map(drop)
        }),
        ("rosetta_fingerprint", |c| {
            parse::rosetta_fingerprint(c).map(drop)
        }),
        ("compare_hf", |c| parse::compare_hf(c).map(drop)),
        ("trace_stages", |c| parse::trace_stages(c).map(drop)),
        ("pull_dry_run", |c| parse::pull_dry_run(c).map(drop)),
        ("pull", |c| parse::pull(c).map(drop)),
        ("import", |c| parse::import(c).map(drop)),
        ("export", |c| parse::export(c).map(drop)),
        ("merge", |c| parse::merge(c).map(drop)),
        ("prune_plan", |c| parse::prune_plan(c).map(drop)),
        ("prune", |c| parse::prune(c).map(drop)),
        ("quantize", |c| parse::quantize(c).map(drop)),
        ("merge_plan", |c| parse::merge_plan(c).map(drop)),
        ("quantize_plan", |c| parse::quantize_plan(c).map(drop)),
        ("convert", |c| parse::convert(c).map(drop)),
        ("finetune_plan", |c| parse::finetune_plan(c).map(drop)),
        ("finetune", |c| parse::finetune(c).map(drop)),
        ("finetune_merge", |c| parse::finetune_merge(c).map(drop)),
        ("tokenize_encode", |c| parse::tokenize_encode(c).map(drop)),
        ("distill_plan", |c| parse::distill_plan(c).map(drop)),
        ("distill", |c| parse::distill(c).map(drop)),
    ]
}
