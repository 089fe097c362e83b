//! The workers' own life: they report what they cost, are kept between calls, end at
//! shutdown, at an interruption, and with the process that started them. The pool's test is
//! the only one here that uses the pool, so no other test's worker is in flight.

use llamacpp_runtime::{GenerateRequest, LlamaError, PromptInput, generate};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn workers_are_reused_report_their_own_memory_end_at_shutdown_and_at_interruption() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../native/tiny-llama/f32.gguf");
    let request = GenerateRequest {
        model,
        prompt: PromptInput::Text("Once upon a time".into()),
        max_new_tokens: 4,
        top_k: 5,
    };
    generate(&request).unwrap();
    generate(&request).unwrap();
    let usage = llamacpp_runtime::usage();
    assert_eq!(
        usage.workers, 1,
        "the second call reuses the first worker: {usage:?}"
    );
    // A worker holds llama.cpp's backend and a model: megabytes, from its own VmHWM.
    assert!(usage.peak_worker_rss_kb > 1024, "{usage:?}");
    let workers = worker_pids();
    assert_eq!(
        workers.len(),
        1,
        "the idle worker is kept for the next call"
    );
    llamacpp_runtime::shutdown();
    let deadline = Instant::now() + Duration::from_secs(5);
    while workers.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<_> = workers.iter().filter(|pid| alive(**pid)).collect();
    assert!(left.is_empty(), "workers left after shutdown: {left:?}");

    // An interruption ends the call in flight and its worker; the next call starts afresh.
    let interrupted = Arc::new(AtomicBool::new(true));
    llamacpp_runtime::cancel_with(Arc::clone(&interrupted));
    let err = generate(&request).unwrap_err();
    assert!(matches!(err, LlamaError::Cancelled { .. }), "{err}");
    assert!(worker_pids().is_empty(), "the interrupted worker is gone");
    interrupted.store(false, Ordering::SeqCst);
    generate(&request).unwrap();
    assert_eq!(llamacpp_runtime::usage().workers, 3);
}

/// This process's children that are llama.cpp workers.
fn worker_pids() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
            let ppid = after.split_whitespace().nth(1).unwrap_or("");
            stat.contains("(tmgt-llama-work") && ppid == me
        })
        .collect()
}

/// Whether `pid` is a live process (a zombie counts as ended).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        == Some(false)
}

#[test]
fn a_worker_ends_with_the_process_that_started_it_even_with_its_stdin_open() {
    let worker = llamacpp_runtime::worker_binary().unwrap();
    // A parent that starts a worker, prints its pid, and is then killed outright while the
    // worker's stdin (this test's pipe) stays open.
    let mut parent = std::process::Command::new("sh")
        .arg("-c")
        // An asynchronous command's stdin is /dev/null unless redirected: fd 3 carries ours.
        .arg(r#"exec 3<&0; "$0" <&3 3<&- >/dev/null & echo $!; exec sleep 30"#)
        .arg(worker)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    // Held to the end: `wait` would close it, and a closed stdin ends a worker anyway.
    let _stdin = parent.stdin.take();
    std::thread::sleep(Duration::from_millis(300));
    let started = alive(pid);
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(started, "the worker did not start");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the worker outlived its parent");
}
