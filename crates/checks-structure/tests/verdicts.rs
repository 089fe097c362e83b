//! The structure checks' verdicts on apr's own captured replies, without apr.

use checks_structure as _;
use tmgt_check::{Quant, Status};
use tmgt_testkit::{Replay, capture};

#[test]
fn inspect_of_the_model_it_was_captured_from_agrees_on_every_field() {
    let replay = Replay::bundled("tiny-qwen2")
        .quant(Quant::F32)
        .answer("inspect", capture("inspect_apr_qwen2"));
    let verdict = replay.run("INS001").unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert_eq!(
        verdict.evidence.count, 6,
        "architecture and five dimensions"
    );
}

#[test]
fn inspect_of_another_model_fails_naming_each_wrong_field() {
    // Qwen2's reply judged against tiny-llama's config.json.
    let replay = Replay::bundled("tiny-llama")
        .quant(Quant::F32)
        .answer("inspect", capture("inspect_apr_qwen2"));
    let verdict = replay.run("INS001").unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
    assert!(
        verdict.message.contains("architecture"),
        "{}",
        verdict.message
    );
}

#[test]
fn inspect_refusing_a_missing_file_is_an_error_not_a_verdict() {
    let replay = Replay::bundled("tiny-qwen2")
        .quant(Quant::F32)
        .answer("inspect", capture("inspect_missing"));
    let error = replay.run("INS001").unwrap_err();
    assert_eq!(error.class(), tmgt_check::ErrorClass::Exit, "{error}");
}
