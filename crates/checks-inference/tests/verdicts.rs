//! The inference checks' verdicts on replayed apr answers, without apr: a pass, a fail, a
//! skip, an error that is not a fail, and a comparison with nothing to compare.

use checks_inference as _;
use tmgt_check::{CheckError, Context, Details, ErrorClass, Quant, Status};
use tmgt_testkit::{Replay, exited, run_reply};

fn oracle_tokens(replay: &Replay) -> Vec<u32> {
    replay.oracle().unwrap().tokens.clone()
}

#[test]
fn quantized_tokens_equal_to_the_oracle_s_pass_with_every_token_as_evidence() {
    let replay = Replay::bundled("tiny-qwen2")
        .quant(Quant::Int8)
        .prompt("code");
    let tokens = oracle_tokens(&replay);
    let replay = replay.answer("run", run_reply(&tokens));
    let verdict = replay.run("TOK001").unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert_eq!(verdict.evidence.count, tokens.len() as u64);
    // The check ran the int8 .apr on the instance's prompt.
    let asked = replay.asked();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].display().contains("apr-int8"),
        "{}",
        asked[0].display()
    );
}

#[test]
fn quantized_tokens_past_the_mismatch_budget_fail_and_say_where() {
    let replay = Replay::bundled("tiny-qwen2")
        .quant(Quant::Int8)
        .prompt("code");
    let mut tokens = oracle_tokens(&replay);
    for t in &mut tokens[8..] {
        *t = (*t + 7) % 2048;
    }
    let verdict = replay
        .answer("run", run_reply(&tokens))
        .run("TOK001")
        .unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
    assert!(verdict.message.contains("step 8"), "{}", verdict.message);
    assert_eq!(
        verdict.details.tokens().unwrap().first_divergence(),
        Some(8)
    );
}

#[test]
fn an_apr_panic_is_an_error_of_its_own_class_not_a_failed_check() {
    let replay = Replay::bundled("tiny-llama")
        .quant(Quant::Int4)
        .prompt("greeting");
    let panic = exited(
        101,
        "thread 'main' panicked at src/lib.rs:1:1:\nindex out of range",
    );
    let error = replay.answer("run", panic).run("TOK001").unwrap_err();
    assert_eq!(error.class(), ErrorClass::Panic, "{error}");
}

#[test]
fn the_canary_is_outside_an_entry_without_an_int8_level_and_asks_apr_nothing() {
    let replay = Replay::bundled("tiny-llama")
        .quants(&[Quant::F32, Quant::Int4])
        .prompt("code");
    let outside = replay.run("CAN001").unwrap_err();
    assert!(
        matches!(&outside, CheckError::OutsideEntry(why) if why.contains("no int8 level")),
        "{outside}"
    );
    assert!(replay.asked().is_empty());
}

#[test]
fn a_round_trip_whose_original_generates_nothing_compared_nothing() {
    let replay = Replay::bundled("tiny-gpt2")
        .prompt("completion")
        .answer("run", run_reply(&[]));
    let error = replay.run("RTP001").unwrap_err();
    assert!(matches!(error, CheckError::NoEvidence(_)), "{error}");
}

#[test]
fn a_round_trip_that_keeps_every_token_passes() {
    let replay = Replay::bundled("tiny-gpt2").prompt("completion");
    let tokens = oracle_tokens(&replay);
    let verdict = replay
        .answer("run", run_reply(&tokens))
        .run("RTP001")
        .unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert!(verdict.evidence.count > 0);
}

#[test]
fn details_read_back() {
    // A token judgement reads back from report.json as it was written, window and all.
    let replay = Replay::bundled("tiny-qwen2")
        .quant(Quant::Int8)
        .prompt("code");
    let mut tokens = oracle_tokens(&replay);
    tokens[8] = (tokens[8] + 7) % 2048;
    let verdict = replay
        .answer("run", run_reply(&tokens))
        .run("TOK001")
        .unwrap();
    let json = serde_json::to_value(&verdict.details).unwrap();
    assert_eq!(json["kind"], "tokens", "{json}");
    let read: Details = serde_json::from_value(json).unwrap();
    assert_eq!(read, verdict.details);
    let judged = read.tokens().expect("a token judgement");
    assert_eq!(judged.tokens, tokens);
    assert_eq!(judged.first_divergence(), Some(8));
    assert_eq!(judged.runtime, "apr");
    let window = judged.window.as_ref().expect("a window around step 8");
    assert_eq!((window.start, window.expected.len()), (5, 7));
    assert!(judged.classification.is_some());
}
