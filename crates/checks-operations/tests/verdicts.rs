//! The operations checks' verdicts on apr's captured plans, without apr.

use checks_operations as _;
use tmgt_check::{ArtifactKind, Quant, Status};
use tmgt_testkit::{Replay, capture, exited};

/// The captured plan merged tiny-llama's f32 `.apr` with itself: 1,381,124 bytes each.
const APR_BYTES: u64 = 2_762_248 / 2;

#[test]
fn a_merge_plan_that_states_the_inputs_as_they_are_passes() {
    let replay = Replay::bundled("tiny-llama")
        .artifact_of_len(ArtifactKind::Apr(Quant::F32), APR_BYTES)
        .answer("merge", capture("merge_plan_apr_llama"));
    let verdict = replay.run("MRG006").unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert_eq!(verdict.evidence.count, 4);
}

#[test]
fn a_merge_plan_that_counts_bytes_the_inputs_do_not_hold_fails() {
    let replay = Replay::bundled("tiny-llama")
        .artifact_of_len(ArtifactKind::Apr(Quant::F32), APR_BYTES - 1)
        .answer("merge", capture("merge_plan_apr_llama"));
    let verdict = replay.run("MRG006").unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
    assert!(
        verdict
            .message
            .contains("total_input_size 2762248 where the inputs hold 2762246"),
        "{}",
        verdict.message
    );
}

#[test]
fn a_merge_apr_refuses_is_judged_as_a_refusal() {
    let replay = Replay::bundled("tiny-llama")
        .artifact_of_len(ArtifactKind::Apr(Quant::F32), APR_BYTES)
        .answer(
            "merge",
            exited(5, "error: Validation failed: unsupported strategy"),
        );
    let verdict = replay.run("MRG006").unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
    assert!(verdict.message.contains("exit"), "{}", verdict.message);
}
