//! The localize checks' verdicts on replayed apr answers, without apr.

use checks_localize as _;
use tmgt_check::{CheckError, Context, ErrorClass, Status};
use tmgt_testkit::{Replay, exited, run_reply};

/// tiny-qwen2 whose f32 `.apr` answers every prompt with the oracle's own tokens.
fn faithful() -> Replay {
    let oracles = Replay::bundled("tiny-qwen2");
    let answers: Vec<(String, Vec<u32>)> = (0..oracles.prompts().len())
        .map(|i| {
            let oracle = oracles.prompt_oracle(i).unwrap();
            (oracle.prompt.clone(), oracle.tokens.clone())
        })
        .collect();
    Replay::bundled("tiny-qwen2").answer_with("run", move |call| {
        let (_, tokens) = answers
            .iter()
            .find(|(prompt, _)| call.args().iter().any(|a| a.ends_with(prompt.as_str())))
            .expect("a prompt of the run");
        run_reply(tokens)
    })
}

#[test]
fn a_model_that_reproduces_every_prompt_has_nothing_to_localize() {
    let replay = faithful();
    let verdict = replay.run("LOC001").unwrap();
    assert_eq!(verdict.status, Status::Skip, "{}", verdict.message);
    assert!(
        verdict.message.contains("nothing to localize"),
        "{}",
        verdict.message
    );
    assert_eq!(
        replay.asked().len(),
        replay.prompts().len(),
        "one run per prompt, no trace"
    );
}

#[test]
fn a_diverging_model_apr_cannot_trace_is_skipped_with_apr_s_reason() {
    let replay = Replay::bundled("tiny-qwen2")
        .answer("run", run_reply(&[7, 7, 7]))
        .answer(
            "trace",
            exited(101, "thread 'main' panicked at src/trace.rs:1:1"),
        );
    let verdict = replay.run("LOC001").unwrap();
    assert_eq!(verdict.status, Status::Skip, "{}", verdict.message);
    let said = "apr cannot trace the f32 .apr: exit 101";
    assert!(verdict.message.contains(said), "{}", verdict.message);
}

#[test]
fn a_model_without_a_stage_oracle_does_not_apply() {
    let elsewhere = tmgt_testkit::repo_root().join("prompts");
    let replay = Replay::bundled("tiny-qwen2").oracle_dir(&elsewhere);
    let error: CheckError = replay.run("LOC001").unwrap_err();
    assert_eq!(error.class(), ErrorClass::NotApplicable, "{error}");
    assert!(
        error.to_string().contains("tmgt oracle --stage-ids"),
        "{error}"
    );
}
