//! Running a child process with captured, capped output and a group-wide timeout.
//!
//! The child is spawned through `duct` in a new process group. Its stdout and stderr go to
//! pipes that two threads drain into capped buffers. A timeout, an over-long output, or a
//! grandchild that keeps the pipes open after the child exited all end the same way: SIGTERM to
//! the whole group, a grace period, then SIGKILL to the group. `duct`'s own `kill()` only
//! reaches the direct child, so it is not used.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, pipe2};
use serde::Serialize;

use crate::AprError;

/// How often a cancellable call looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Default cap on each of stdout and stderr.
pub const DEFAULT_OUTPUT_CAP: usize = 32 * 1024 * 1024;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Termination {
    /// The process exited on its own with this code.
    Exited(i32),
    /// The process was killed by this signal, not by the client.
    Signaled(i32),
    /// The client killed the process group after this time limit.
    TimedOut(#[serde(with = "duration_secs")] Duration),
    /// The client killed the process group because a stream passed this many bytes.
    OutputLimit(u64),
    /// The client killed the process group because the caller cancelled the call (SIGINT).
    Cancelled,
}

impl Termination {
    /// The exit code when the process exited on its own.
    #[must_use]
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Termination::Exited(code) => Some(*code),
            _ => None,
        }
    }
}

/// Limits applied to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum bytes kept per stream; passing it kills the group.
    pub output_cap: usize,
    /// Time between SIGTERM and SIGKILL to the group.
    pub kill_grace: Duration,
    /// How long the pipes may stay open after the child exited (a grandchild holding them)
    /// before the group is killed.
    pub pipe_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            output_cap: DEFAULT_OUTPUT_CAP,
            kill_grace: Duration::from_secs(1),
            pipe_grace: Duration::from_millis(500),
        }
    }
}

/// Raw record of one call, for reports and reproduction.
#[derive(Clone, Debug, Serialize)]
pub struct Captured {
    /// Full argv, binary first.
    pub argv: Vec<String>,
    /// How it ended.
    pub termination: Termination,
    /// Captured stdout (at most the cap).
    #[serde(serialize_with = "lossy_utf8")]
    pub stdout: Vec<u8>,
    /// Captured stderr (at most the cap).
    #[serde(serialize_with = "lossy_utf8")]
    pub stderr: Vec<u8>,
    /// Wall time from spawn to the end of capture.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    /// Whether stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Total bytes the process wrote to stdout (may exceed `stdout.len()`).
    pub stdout_bytes: u64,
    /// Total bytes the process wrote to stderr (may exceed `stderr.len()`).
    pub stderr_bytes: u64,
    /// Whether processes of the group outlived the child (or held its pipes) and were killed.
    pub strays_killed: bool,
}

impl Captured {
    /// Builds a record from parts, e.g. output captured earlier and stored in files.
    #[must_use]
    pub fn from_parts(
        argv: Vec<String>,
        termination: Termination,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    ) -> Captured {
        Captured {
            argv,
            termination,
            stdout_bytes: stdout.len() as u64,
            stderr_bytes: stderr.len() as u64,
            stdout,
            stderr,
            duration: Duration::ZERO,
            stdout_truncated: false,
            stderr_truncated: false,
            strays_killed: false,
        }
    }

    /// The exit code when the process exited on its own.
    #[must_use]
    pub fn exit_code(&self) -> Option<i32> {
        self.termination.exit_code()
    }

    /// stdout as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The last `max_lines` non-empty lines of stderr, for error messages.
    #[must_use]
    pub fn stderr_tail(&self, max_lines: usize) -> String {
        let text = self.stderr_text();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(max_lines);
        lines[start..].join("\n")
    }
}

/// Process to start: program, arguments and extra environment.
#[derive(Clone, Debug)]
pub(crate) struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
}

/// Builds the `duct` expression for a spec: new process group, stdin null, unchecked exit,
/// environment. Output redirection is added by the caller.
pub(crate) fn expression(spec: &Spec<'_>) -> duct::Expression {
    let mut expr = duct::cmd(spec.program, spec.args)
        .unchecked()
        .stdin_null()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        });
    for (key, value) in spec.env {
        expr = expr.env(key, value);
    }
    expr
}

#[derive(Debug)]
enum Event {
    Exited(std::io::Result<std::process::ExitStatus>),
    Eof,
    Overflow,
}

#[derive(Debug, Default)]
struct Stream {
    buf: Mutex<Vec<u8>>,
    total: AtomicU64,
    truncated: AtomicBool,
}

impl Stream {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn drain(mut file: File, stream: &Stream, cap: usize, tx: &Sender<Event>) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                stream.total.fetch_add(n as u64, Ordering::Relaxed);
                let mut buf = stream.buf.lock().unwrap_or_else(PoisonError::into_inner);
                let room = cap.saturating_sub(buf.len());
                if n > room {
                    buf.extend_from_slice(&chunk[..room]);
                    if !stream.truncated.swap(true, Ordering::Relaxed) {
                        let _ = tx.send(Event::Overflow);
                    }
                } else {
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Event::Eof);
}

/// Whether any process of the group still exists (zombies included).
fn group_alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

