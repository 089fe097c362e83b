//! One supervised worker process: its own process group, requests written to its stdin, each
//! response awaited under a time limit and the caller's cancellation, its stderr kept so a
//! death can be explained by the line llama.cpp printed before it.

use crate::LlamaError;
use crate::protocol::{Hello, Op, PROTOCOL_VERSION, Request, Response, WorkerUsage};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a new worker may take to greet (it starts llama.cpp's backend, no model).
const GREETING_LIMIT: Duration = Duration::from_secs(30);
/// How often a waiting call looks at its cancellation.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// How long a worker whose stdin closed may take to exit before its group is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// The stderr kept per call: enough for llama.cpp's last words.
const STDERR_KEPT: usize = 64 * 1024;
/// The longest response line accepted (a generation of thousands of steps with top-k).
const LINE_LIMIT: usize = 256 * 1024 * 1024;

/// Why a call did not get a response; the worker is gone (or must be) after any of these.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The worker died: how it ended and what it said last.
    Died {
        ending: String,
        fault: String,
    },
    TimedOut,
    Cancelled,
    /// The worker wrote something that is not a response line.
    Garbled(String),
}

/// A running worker.
#[derive(Debug)]
pub(crate) struct Worker {
    child: Child,
    pgid: Pid,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Bytes read from stdout that do not yet end a line.
    pending: Vec<u8>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_drain: Option<JoinHandle<()>>,
    next_id: u64,
    /// How it ended, once reaped: its process group id may then belong to another process,
    /// so it is never signalled again.
    status: Option<ExitStatus>,
    /// The file its last call was about (what it has loaded, if the call loaded one).
    pub(crate) file: Option<PathBuf>,
    /// Its usage as of its last response.
    pub(crate) usage: WorkerUsage,
}

impl Worker {
    /// Starts `binary` in a new process group and waits for its greeting.
    pub(crate) fn spawn(binary: &Path) -> Result<Worker, LlamaError> {
        let start_error = |reason: String| LlamaError::WorkerStart {
            binary: binary.to_path_buf(),
            reason,
        };
        let mut child = Command::new(binary)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // An abort prints its line and exits: no debugger attached to the dying process.
            .env("GGML_NO_BACKTRACE", "1")
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(start_error("its pipes were not opened".into()));
        };
        let kept = Arc::new(Mutex::new(Vec::new()));
        let stderr_drain = Some(drain(stderr, Arc::clone(&kept)));
        let mut worker = Worker {
            child,
            pgid,
            stdin: Some(stdin),
            stdout,
            pending: Vec::new(),
            stderr: kept,
            stderr_drain,
            next_id: 0,
            status: None,
            file: None,
            usage: WorkerUsage::default(),
        };
        let line = worker
            .read_line(Instant::now() + GREETING_LIMIT, &|| false)
            .map_err(|f| start_error(describe(&f)))?;
        let hello: Hello = serde_json::from_slice(&line)
            .map_err(|e| start_error(format!("its greeting is not this protocol's ({e})")))?;
        if hello.protocol != PROTOCOL_VERSION {
            return Err(start_error(format!(
                "it speaks protocol {}, tmgt speaks {PROTOCOL_VERSION}: rebuild both",
                hello.protocol
            )));
        }
        Ok(worker)
    }

    /// Whether the process has already exited (while idle, say).
    pub(crate) fn has_exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    /// Sends `op` and waits for its response until `limit` passes or `cancelled` says so.
    /// The line sent is returned too, so a failure can say how to replay it.
    pub(crate) fn call(
        &mut self,
        op: &Op,
        limit: Duration,
        cancelled: &dyn Fn() -> bool,
    ) -> (String, Result<Response, Fault>) {
        self.next_id += 1;
        let request = Request {
            id: self.next_id,
            op: op.clone(),
        };
        let line = serde_json::to_string(&request).unwrap_or_default();
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let result = self.exchange(&line, request.id, limit, cancelled);
        (line, result)
    }

    fn exchange(
        &mut self,
        line: &str,
        id: u64,
        limit: Duration,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Response, Fault> {
        let deadline = Instant::now() + limit;
        let sent = self.stdin.as_mut().map(|stdin| {
            stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"))
                .and_then(|()| stdin.flush())
        });
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.death());
        }
        let bytes = self.read_line(deadline, cancelled)?;
        let response: Response = serde_json::from_slice(&bytes).map_err(|e| {
            Fault::Garbled(format!(
                "{e}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })?;
        if response.id != id {
            return Err(Fault::Garbled(format!(
                "answered request {} to request {id}",
                response.id
            )));
        }
        Ok(response)
    }

    /// The next line of stdout, waiting at most until `deadline`.
    fn read_line(
        &mut self,
        deadline: Instant,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<u8>, Fault> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                return Ok(line);
            }
            if self.pending.len() > LINE_LIMIT {
                return Err(Fault::Garbled(format!(
                    "a line longer than {LINE_LIMIT} bytes"
                )));
            }
            if cancelled() {
                return Err(Fault::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Fault::TimedOut);
            }
            let wait = (deadline - now).min(CANCEL_POLL);
            let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
            let readable = {
                let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) => fds[0].revents().is_some_and(|r| !r.is_empty()),
                    Err(Errno::EINTR) => false,
                    Err(e) => return Err(Fault::Garbled(format!("poll: {e}"))),
                }
            };
            if !readable {
                continue;
            }
            match self.stdout.read(&mut chunk) {
                Ok(0) => return Err(self.death()),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(self.death()),
            }
        }
    }

    /// The worker's stdout closed or its stdin broke: wait for its exit and say how it ended
    /// and what it last printed.
    fn death(&mut self) -> Fault {
        let status = self.wait_for_exit(EXIT_GRACE);
        // The stderr pipe closes with the process; the drain then holds everything it said.
        if let Some(drain) = self.stderr_drain.take() {
            let _ = drain.join();
        }
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        Fault::Died {
            ending: status.map_or_else(|| "did not exit after closing its output".into(), ending),
            fault: fault_line(&String::from_utf8_lossy(&stderr)),
        }
    }

    /// Waits up to `grace` for the process to exit, then kills its group and reaps it.
    fn wait_for_exit(&mut self, grace: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + grace;
        while self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => self.kill_group(),
                Err(_) => return None,
            }
        }
        self.status
    }

    /// SIGKILL to the whole group, unless the worker was already reaped.
    fn kill_group(&mut self) {
        if self.status.is_none() {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            self.status = self.child.wait().ok();
        }
    }

    /// Kills the whole group now and reaps the worker.
    pub(crate) fn kill(mut self) {
        self.kill_group();
    }
}

