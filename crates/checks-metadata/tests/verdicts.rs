//! The metadata checks' verdicts on the committed native GGUFs, without apr.

use checks_metadata as _;
use tmgt_check::{ArtifactKind, NativeGguf, Quant, Status};
use tmgt_testkit::{Replay, repo_root};

const NATIVE: ArtifactKind = ArtifactKind::Native(NativeGguf::F32);

/// tiny-qwen2 whose only file is `native` (apr's files unavailable, as when apr refused them).
fn native_only(native: &str) -> Replay {
    let refused = "apr refused it (replayed)";
    Replay::bundled("tiny-qwen2")
        .unavailable(ArtifactKind::Apr(Quant::F32), refused)
        .unavailable(ArtifactKind::Gguf, refused)
        .artifact_at(NATIVE, &repo_root().join(native))
}

#[test]
fn llama_cpp_s_own_conversion_states_the_model_s_shape() {
    let verdict = native_only("native/tiny-qwen2/f32.gguf")
        .run("MET001")
        .unwrap();
    assert_eq!(verdict.status, Status::Pass, "{}", verdict.message);
    assert!(verdict.evidence.count > 0);
}

#[test]
fn another_model_s_file_misstates_the_shape() {
    let verdict = native_only("native/tiny-llama/f32.gguf")
        .run("MET001")
        .unwrap();
    assert_eq!(verdict.status, Status::Fail, "{}", verdict.message);
}
