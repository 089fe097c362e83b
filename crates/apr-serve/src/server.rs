//! One `apr serve run` process: started on a free port with a clean environment, ready when
//! `GET /health` answers 200, its output kept, stopped with SIGINT and then SIGKILL.

use crate::error::ServeError;
use crate::keeper;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bytes of a server's output kept for messages.
const LOG_TAIL: usize = 64 * 1024;
/// Lines of that output quoted in an error.
const LOG_LINES: usize = 12;
/// How often readiness and a stop are polled.
const POLL: Duration = Duration::from_millis(50);
/// Attempts at a free port: another process may take the one chosen before apr binds it.
const PORT_ATTEMPTS: usize = 3;

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub binary: PathBuf,
    pub file: PathBuf,
    /// Until `/health` answers 200.
    pub ready_limit: Duration,
    /// Between SIGINT and SIGKILL.
    pub stop_grace: Duration,
    /// Extra arguments after the file (`--context-length N`).
    pub args: Vec<String>,
    /// A port to use; `None`: a free one, chosen again if another process takes it first.
    pub port: Option<u16>,
}

/// How a stopped server ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stopped {
    /// `exited 0`, `killed by SIGKILL`, ...
    pub how: String,
    /// Whether the first signal ended it, without SIGKILL.
    pub graceful: bool,
    pub after_ms: u64,
}

/// A running `apr serve`.
#[derive(Debug)]
pub struct Server {
    file: PathBuf,
    port: u16,
    command: String,
    pgid: Pid,
    child: Mutex<Child>,
    /// The tails of its stdout and its stderr.
    log: [Arc<Mutex<Vec<u8>>>; 2],
    /// The threads copying its output into `log`; they end when its pipes close.
    readers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    grace: Duration,
    ended: Mutex<Option<String>>,
    /// The server's `TMPDIR`, removed with it: apr serve converts a `.safetensors` into a file
    /// there, under a fixed name two servers would otherwise share.
    _tmp: tempfile::TempDir,
}

