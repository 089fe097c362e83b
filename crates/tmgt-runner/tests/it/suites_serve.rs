//! The serve suite through the built `tmgt` with the real `apr serve` on the bundled models:
//! verdicts with their evidence, what apr 0.72.3's server gets wrong named, and no server left
//! behind after a run, an interrupted run or a killed tmgt.

use crate::common::{
    interrupt_once_running, link_repository_data, processes_named, real_apr, repo_root, run_report,
};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn results<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == code)
        .collect()
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

/// Servers of files under `dir`.
fn servers_under(dir: &std::path::Path) -> Vec<String> {
    processes_named(&dir.display().to_string())
        .into_iter()
        .filter(|p| p.contains(" serve run "))
        .collect()
}

#[test]
fn the_serve_suite_judges_the_bundled_models_and_leaves_no_server() {
    let (_, report) = run_report(&repo_root(), &["--filter", "suite=serve"]);
    for r in report["results"].as_array().unwrap() {
        if ["pass", "fail"].contains(&r["verdict"].as_str().unwrap()) {
            assert!(r["evidence"]["count"].as_u64().unwrap() > 0, "{r}");
        }
    }
    // One engine behind two front ends: serve and run agree token for token.
    for r in results(&report, "SRV005") {
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    for r in results(&report, "SRV010") {
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    // apr 0.72.3's greedy longest-match encoder, named with both pieces.
    for r in results(&report, "SRV001") {
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(
            message(r).contains(
                "the evaluation text: 364 ids where HF has 361; at position 38: \"Ġun\" (602) where HF has \"Ġu\" (385)"
            ),
            "{r}"
        );
    }
    for r in results(&report, "SRV011") {
        assert!(
            message(r).contains("stop as a string is refused with 422"),
            "{r}"
        );
    }
    for r in results(&report, "SRV012") {
        assert!(message(r).contains("the seed is ignored"), "{r}");
    }
    for r in results(&report, "SRV015") {
        assert_eq!(r["verdict"], "fail", "{r}");
        let said = message(r);
        assert!(
            said.contains("a truncated .apr: ready, answering /health")
                && said.contains("a missing file: exited 3"),
            "{r}"
        );
    }
    // Every request a result used is kept beside its apr calls, with its curl line.
    let request = &results(&report, "SRV013")[0]["requests"][0];
    assert!(
        request["curl"]
            .as_str()
            .unwrap()
            .starts_with("curl -s -X POST 'http://127.0.0.1:"),
        "{request}"
    );
    assert!(
        request["server"].as_str().unwrap().contains(" serve run "),
        "{request}"
    );
    let artifacts = repo_root().join(".tmgt/artifacts");
    assert!(
        servers_under(&artifacts).is_empty(),
        "{:?}",
        servers_under(&artifacts)
    );
}

/// A project whose artifacts (and so its servers' command lines) are under its own folder.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::copy(
        repo_root().join("suites.toml"),
        dir.path().join("suites.toml"),
    )
    .unwrap();
    dir
}

fn serving_run(dir: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args([
            "run",
            "--no-known-issues",
            "--filter",
            "suite=serve model=tiny-qwen2",
            "--out",
        ])
        .arg(dir.join("out"))
        .current_dir(dir)
        .env("TMGT_APR", real_apr())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn none_within(dir: &std::path::Path, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if servers_under(dir).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn an_interrupted_run_stops_its_servers_and_writes_its_report() {
    let dir = project();
    let mut child = serving_run(dir.path());
    let marker = format!("serve run {}", dir.path().display());
    let (status, took) = interrupt_once_running(&mut child, &marker);
    assert_eq!(status.code(), Some(3), "an interrupted run exits 3");
    assert!(took < Duration::from_secs(15), "took {took:?} to stop");
    assert!(
        none_within(dir.path(), Duration::from_secs(2)),
        "{:?}",
        servers_under(dir.path())
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], true);
}

#[test]
fn a_killed_tmgt_takes_its_servers_with_it() {
    let dir = project();
    let mut child = serving_run(dir.path());
    let marker = format!("serve run {}", dir.path().display());
    let started = Instant::now();
    while processes_named(&marker).is_empty() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!processes_named(&marker).is_empty(), "no server started");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        none_within(dir.path(), Duration::from_secs(5)),
        "{:?}",
        servers_under(dir.path())
    );
}
