//! A check that panics loses its own result and nothing else: the run goes on, writes its
//! report, and the lost result is a `harness-panic` error carrying the panic's message. The
//! panicking check is declared here (FAULT INJECTION ONLY), so no other test binary sees it.

mod common;
use common::{link_repository_data, repo_root, run_in_process};

use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict};

tmgt_check::declare_check! {
    /// FAULT INJECTION ONLY: panics on the tiny Qwen2, passes on every other model.
    pub PanicsOnQwen2 { code: "PAN001", name: "panics-on-qwen2", suite: "panics", scope: Scope::Model,
        summary: "Panics on tiny-qwen2 (fault injection)" }
}

impl Check for PanicsOnQwen2 {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        assert_ne!(model.name, "tiny-qwen2", "planted panic on {}", model.name);
        Ok(Verdict::pass(Evidence::new(1u64, "model"), "did not panic"))
    }
}

#[test]
fn a_panicking_check_costs_its_own_result_only() {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let file = dir.path().join("suites.toml");
    std::fs::copy(repo_root().join("suites.toml"), &file).unwrap();
    let out = dir.path().join("out");
    let (exit, report) = run_in_process(&file, &out, "suite=panics");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    for r in results {
        if r["model"] == "tiny-qwen2" {
            assert_eq!(r["verdict"], "error", "{r}");
            assert_eq!(r["error_class"], "harness-panic", "{r}");
            let message = r["message"].as_str().unwrap();
            assert!(message.contains("planted panic on tiny-qwen2"), "{message}");
        } else {
            assert_eq!(r["verdict"], "pass", "{r}");
        }
    }
    assert_eq!(exit as u8, tmgt_runner::Exit::ChecksFailed as u8);
}
