//! Running a child process with captured, capped output and a group-wide timeout.
//!
//! The child is spawned through `duct` in a new process group. Its stdout and stderr go to
//! pipes that the calling thread drains into capped buffers with `poll(2)`. A timeout, an over-long output, or a
//! grandchild that keeps the pipes open after the child exited all end the same way: SIGTERM to
//! the whole group, a grace period, then SIGKILL to the group. `duct`'s own `kill()` only
//! reaches the direct child, so it is not used.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
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
    /// The working directory; `None`: the caller's.
    pub dir: Option<&'a Path>,
    /// What the child reads on stdin; `None`: nothing (stdin is null).
    pub stdin: Option<&'a [u8]>,
}

/// Builds the `duct` expression for a spec: new process group, stdin null or the spec's bytes,
/// unchecked exit, environment. Output redirection is added by the caller.
pub(crate) fn expression(spec: &Spec<'_>) -> duct::Expression {
    let expr = duct::cmd(spec.program, spec.args).unchecked();
    let expr = match spec.stdin {
        Some(bytes) => expr.stdin_bytes(bytes.to_vec()),
        None => expr.stdin_null(),
    };
    let mut expr = expr.before_spawn(|command| {
        command.process_group(0);
        Ok(())
    });
    for (key, value) in spec.env {
        expr = expr.env(key, value);
    }
    if let Some(dir) = spec.dir {
        expr = expr.dir(dir);
    }
    expr
}

/// One captured stream: the bytes kept (up to the cap) and how many were written in all.
#[derive(Debug, Default)]
struct Stream {
    buf: Vec<u8>,
    total: u64,
    truncated: bool,
}

impl Stream {
    /// Keeps what fits under `cap` of a chunk just read; says whether the cap was passed now.
    fn push(&mut self, chunk: &[u8], cap: usize) -> bool {
        self.total += chunk.len() as u64;
        let room = cap.saturating_sub(self.buf.len());
        if chunk.len() > room {
            self.buf.extend_from_slice(&chunk[..room]);
            return !std::mem::replace(&mut self.truncated, true);
        }
        self.buf.extend_from_slice(chunk);
        false
    }
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

/// A running child and its two pipes, watched from the calling thread: `poll(2)` on the
/// pipes, a non-blocking wait for the exit. No helper threads, so a call costs one spawn.
struct Watch {
    handle: duct::Handle,
    /// stdout then stderr; `None` once the pipe reached EOF.
    pipes: [Option<File>; 2],
    streams: [Stream; 2],
    cap: usize,
    exit: Option<std::io::Result<std::process::ExitStatus>>,
    overflow: bool,
    chunk: Vec<u8>,
    /// How long to sleep when both pipes are closed but the exit is not reaped yet.
    backoff: Duration,
}

impl Watch {
    fn pipes_closed(&self) -> bool {
        self.pipes.iter().all(Option::is_none)
    }

    fn reap(&mut self) {
        if self.exit.is_none() {
            match self.handle.try_wait() {
                Ok(Some(output)) => self.exit = Some(Ok(output.status)),
                Ok(None) => {}
                Err(e) => self.exit = Some(Err(e)),
            }
        }
    }

    /// Waits for output or the exit, at most until `until`, and takes what arrived.
    fn pump(&mut self, until: Instant) {
        let wait = until.saturating_duration_since(Instant::now());
        if self.pipes_closed() {
            // The pipes close a moment before the exit can be reaped: back off briefly.
            thread::sleep(wait.min(self.backoff));
            self.backoff = (self.backoff * 2).min(MAX_REAP_BACKOFF);
            self.reap();
            return;
        }
        let open: Vec<usize> = (0..2).filter(|i| self.pipes[*i].is_some()).collect();
        let mut ready = [false; 2];
        {
            let mut fds: Vec<PollFd<'_>> = open
                .iter()
                .filter_map(|i| self.pipes[*i].as_ref())
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            // Round up so a sub-millisecond wait does not spin.
            let ms = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            if poll(&mut fds, PollTimeout::from(ms)).is_ok() {
                for (i, fd) in open.iter().zip(&fds) {
                    ready[*i] = fd.revents().is_some_and(|r| !r.is_empty());
                }
            }
        }
        for (i, is_ready) in ready.into_iter().enumerate() {
            if !is_ready {
                continue;
            }
            let Some(file) = self.pipes[i].as_mut() else {
                continue;
            };
            // poll said readable: one read does not block.
            match file.read(&mut self.chunk) {
                Ok(0) => self.pipes[i] = None,
                Ok(n) => {
                    if self.streams[i].push(&self.chunk[..n], self.cap) {
                        self.overflow = true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.pipes[i] = None,
            }
        }
        self.reap();
    }

    /// Waits until the child exited and both pipes closed, or `until`.
    fn settle(&mut self, until: Instant) {
        while (self.exit.is_none() || !self.pipes_closed()) && Instant::now() < until {
            self.pump(until);
        }
    }
}

/// The longest a running child goes unchecked: a child that exits while a grandchild holds its
/// pipes is noticed within this.
const EXIT_CHECK: Duration = Duration::from_millis(50);
/// The longest sleep between reaping attempts once both pipes are closed.
const MAX_REAP_BACKOFF: Duration = Duration::from_millis(10);

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
    let pid = handle.pids().first().copied().unwrap_or_default();
    let pgid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    let cap = limits.output_cap;
    let mut w = Watch {
        handle,
        pipes: [Some(File::from(out_r)), Some(File::from(err_r))],
        streams: [Stream::default(), Stream::default()],
        cap,
        exit: None,
        overflow: false,
        chunk: vec![0u8; 64 * 1024],
        backoff: Duration::from_micros(20),
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
        if Instant::now() >= deadline {
            forced = Some(Termination::TimedOut(timeout));
            break;
        }
        let check = if cancel.is_some() {
            CANCEL_POLL.min(EXIT_CHECK)
        } else {
            EXIT_CHECK
        };
        w.pump(deadline.min(Instant::now() + check));
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
        while !w.pipes_closed() && !w.overflow && Instant::now() < grace_end {
            w.pump(grace_end);
        }
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
    let [out, err] = std::mem::take(&mut w.streams);
    Ok(Captured {
        argv,
        termination,
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        stdout_bytes: out.total,
        stderr_bytes: err.total,
        stdout: out.buf,
        stderr: err.buf,
        duration: start.elapsed(),
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
