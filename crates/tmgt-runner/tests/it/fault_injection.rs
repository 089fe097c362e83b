//! Nothing a broken apr does stops a run. A scripted fake apr (tests/fault-injection/apr, used
//! only here) hangs, dies by a signal, panics, prints garbage or floods, or leaves a grandchild
//! holding its output; each time the run finishes within its timeouts, the affected results
//! are errors that name the fault, the other results are untouched, and no process is left.

use crate::common::{interrupt_once_running, processes_named};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fake_apr() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault-injection/apr")
}

/// A self-contained project: one fake model, one prompt, a reference-format oracle, and a
/// config running the `list` suite (untouched by the faults) and the `runtime` suite (hit).
fn project(run_timeout_s: u64) -> tempfile::TempDir {
    project_with(run_timeout_s, r#"["list", "runtime"]"#)
}

/// The same project running the `enabled` suites.
fn project_with(run_timeout_s: u64, enabled: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("model")).unwrap();
    std::fs::write(
        p.join("model/config.json"),
        r#"{"model_type":"qwen2","num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"hidden_size":64,"vocab_size":2048}"#,
    )
    .unwrap();
    std::fs::write(p.join("model/model.safetensors"), b"not used by the fake").unwrap();
    std::fs::create_dir_all(p.join("oracle")).unwrap();
    std::fs::write(
        p.join("oracle/hello.json"),
        r#"{"model":"fake","model_slug":"fake","prompt":"Hello","tokens":[1,2],"text":"a b","max_new_tokens":2}"#,
    )
    .unwrap();
    std::fs::write(p.join("hello.txt"), "Hello").unwrap();
    std::fs::write(p.join("eval.txt"), "Some text.").unwrap();
    let config = format!(
        r#"
[apr]
binary = "{}"
version = "0.72.3"
min_version = "0.72.3"
[run]
max_new_tokens = 2
jobs = 2
profile = "default"
[paths]
artifacts = "artifacts"
out = "out"
eval_text = "eval.txt"
[timeouts]
default = 10
import = 10
export = 10
run = {run_timeout_s}
[prompts]
hello = "hello.txt"
[suites]
enabled = {enabled}
[models.fake]
source = "model"
oracle = "oracle"
quants = ["f32"]
ppl_ceiling = 100.0
[profiles.default]
models = ["fake"]
"#,
        fake_apr().display()
    );
    std::fs::write(p.join("suites.toml"), config).unwrap();
    dir
}

fn tmgt(dir: &Path, fault: &str, marker: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tmgt"));
    cmd.args(["run", "--config", "suites.toml"])
        .current_dir(dir)
        .env("FAKE_APR_FAULT", fault)
        .env("FAKE_APR_MARKER", marker)
        .env_remove("TMGT_APR")
        .env("NO_COLOR", "1");
    cmd
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).expect("report.json"))
        .unwrap()
}

fn run_fault(fault: &str, run_timeout_s: u64) -> (Output, Value, Duration) {
    let dir = project(run_timeout_s);
    let marker = format!("tmgt-fault-{fault}-{}", std::process::id());
    let started = Instant::now();
    let out = tmgt(dir.path(), fault, &marker).output().unwrap();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        processes_named(&marker),
        Vec::<String>::new(),
        "{fault}: processes left behind"
    );
    (out, report(dir.path()), took)
}

