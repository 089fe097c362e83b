//! Helpers the runner's integration tests share: where the repository is, which real apr to
//! use, and how to run the built `tmgt` in a project folder.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (models, oracles, prompts, suites.toml).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The real apr: `$TMGT_APR`, else `apr` on PATH. These tests run the real thing, so its
/// absence is a failure with the fix in the message, never a skip.
pub fn real_apr() -> PathBuf {
    let apr = std::env::var_os("TMGT_APR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("apr"))
                    .find(|p| p.is_file())
            })
        })
        .expect("these tests need the real apr: run scripts/install-apr or set TMGT_APR");
    apr.canonicalize().unwrap()
}

/// Links the repository's models, oracles, operations figures, prompts and llama.cpp's
/// conversions into `dir`, so a test's own suites.toml there resolves them.
pub fn link_repository_data(dir: &Path) {
    for link in ["models", "oracle", "oracle-ops", "prompts", "native"] {
        std::os::unix::fs::symlink(repo_root().join(link), dir.join(link)).unwrap();
    }
}

/// The configuration with the default profile's `models` (however laid out) replaced by
/// `models`.
pub fn default_profile_models(config: &str, models: &[&str]) -> String {
    let profile = config
        .find("[profiles.default]")
        .expect("the configuration has a default profile");
    let start = profile
        + config[profile..]
            .find("\nmodels = [")
            .expect("the default profile lists its models")
        + 1;
    let end = start + config[start..].find(']').expect("the models list ends") + 1;
    let list: Vec<String> = models.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "{}models = [{}]{}",
        &config[..start],
        list.join(", "),
        &config[end..]
    )
}

/// The configuration without the profiles' `ladders`: for projects that lack the wide models or
/// whose llama.cpp worker cannot make their rungs.
pub fn without_ladders(config: &str) -> String {
    config
        .lines()
        .filter(|line| !line.starts_with("ladders = "))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Runs the built `tmgt` in `dir` with the real apr and no colour.
pub fn tmgt_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(args)
        .current_dir(dir)
        .env("TMGT_APR", real_apr())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Runs the built `tmgt` at the repository root (its suites.toml), with the apr it resolves
/// itself; fails with the fix when no apr is found.
pub fn tmgt_at_root(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("apr binary not found"),
        "these tests need the real apr: run scripts/install-apr or set TMGT_APR\n{stderr}"
    );
    out
}

/// Runs `tmgt run --out TMP --no-known-issues ARGS...` in `dir` with the real apr and returns
/// its exit code and report.json, asserting that the run left no scratch behind.
pub fn run_report(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let mut all = vec!["run", "--out", &out_arg, "--no-known-issues"];
    all.extend_from_slice(args);
    let output = tmgt_in(dir, &all);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    assert!(
        !out.path().join("scratch").exists(),
        "scratch left behind; stderr:\n{stderr}"
    );
    assert_eq!(report["harness"]["scratch_left_bytes"], 0, "{stderr}");
    (output.status.code().unwrap_or(-1), report)
}

/// Held by each test that runs the real model, for as long as it runs: one at a time, as when
/// each module was a test binary of its own, so two never fetch the same files at once or hold
/// two real runs' scratch and memory together.
pub fn real_model_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Live processes whose command line carries `marker`, as `pid: command line`.
pub fn processes_named(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Sends SIGINT to a running `tmgt` once a process named `marker` exists (at most 60 s),
/// and waits for it: its exit status and how long it took to stop after the signal.
pub fn interrupt_once_running(
    child: &mut std::process::Child,
    marker: &str,
) -> (std::process::ExitStatus, std::time::Duration) {
    use std::time::{Duration, Instant};
    let started = Instant::now();
    while processes_named(marker).is_empty() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !processes_named(marker).is_empty(),
        "`{marker}` never started"
    );
    let signalled = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    (status, signalled.elapsed())
}

/// `tmgt run` with its arguments, parsed as the binary parses them.
#[derive(clap::Parser)]
struct RunCommand {
    #[command(flatten)]
    run: tmgt_runner::run::RunArgs,
}

/// Runs `tmgt run --config CONFIG --out OUT --apr <real apr> --no-known-issues --filter
/// FILTER` in this process, so checks the test binary itself registers run too; returns the
/// exit code and report.json.
pub fn run_in_process(
    config: &Path,
    out: &Path,
    filter: &str,
) -> (tmgt_runner::Exit, serde_json::Value) {
    use clap::Parser;
    let apr = real_apr();
    let args = [
        "tmgt",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--apr",
        apr.to_str().unwrap(),
        "--no-known-issues",
        "--filter",
        filter,
    ];
    let exit = tmgt_runner::run::run(&RunCommand::parse_from(args).run);
    let report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (exit, report)
}
