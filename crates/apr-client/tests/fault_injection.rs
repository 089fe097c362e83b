//! Fault injection: scripted fake `apr` binaries that hang, fork, flood or crash on demand,
//! which the real apr cannot be made to do. They test the process handling only; everything
//! about apr's behaviour is tested against the real binary in `real_apr.rs`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apr_client::{
    Apr, AprError, Invocation, Limits, Termination, execute_program, parse, resolve_binary_from,
};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Writes an executable fault-injection script.
fn fake(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\n# FAULT INJECTION: fake apr for tests\n{body}"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn fast_limits() -> Limits {
    Limits {
        output_cap: 1 << 20,
        kill_grace: Duration::from_millis(300),
        pipe_grace: Duration::from_millis(300),
    }
}

/// Runs a script, retrying the rare ETXTBSY of executing a file just written while another
/// test thread forks.
fn run_script(script: &Path, args: &[&str], timeout: Duration) -> apr_client::Captured {
    let args: Vec<String> = args.iter().map(|s| (*s).to_string()).collect();
    for _ in 0..20 {
        match execute_program(script, &args, timeout, &fast_limits()) {
            Err(AprError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
    panic!("script kept failing with ETXTBSY");
}

/// Whether a process is gone: no such pid, or a zombie waiting for its (new) parent to reap it.
fn is_gone(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true),
    }
}

fn wait_gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < until, "{} never written", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn captures_streams_exit_code_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake(
        dir.path(),
        "fault_echo.sh",
        "echo \"out $1 $SOVEREIGN_DISABLE_UPDATE_CHECK $NO_COLOR\"\necho 'error: boom' >&2\n\
         cat\nexit 3\n",
    );
    let c = run_script(&script, &["arg"], Duration::from_secs(10));
    assert_eq!(c.termination, Termination::Exited(3));
    assert_eq!(
        c.stdout_text(),
        "out arg 1 1\n",
        "stdin must be null so `cat` ends at once"
    );
    assert_eq!(c.stderr_text(), "error: boom\n");
    assert_eq!(c.argv, [script.display().to_string(), "arg".to_string()]);
    assert_eq!((c.stdout_bytes, c.stderr_bytes), (12, 12));
    assert!(!c.stdout_truncated && !c.strays_killed);
    assert!(c.duration < Duration::from_secs(5));
}

#[test]
fn child_runs_in_its_own_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // Fields 1 and 5 of /proc/self/stat are pid and pgid.
    let script = fake(
        dir.path(),
        "fault_pgid.sh",
        "read -r line < /proc/$$/stat\nset -- ${line##*) }\necho \"$$ $3\"\n",
    );
    let c = run_script(&script, &[], Duration::from_secs(10));
    let text = c.stdout_text();
    let ids: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert_eq!(ids[0], ids[1], "pid must equal pgid: {text}");
}

#[test]
fn timeout_kills_child_and_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let child_pid = dir.path().join("child.pid");
    let grandchild_pid = dir.path().join("grandchild.pid");
    // The child ignores SIGTERM (so SIGKILL is needed) and so does the grandchild.
    let script = fake(
        dir.path(),
        "fault_hang.sh",
        &format!(
            "trap '' TERM\necho $$ > {c}\n(trap '' TERM; sleep 1000) &\necho $! > {g}\n\
             echo started\nsleep 1000\n",
            c = child_pid.display(),
            g = grandchild_pid.display()
        ),
    );
    let start = Instant::now();
    let c = run_script(&script, &[], Duration::from_millis(500));
    let took = start.elapsed();
    assert_eq!(
        c.termination,
        Termination::TimedOut(Duration::from_millis(500))
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(c.stdout_text(), "started\n");
    let (child, grandchild) = (read_pid(&child_pid), read_pid(&grandchild_pid));
    assert!(wait_gone(child), "child {child} survived the timeout");
    assert!(
        wait_gone(grandchild),
        "grandchild {grandchild} survived the timeout"
    );
    // The parser maps it to the timeout error.
    assert!(matches!(parse::run(&c), Err(AprError::TimedOut { .. })));
}