/// Runs one fault and checks the shape every fault shares; returns the runtime results' messages.
fn assert_contained(fault: &str, class: &str, run_timeout_s: u64, limit: Duration) -> Vec<String> {
    let (out, report, took) = run_fault(fault, run_timeout_s);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < limit, "{fault}: the run took {took:?}\n{stderr}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{fault}: errors fail the run\n{stderr}"
    );
    let results = report["results"].as_array().unwrap();
    let list: Vec<&Value> = results.iter().filter(|r| r["suite"] == "list").collect();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["verdict"], "pass",
        "{fault}: an unaffected check changed: {}",
        list[0]
    );
    let runtime: Vec<&Value> = results.iter().filter(|r| r["suite"] == "runtime").collect();
    assert_eq!(runtime.len(), 2, "{fault}: {results:?}");
    runtime
        .iter()
        .map(|r| {
            assert_eq!(r["verdict"], "error", "{fault}: {r}");
            assert_eq!(r["error_class"], class, "{fault}: {r}");
            r["message"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_hanging_apr_times_out() {
    for m in assert_contained("hang", "timeout", 2, Duration::from_secs(20)) {
        assert!(m.contains("timed out after 2s"), "{m}");
        // Which limit applied, and where to raise it.
        assert!(
            m.contains("(limit: [timeouts].run = 2 s; raise [timeouts].run in ")
                && m.contains("suites.toml)"),
            "{m}"
        );
    }
}

#[test]
fn half_a_json_document_then_a_hang_times_out() {
    for m in assert_contained("half-json", "timeout", 2, Duration::from_secs(20)) {
        assert!(m.contains("timed out"), "{m}");
    }
}

#[test]
fn death_by_sigsegv_is_named() {
    for m in assert_contained("segv", "signal", 10, Duration::from_secs(20)) {
        assert!(m.contains("signal 11"), "{m}");
    }
}

#[test]
fn a_panic_is_named_with_its_text() {
    for m in assert_contained("panic", "panic", 10, Duration::from_secs(20)) {
        assert!(m.contains("101") && m.contains("panicked"), "{m}");
    }
}

#[test]
fn garbage_output_is_not_json() {
    for m in assert_contained("garbage", "not-json", 10, Duration::from_secs(20)) {
        assert!(m.contains("not json"), "{m}");
    }
}

#[test]
fn a_flood_of_output_hits_the_limit() {
    for m in assert_contained("flood", "output-limit", 30, Duration::from_secs(40)) {
        assert!(m.contains("bytes and was killed"), "{m}");
    }
}

#[test]
fn a_grandchild_holding_stdout_is_killed_and_named() {
    for m in assert_contained("grandchild", "stray-processes", 10, Duration::from_secs(20)) {
        assert!(m.contains("left processes"), "{m}");
    }
}

#[test]
fn sigint_stops_the_run_and_writes_what_finished() {
    let dir = project(300);
    let marker = format!("tmgt-fault-interrupt-{}", std::process::id());
    let mut child = tmgt(dir.path(), "hang", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the hanging runs have started.
    let (status, took) = interrupt_once_running(&mut child, &marker);
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert_eq!(status.code(), Some(3));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        processes_named(&marker),
        Vec::<String>::new(),
        "apr processes outlived the interruption"
    );
    let report = report(dir.path());
    assert_eq!(report["interrupted"], true);
    let results = report["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["suite"] == "list" && r["verdict"] == "pass"),
        "{results:?}"
    );
    assert!(
        results.iter().all(|r| r["suite"] != "runtime"),
        "unfinished results were reported: {results:?}"
    );
    assert_eq!(report["summary"]["not_run"], 2);
    // No temporary report file is left beside the real one.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

/// The files left under a run's scratch folder.
fn scratch_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("out/scratch"), &mut out);
    out
}

#[test]
fn an_apr_crash_mid_import_leaves_no_scratch_behind() {
    let dir = project_with(10, r#"["list", "prepare"]"#);
    let marker = format!("tmgt-fault-import-segv-{}", std::process::id());
    let out = tmgt(dir.path(), "import-segv", &marker).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = report(dir.path());
    let results = report["results"].as_array().unwrap();
    let reproducible = results
        .iter()
        .find(|r| r["code"] == "PRE004")
        .expect("PRE004 ran");
    assert_eq!(reproducible["verdict"], "error", "{reproducible}");
    assert_eq!(reproducible["error_class"], "signal", "{reproducible}");
    assert_eq!(scratch_files(dir.path()), Vec::<PathBuf>::new());
    assert!(!dir.path().join("out/scratch").exists());
    assert_eq!(report["harness"]["scratch_left_bytes"], 0);
}

#[test]
fn sigint_during_a_scratch_import_leaves_no_scratch_behind() {
    let dir = project_with(300, r#"["list", "prepare"]"#);
    let marker = format!("tmgt-fault-import-hang-{}", std::process::id());
    let mut child = tmgt(dir.path(), "import-hang", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the scratch import hangs with its half-written output on disk.
    let started = Instant::now();
    while (processes_named(&marker).is_empty() || scratch_files(dir.path()).is_empty())
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !scratch_files(dir.path()).is_empty(),
        "the scratch import never started"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert_eq!(scratch_files(dir.path()), Vec::<PathBuf>::new());
    assert!(!dir.path().join("out/scratch").exists());
    let report = report(dir.path());
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["harness"]["scratch_left_bytes"], 0);
}

#[test]
fn a_run_the_disk_cannot_hold_is_refused_before_any_apr_work() {
    let dir = project(10);
    // A sparse source as big as the free space: its artifacts (1.25 times the source for
    // each of three f32-sized files) cannot fit.
    let stat = nix::sys::statvfs::statvfs(dir.path()).unwrap();
    let free = stat.blocks_available() * stat.fragment_size();
    let source = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("model/model.safetensors"))
        .unwrap();
    source.set_len(free.min(15_000_000_000_000)).unwrap();
    drop(source);
    let marker = format!("tmgt-fault-disk-{}", std::process::id());
    let out = tmgt(dir.path(), "", &marker).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the run needs about"), "{stderr}");
    assert!(stderr.contains("GB are free"), "{stderr}");
    assert!(stderr.contains("help: free space there"), "{stderr}");
    assert!(!dir.path().join("out/report.json").exists());
    assert!(!dir.path().join("artifacts/fake").exists(), "apr ran");
}
