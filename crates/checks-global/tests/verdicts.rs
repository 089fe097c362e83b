//! The global checks' verdicts on replayed apr answers, without apr.

use apr_client::{Captured, Termination};
use checks_global as _;
use tmgt_check::Status;
use tmgt_testkit::{Replay, capture};

fn list_reply(stdout: &str) -> Captured {
    Captured::from_parts(
        vec!["apr".into()],
        Termination::Exited(0),
        stdout.into(),
        Vec::new(),
    )
}

#[test]
fn an_empty_model_list_that_counts_itself_passes() {
    let replay = Replay::bundled("tiny-llama").answer("list", capture("list"));
    let verdict = replay.run("LST001").unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert_eq!(verdict.evidence.count, 3);
}

#[test]
fn a_total_that_disagrees_with_the_list_fails() {
    let reply = list_reply(r#"{"models": [], "total": 2, "total_size_bytes": 0}"#);
    let verdict = Replay::bundled("tiny-llama")
        .answer("list", reply)
        .run("LST001")
        .unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
    assert!(
        verdict.message.contains("total says 2"),
        "{}",
        verdict.message
    );
}

#[test]
fn a_list_that_is_not_json_is_an_error() {
    let reply = list_reply("Models in cache: none\n");
    let error = Replay::bundled("tiny-llama")
        .answer("list", reply)
        .run("LST001")
        .unwrap_err();
    assert_eq!(error.class(), tmgt_check::ErrorClass::NotJson, "{error}");
}