#[test]
fn grandchild_holding_stdout_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let grandchild_pid = dir.path().join("grandchild.pid");
    let script = fake(
        dir.path(),
        "fault_orphan.sh",
        &format!(
            "sleep 1000 &\necho $! > {g}\necho '{{\"ok\": true}}'\nexit 0\n",
            g = grandchild_pid.display()
        ),
    );
    let start = Instant::now();
    let c = run_script(&script, &[], Duration::from_secs(60));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.termination, Termination::Exited(0));
    assert_eq!(c.stdout_text(), "{\"ok\": true}\n");
    assert!(c.strays_killed);
    let grandchild = read_pid(&grandchild_pid);
    assert!(wait_gone(grandchild), "grandchild {grandchild} survived");
}

#[test]
fn huge_output_is_capped_and_killed() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake(dir.path(), "fault_flood.sh", "exec yes 'flooding stdout'\n");
    let start = Instant::now();
    let c = run_script(&script, &[], Duration::from_secs(60));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(c.termination, Termination::OutputLimit(1 << 20));
    assert_eq!(c.stdout.len(), 1 << 20);
    assert!(c.stdout_truncated);
    assert!(c.stdout_bytes >= 1 << 20);
    assert!(matches!(
        parse::inspect(&c),
        Err(AprError::OutputLimit {
            limit: 1_048_576,
            ..
        })
    ));
}

#[test]
fn huge_stderr_from_a_grandchild_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake(
        dir.path(),
        "fault_flood_err.sh",
        "(yes 'flooding stderr' >&2) &\nwait\n",
    );
    let c = run_script(&script, &[], Duration::from_secs(60));
    assert_eq!(c.termination, Termination::OutputLimit(1 << 20));
    assert!(c.stderr_truncated && !c.stdout_truncated);
}

#[test]
fn foreign_signal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake(dir.path(), "fault_segv.sh", "kill -SEGV $$\nsleep 5\n");
    let c = run_script(&script, &[], Duration::from_secs(10));
    assert_eq!(c.termination, Termination::Signaled(11));
    assert!(matches!(
        parse::eval(&c),
        Err(AprError::Signaled { signal: 11, .. })
    ));
}