impl Drop for Worker {
    /// Closing stdin is the worker's signal to exit; a worker that does not is killed. No
    /// worker outlives its handle.
    fn drop(&mut self) {
        self.stdin = None;
        self.wait_for_exit(EXIT_GRACE);
        if let Some(drain) = self.stderr_drain.take() {
            let _ = drain.join();
        }
    }
}

/// Reads `stderr` to its end on a thread of its own, keeping the last [`STDERR_KEPT`] bytes.
fn drain(mut stderr: std::process::ChildStderr, kept: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                    kept.extend_from_slice(&chunk[..n]);
                    let excess = kept.len().saturating_sub(STDERR_KEPT);
                    kept.drain(..excess);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    })
}

/// How a process ended, in words.
fn ending(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, None) => "ended".into(),
    }
}

/// The line of a dying worker's stderr that says why: llama.cpp's assert or abort, a C++
/// exception, a Rust panic, an error; else its last line.
pub(crate) fn fault_line(stderr: &str) -> String {
    const TELLING: [&str; 6] = [
        "GGML_ASSERT",
        "GGML_ABORT",
        "terminate called",
        "panicked at",
        "error",
        "fatal",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    TELLING
        .iter()
        .find_map(|word| lines.iter().rev().find(|l| l.contains(word)))
        .or(lines.last())
        .map_or_else(
            || "it printed nothing on stderr".into(),
            |l| (*l).to_string(),
        )
}

/// Describes a fault for a start-up message.
pub(crate) fn describe(fault: &Fault) -> String {
    match fault {
        Fault::Died { ending, fault } => format!("it {ending}: {fault}"),
        Fault::TimedOut => format!("it did not greet within {} s", GREETING_LIMIT.as_secs()),
        Fault::Cancelled => "interrupted".into(),
        Fault::Garbled(detail) => detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::fault_line;

    #[test]
    fn the_assert_line_is_the_fault_even_when_other_lines_follow() {
        let stderr = "llama_model_loader: loaded meta data\n\
            /src/llama.cpp/src/models/qwen2.cpp:57: GGML_ASSERT(n_embd_head == n_rot) failed\n\
            Aborted\n";
        assert_eq!(
            fault_line(stderr),
            "/src/llama.cpp/src/models/qwen2.cpp:57: GGML_ASSERT(n_embd_head == n_rot) failed"
        );
    }

    #[test]
    fn without_a_telling_line_the_last_line_is_the_fault() {
        assert_eq!(fault_line("a\n\nb\n"), "b");
        assert_eq!(fault_line(""), "it printed nothing on stderr");
    }
}
