//! The engine shares identical apr calls and never shares a call whose input changed, with the
//! real apr on a bundled native GGUF.

use crate::common;

use apr_client::{Apr, Invocation};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tmgt_runner::config::Timeouts;
use tmgt_runner::engine::Engine;

fn engine(reuse: bool) -> Engine {
    let limit = Duration::from_secs(60);
    let apr = Apr::open(common::real_apr(), &semver::Version::new(0, 1, 0), limit).unwrap();
    let timeouts = Timeouts {
        default: limit,
        import: limit,
        export: limit,
        run: limit,
        llamacpp: limit,
        serve: limit,
        reference_bytes: 64_000_000,
        scale: true,
    };
    Engine::new(apr, timeouts, reuse, Arc::new(AtomicBool::new(false))).unwrap()
}

#[test]
fn identical_calls_run_once_and_a_rewritten_input_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.gguf");
    let original = common::repo_root().join("native/tiny-qwen2/f32.gguf");
    std::fs::copy(&original, &model).unwrap();
    let engine = engine(true);
    let validate = Invocation::validate(&model).unwrap();

    let (first, used) = engine.call(&validate).unwrap();
    assert!(!used.reused);
    let (second, again) = engine.call(&validate).unwrap();
    assert!(again.reused, "an identical call ran twice");
    assert_eq!(again.id, used.id);
    assert!(Arc::ptr_eq(&first, &second));

    // Same path, same size, other bytes: the earlier result must not be handed out.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&model, &bytes).unwrap();
    let (third, changed) = engine.call(&validate).unwrap();
    assert!(!changed.reused, "a call on a rewritten input was reused");
    assert_ne!(changed.id, used.id);
    assert_ne!(
        first.exit_code(),
        third.exit_code(),
        "apr saw the same file twice"
    );
    assert_eq!(engine.records().len(), 2);
}

#[test]
fn without_reuse_every_request_runs() {
    let model = common::repo_root().join("native/tiny-qwen2/f32.gguf");
    let engine = engine(false);
    let validate = Invocation::validate(&model).unwrap();
    for _ in 0..2 {
        let (_, used) = engine.call(&validate).unwrap();
        assert!(!used.reused);
    }
    assert_eq!(engine.records().len(), 2);
}