#[test]
fn garbage_and_silence_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = fake(dir.path(), "fault_garbage.sh", "echo 'not json at all'\n");
    let c = run_script(&garbage, &[], Duration::from_secs(10));
    assert!(
        matches!(parse::tensors(&c), Err(AprError::NotJson { snippet }) if snippet == "not json at all")
    );
    let silent = fake(
        dir.path(),
        "fault_silent_fail.sh",
        "echo 'error: File not found: /x' >&2\nexit 3\n",
    );
    let c = run_script(&silent, &[], Duration::from_secs(10));
    match parse::inspect(&c) {
        Err(AprError::Exit {
            code: 3,
            meaning,
            stderr_tail,
        }) => {
            assert!(meaning.contains("not found"));
            assert_eq!(stderr_tail, "error: File not found: /x");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spawn_failure_is_an_error() {
    let err = execute_program(
        Path::new("/nonexistent/apr"),
        &[],
        Duration::from_secs(1),
        &fast_limits(),
    )
    .unwrap_err();
    assert!(matches!(err, AprError::Spawn { .. }), "{err}");
}

fn open_fake(script: &Path) -> Result<Apr, AprError> {
    for _ in 0..20 {
        match Apr::open(
            script.to_path_buf(),
            &semver::Version::new(0, 72, 0),
            Duration::from_secs(10),
        ) {
            Err(AprError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
    panic!("ETXTBSY");
}

const VERSION_JSON: &str = r#"{"name":"apr","version":"VERSION","git_sha":"abc","cuda_feature":false,"cuda_runtime_available":false,"visible_devices":[]}"#;

#[test]
fn open_checks_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let old = fake(
        dir.path(),
        "fault_old_apr.sh",
        &format!("echo '{}'\n", VERSION_JSON.replace("VERSION", "0.70.1")),
    );
    match open_fake(&old) {
        Err(AprError::UnsupportedVersion { found, minimum }) => {
            assert_eq!((found.as_str(), minimum.as_str()), ("0.70.1", "0.72.0"));
        }
        other => panic!("{other:?}"),
    }
    let good = fake(
        dir.path(),
        "fault_new_apr.sh",
        &format!(
            "[ \"$*\" = '--version --json' ] || exit 2\necho '{}'\n",
            VERSION_JSON.replace("VERSION", "0.72.3")
        ),
    );
    let apr = open_fake(&good).unwrap();
    assert_eq!(apr.version().version, "0.72.3");
    assert_eq!(apr.binary(), std::fs::canonicalize(&good).unwrap());
    // The Apr handle passes the invocation's argv through.
    let c = apr
        .execute(&Invocation::list(), Duration::from_secs(10))
        .unwrap();
    assert_eq!(c.termination, Termination::Exited(2));
    assert_eq!(c.argv[1..], ["--json", "list"]);

    let broken = fake(dir.path(), "fault_broken_apr.sh", "echo 'apr 0.72.3'\n");
    assert!(matches!(open_fake(&broken), Err(AprError::NotJson { .. })));
}

#[test]
fn resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = fake(dir.path(), "apr", "exit 0\n");
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let b = fake(&other, "apr", "exit 0\n");
    let not_exec = dir.path().join("plain");
    std::fs::write(&not_exec, "").unwrap();

    // Explicit wins.
    assert_eq!(
        resolve_binary_from(Some(&b), Some(a.as_os_str()), None).unwrap(),
        std::fs::canonicalize(&b).unwrap()
    );
    // Then the environment variable.
    assert_eq!(
        resolve_binary_from(None, Some(b.as_os_str()), Some(dir.path().as_os_str())).unwrap(),
        std::fs::canonicalize(&b).unwrap()
    );
    // Then PATH.
    let path_var = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
    assert_eq!(
        resolve_binary_from(None, None, Some(&path_var)).unwrap(),
        std::fs::canonicalize(&a).unwrap()
    );
    // Failures name what was tried.
    let e = resolve_binary_from(Some(&not_exec), None, None).unwrap_err();
    assert!(e.to_string().contains("not an executable"), "{e}");
    let e = resolve_binary_from(None, Some(not_exec.as_os_str()), None).unwrap_err();
    assert!(e.to_string().contains("TMGT_APR="), "{e}");
    let e = resolve_binary_from(None, None, Some("/nonexistent".as_ref())).unwrap_err();
    assert!(e.to_string().contains("PATH"), "{e}");
}

#[test]
fn liveness_probe_sees_a_live_process() {
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    assert!(!is_gone(pid), "the probe must see a running process");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(is_gone(pid));
}

#[test]
fn cancellation_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let grandchild_pid = dir.path().join("grandchild.pid");
    let version = VERSION_JSON.replace("VERSION", "0.72.3");
    // Answers --version like apr; any other call hangs with a grandchild.
    let script = fake(
        dir.path(),
        "fault_hang_apr.sh",
        &format!(
            "if [ \"$1\" = --version ]; then echo '{version}'; exit 0; fi\n\
             sleep 1000 &\necho $! > {g}\nwait\n",
            g = grandchild_pid.display()
        ),
    );
    let apr = open_fake(&script).unwrap();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let setter = {
        let cancel = std::sync::Arc::clone(&cancel);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let start = Instant::now();
    let c = apr
        .execute_until(&Invocation::list(), Duration::from_secs(60), &cancel)
        .unwrap();
    setter.join().unwrap();
    assert_eq!(c.termination, Termination::Cancelled);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(wait_gone(read_pid(&grandchild_pid)));
    assert!(matches!(parse::list(&c), Err(AprError::Cancelled { .. })));
    // A flag that is already set cancels before any output is waited for.
    let c = apr
        .execute_until(&Invocation::list(), Duration::from_secs(60), &cancel)
        .unwrap();
    assert_eq!(c.termination, Termination::Cancelled);
}