impl Server {
    /// Starts a server and waits until it is ready, or until it exits, the limit passes or
    /// `cancelled` says so; a server that is not ready is killed before this returns.
    pub fn start(spec: &ServerSpec, cancelled: &dyn Fn() -> bool) -> Result<Server, ServeError> {
        let mut last = None;
        let attempts = if spec.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        for _ in 0..attempts {
            match Server::start_once(spec, cancelled) {
                Err(ServeError::ExitedBeforeReady {
                    log,
                    file,
                    how,
                    after,
                }) if log.contains("Address already in use") || log.contains("Failed to bind") => {
                    last = Some(ServeError::ExitedBeforeReady {
                        file,
                        how,
                        after,
                        log,
                    });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or(ServeError::Cancelled))
    }

    fn start_once(spec: &ServerSpec, cancelled: &dyn Fn() -> bool) -> Result<Server, ServeError> {
        let port = match spec.port {
            Some(port) => port,
            None => free_port().map_err(|source| ServeError::Spawn {
                command: "choosing a free port".into(),
                source,
            })?,
        };
        let tmp = tempfile::Builder::new()
            .prefix("tmgt-serve-")
            .tempdir()
            .map_err(|source| ServeError::Spawn {
                command: "making the server's TMPDIR".into(),
                source,
            })?;
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("serve")
            .arg("run")
            .arg(&spec.file)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--no-gpu",
            ])
            .args(&spec.args)
            .env_remove("APR_API_KEY")
            .env_remove("APR_API_KEY_HASH")
            .env("SOVEREIGN_DISABLE_UPDATE_CHECK", "1")
            .env("NO_COLOR", "1")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = shell_line(&cmd);
        let mut child = keeper::spawn(cmd).map_err(|source| ServeError::Spawn {
            command: command.clone(),
            source,
        })?;
        // stdout and stderr kept apart: two pipes read by two threads interleave in no fixed
        // order, and a message quoting them must read the same on every run.
        let log = [
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        ];
        let mut readers = Vec::new();
        for (pipe, log) in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .zip(&log)
        .filter_map(|(pipe, log)| Some((pipe?, Arc::clone(log))))
        {
            readers.push(std::thread::spawn(move || keep_tail(pipe, &log)));
        }
        let pgid = Pid::from_raw(child.id() as i32);
        let server = Server {
            file: spec.file.clone(),
            port,
            command,
            pgid,
            child: Mutex::new(child),
            log,
            readers: Mutex::new(readers),
            grace: spec.stop_grace,
            ended: Mutex::new(None),
            _tmp: tmp,
        };
        let started = Instant::now();
        let probe = crate::http::probe_agent();
        loop {
            if let Some(status) = server.try_wait() {
                server.drain();
                return Err(ServeError::ExitedBeforeReady {
                    file: spec.file.clone(),
                    how: describe(status),
                    after: started.elapsed(),
                    log: server.log_tail(),
                });
            }
            if cancelled() {
                server.kill();
                return Err(ServeError::Cancelled);
            }
            if crate::http::healthy(&probe, &server.url("/health")) {
                return Ok(server);
            }
            if started.elapsed() > spec.ready_limit {
                server.kill();
                return Err(ServeError::NeverReady {
                    file: spec.file.clone(),
                    limit: spec.ready_limit,
                    log: server.log_tail(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shell line that started it (its port included), for a reproduction.
    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The last lines it printed.
    pub fn log_tail(&self) -> String {
        // What it printed to stdout, then what it printed to stderr (its errors last).
        let text: String = self
            .log
            .iter()
            .map(|log| {
                let log = log.lock().unwrap_or_else(PoisonError::into_inner);
                let mut text = String::from_utf8_lossy(&log).into_owned();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            })
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        // The port tmgt chose differs on every run; what a message quotes must not.
        lines[lines.len().saturating_sub(LOG_LINES)..]
            .join("\n")
            .replace(&format!(":{}", self.port), ":$PORT")
    }

    /// `Err` when the server has ended: a request to it cannot be answered.
    pub fn alive(&self) -> Result<(), ServeError> {
        match self.try_wait() {
            None => Ok(()),
            Some(status) => Err(ServeError::Died {
                log: {
                    self.drain();
                    self.log_tail()
                },
                file: self.file.clone(),
                how: describe(status),
            }),
        }
    }

    /// Waits (a second at most) for the output of an ended server to be copied: its last
    /// words are what an error quotes.
    fn drain(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        while readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        readers.retain(|r| !r.is_finished());
    }

    fn try_wait(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().ok().flatten()
    }

    /// Sends `signal` to its process group and waits up to the grace period for it to end,
    /// then kills the group. Idempotent: a second stop reports the first.
    pub fn stop_with(&self, signal: Signal) -> Stopped {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(how) = ended.clone() {
            return Stopped {
                how,
                graceful: true,
                after_ms: 0,
            };
        }
        let started = Instant::now();
        let _ = killpg(self.pgid, signal);
        let mut graceful = false;
        let mut status = None;
        while started.elapsed() < self.grace {
            if let Some(s) = self.try_wait() {
                graceful = true;
                status = Some(s);
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let status = status.or_else(|| {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            child.wait().ok()
        });
        let how = status.map_or_else(|| "ended".to_string(), describe);
        self.drain();
        *ended = Some(how.clone());
        Stopped {
            how,
            graceful,
            after_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// SIGINT (the signal apr serve shuts down on), then SIGKILL after the grace period.
    pub fn stop(&self) -> Stopped {
        self.stop_with(Signal::SIGINT)
    }

    /// SIGKILL at once: tmgt is interrupted.
    pub fn kill(&self) {
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Appends what `pipe` prints to `log`, keeping the last [`LOG_TAIL`] bytes.
fn keep_tail(mut pipe: Box<dyn Read + Send>, log: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.extend_from_slice(&buf[..n]);
        if log.len() > LOG_TAIL {
            let cut = log.len() - LOG_TAIL;
            log.drain(..cut);
        }
    }
}

/// `exited 1`, `killed by SIGSEGV`.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => "ended".into(),
    }
}

/// The command as a shell line.
fn shell_line(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
        {
            s.into_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}