/// SIGTERM the group, wait up to `grace` for it to empty, then SIGKILL it.
/// Returns whether any process was there to signal.
fn terminate_group(pgid: Pid, grace: Duration) -> bool {
    if killpg(pgid, Signal::SIGTERM).is_err() {
        return false;
    }
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if !group_alive(pgid) {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    true
}

struct Waiter {
    rx: Receiver<Event>,
    eofs: usize,
    exit: Option<std::io::Result<std::process::ExitStatus>>,
    overflow: bool,
}

impl Waiter {
    /// Handles one event, waiting at most until `until`. Returns false on timeout.
    fn next(&mut self, until: Instant) -> bool {
        let wait = until.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(Event::Exited(status)) => self.exit = Some(status),
            Ok(Event::Eof) => self.eofs += 1,
            Ok(Event::Overflow) => self.overflow = true,
            Err(RecvTimeoutError::Timeout) => return false,
            // All senders gone: nothing more will come; avoid spinning.
            Err(RecvTimeoutError::Disconnected) => {
                thread::sleep(wait.min(Duration::from_millis(10)));
                return Instant::now() < until;
            }
        }
        true
    }

    fn pipes_closed(&self) -> bool {
        self.eofs >= 2
    }

    /// Waits until the child exited and both pipes closed, or `until`.
    fn settle(&mut self, until: Instant) {
        while (self.exit.is_none() || !self.pipes_closed()) && self.next(until) {}
    }
}

/// Runs a process to completion under `timeout` and `limits`.
pub(crate) fn run(
    spec: &Spec<'_>,
    timeout: Duration,
    limits: &Limits,
    cancel: Option<&AtomicBool>,
) -> Result<Captured, AprError> {
    let argv: Vec<String> = std::iter::once(spec.program.display().to_string())
        .chain(spec.args.iter().cloned())
        .collect();
    let spawn_err = |source: std::io::Error| AprError::Spawn {
        binary: spec.program.to_path_buf(),
        source,
    };
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_err(e.into()))?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_err(e.into()))?;

    let start = Instant::now();
    let handle = {
        // The expression owns the write ends; it must be dropped right after the spawn so that
        // only the child (and its descendants) hold them and EOF arrives when they are gone.
        let expr = expression(spec).stdout_file(out_w).stderr_file(err_w);
        expr.start().map_err(spawn_err)?
    };
    let handle = Arc::new(handle);
    let pid = handle.pids().first().copied().unwrap_or_default();
    let pgid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));

    let (tx, rx) = mpsc::channel();
    let out = Arc::new(Stream::default());
    let err = Arc::new(Stream::default());
    let cap = limits.output_cap;
    for (file, stream) in [(File::from(out_r), &out), (File::from(err_r), &err)] {
        let stream = Arc::clone(stream);
        let tx = tx.clone();
        thread::spawn(move || drain(file, &stream, cap, &tx));
    }
    {
        let handle = Arc::clone(&handle);
        let tx = tx.clone();
        thread::spawn(move || {
            let status = handle.wait().map(|output| output.status);
            let _ = tx.send(Event::Exited(status));
        });
    }
    drop(tx);

    let mut w = Waiter {
        rx,
        eofs: 0,
        exit: None,
        overflow: false,
    };
    let deadline = start + timeout;
    let mut forced: Option<Termination> = None;
    let mut strays_killed = false;

    // Phase 1: until the child exits, the deadline passes, or output overflows.
    while w.exit.is_none() && !w.overflow {
        if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            forced = Some(Termination::Cancelled);
            break;
        }
        // With a cancel flag, wake up regularly to look at it.
        let until = match cancel {
            Some(_) => deadline.min(Instant::now() + CANCEL_POLL),
            None => deadline,
        };
        if !w.next(until) && Instant::now() >= deadline {
            forced = Some(Termination::TimedOut(timeout));
            break;
        }
    }
    if w.overflow && w.exit.is_none() {
        forced = Some(Termination::OutputLimit(cap as u64));
    }

    if forced.is_some() {
        tracing::debug!(?forced, pid, "killing process group");
        terminate_group(pgid, limits.kill_grace);
        // After SIGKILL the child exits promptly; bound the wait anyway.
        w.settle(Instant::now() + limits.kill_grace + Duration::from_secs(5));
    } else {
        // Phase 2: the child exited; give the pipes a short grace (a grandchild may hold them).
        let grace_end = Instant::now() + limits.pipe_grace;
        while !w.pipes_closed() && !w.overflow && w.next(grace_end) {}
        if w.overflow {
            forced = Some(Termination::OutputLimit(cap as u64));
        }
        if !w.pipes_closed() || group_alive(pgid) {
            tracing::debug!(pid, "child exited, killing the rest of its process group");
            strays_killed = terminate_group(pgid, limits.kill_grace);
            w.settle(Instant::now() + limits.kill_grace + Duration::from_secs(1));
        }
    }

    let termination = match (forced, &w.exit) {
        (Some(t), _) => t,
        (None, Some(Ok(status))) => match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            (None, Some(signal)) => Termination::Signaled(signal),
            (None, None) => Termination::Exited(-1),
        },
        (None, Some(Err(e))) => {
            return Err(spawn_err(std::io::Error::new(e.kind(), e.to_string())));
        }
        // Unreachable in practice: phase 1 only ends without `forced` once the child exited.
        (None, None) => Termination::TimedOut(timeout),
    };

    Ok(Captured {
        argv,
        termination,
        stdout: out.take(),
        stderr: err.take(),
        duration: start.elapsed(),
        stdout_truncated: out.truncated.load(Ordering::Relaxed),
        stderr_truncated: err.truncated.load(Ordering::Relaxed),
        stdout_bytes: out.total.load(Ordering::Relaxed),
        stderr_bytes: err.total.load(Ordering::Relaxed),
        strays_killed,
    })
}

fn lossy_utf8<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

mod duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
