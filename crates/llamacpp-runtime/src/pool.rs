//! The process's llama.cpp workers: idle ones kept for the next call (one on the same file
//! first, since it has that model loaded), and what they cost, summed from their own
//! accounts. A busy worker belongs to its caller, which kills it on a fault or an
//! interruption; an idle one ends at [`shutdown`], or when this process's end closes its
//! stdin.

use crate::LlamaError;
use crate::protocol::{Op, Reply, WORKER_BINARY};
use crate::worker::{Fault, Worker};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// Idle workers kept at most; the oldest is ended past this.
const IDLE_KEPT: usize = 4;
/// Every call's allowance before its file's size counts (starting, loading, answering),
/// unless [`set_base_limit`] says otherwise.
const BASE_LIMIT: Duration = Duration::from_secs(60);
/// The slowest pace a working llama.cpp reads its weights at, one thread: a decoding step
/// reads every weight once, so a call of `steps` steps on a file of `len` bytes gets
/// `len * steps / PACE` beyond the base (a tenth or less of what llama.cpp needs here).
const BYTES_PER_SECOND: u64 = 50 * 1024 * 1024;

/// What the workers have cost, from their own accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeUsage {
    /// CPU time of every worker, summed (what each last reported).
    pub cpu: Duration,
    /// The largest peak resident set any one worker reached (`VmHWM`).
    pub peak_worker_rss_kb: u64,
    /// Workers started.
    pub workers: u64,
    /// Workers that died or were killed during a call.
    pub faults: u64,
}

#[derive(Debug, Default)]
struct Pool {
    /// Idle workers, least recently used first.
    idle: Mutex<Vec<Worker>>,
    cancel: Mutex<Option<Arc<AtomicBool>>>,
    base_limit: Mutex<Option<Duration>>,
    usage: Mutex<RuntimeUsage>,
}

static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls in flight stop when `flag` is set (tmgt's SIGINT/SIGTERM flag): their workers are
/// killed and the calls answer [`LlamaError::Cancelled`].
pub fn cancel_with(flag: Arc<AtomicBool>) {
    *lock(&POOL.cancel) = Some(flag);
}

/// Every later call's allowance before its file's size counts (tmgt's `[timeouts].llamacpp`).
pub fn set_base_limit(limit: Duration) {
    *lock(&POOL.base_limit) = Some(limit);
}

/// What the workers have cost so far.
#[must_use]
pub fn usage() -> RuntimeUsage {
    *lock(&POOL.usage)
}

/// Ends every idle worker: each is asked to exit (stdin closed) and its group killed if it
/// does not within a second. tmgt calls this once its work is done, when no call is in
/// flight; a later call starts a new worker.
pub fn shutdown() {
    let idle = std::mem::take(&mut *lock(&POOL.idle));
    drop(idle);
}

/// llama.cpp's version, from a worker.
pub(crate) fn worker_version() -> Result<String, LlamaError> {
    match call(Path::new(""), 0, Op::Version)? {
        Reply::Version(v) => Ok(v),
        other => Err(LlamaError::unexpected("version", &other)),
    }
}

/// The time a call of `steps` decoding steps on `file` may take.
fn time_limit(file: &Path, steps: u64) -> Duration {
    let len = std::fs::metadata(file).map_or(0, |m| m.len());
    let base = lock(&POOL.base_limit).unwrap_or(BASE_LIMIT);
    base + Duration::from_secs(len.saturating_mul(steps.max(1)) / BYTES_PER_SECOND)
}

/// Runs `op` (about `file`, `steps` decoding steps long) on a worker.
pub(crate) fn call(file: &Path, steps: u64, op: Op) -> Result<Reply, LlamaError> {
    let binary = worker_binary()?;
    let mut worker = take(file, binary)?;
    let limit = time_limit(file, steps);
    let cancel = lock(&POOL.cancel).clone();
    let cancelled = || cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
    let (line, outcome) = worker.call(&op, limit, &cancelled);
    match outcome {
        Ok(response) => {
            {
                let mut usage = lock(&POOL.usage);
                let spent = response.usage.cpu_ms.saturating_sub(worker.usage.cpu_ms);
                usage.cpu += Duration::from_millis(spent);
                usage.peak_worker_rss_kb = usage.peak_worker_rss_kb.max(response.usage.peak_rss_kb);
            }
            worker.usage = response.usage;
            worker.file = Some(file.to_path_buf());
            give_back(worker);
            response.result
        }
        Err(fault) => {
            lock(&POOL.usage).faults += 1;
            worker.kill();
            let path = file.to_path_buf();
            let op_name = op.name().to_string();
            let reproduce = replay_command(binary, &line);
            Err(match fault {
                Fault::Died { ending, fault } => LlamaError::Crashed {
                    path,
                    op: op_name,
                    ending,
                    fault,
                    reproduce,
                },
                Fault::TimedOut => LlamaError::TimedOut {
                    path,
                    op: op_name,
                    limit_s: limit.as_secs(),
                    reproduce,
                },
                Fault::Cancelled => LlamaError::Cancelled { path, op: op_name },
                Fault::Garbled(detail) => LlamaError::Protocol {
                    op: op_name,
                    detail,
                },
            })
        }
    }
}

/// An idle worker for `file`: the one that last served it, else the least recently used,
/// else a new one.
fn take(file: &Path, binary: &Path) -> Result<Worker, LlamaError> {
    {
        let mut idle = lock(&POOL.idle);
        // A worker that died while idle (killed from outside) is not handed out.
        idle.retain_mut(|w| !w.has_exited());
        let same = idle.iter().rposition(|w| w.file.as_deref() == Some(file));
        if let Some(i) = same.or((!idle.is_empty()).then_some(0)) {
            return Ok(idle.remove(i));
        }
    }
    let worker = Worker::spawn(binary)?;
    lock(&POOL.usage).workers += 1;
    Ok(worker)
}

fn give_back(worker: Worker) {
    let evicted = {
        let mut idle = lock(&POOL.idle);
        idle.push(worker);
        (idle.len() > IDLE_KEPT).then(|| idle.remove(0))
    };
    drop(evicted);
}

/// The worker executable: `TMGT_LLAMA_WORKER`, else beside the running binary (or beside
/// the folder of a test binary in `target/*/deps`).
pub fn worker_binary() -> Result<&'static Path, LlamaError> {
    static FOUND: OnceLock<Result<PathBuf, LlamaError>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(named) = std::env::var_os("TMGT_LLAMA_WORKER") {
                return Ok(PathBuf::from(named));
            }
            let exe = std::env::current_exe().ok();
            let dir = exe.as_deref().and_then(Path::parent);
            let candidates: Vec<PathBuf> = dir
                .into_iter()
                .chain(dir.filter(|d| d.ends_with("deps")).and_then(Path::parent))
                .map(|d| d.join(WORKER_BINARY))
                .collect();
            candidates
                .iter()
                .find(|c| c.is_file())
                .cloned()
                .ok_or_else(|| LlamaError::WorkerMissing {
                    binary: WORKER_BINARY.into(),
                    searched: candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

/// A shell command that sends `line` to a fresh worker, reproducing the call outside tmgt.
fn replay_command(binary: &Path, line: &str) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    format!(
        "printf '%s\\n' {} | GGML_NO_BACKTRACE=1 {}",
        quote(line),
        quote(&binary.display().to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_grows_with_the_file_and_the_steps_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.gguf");
        // A sparse file: its length is what counts, not its blocks.
        std::fs::File::create(&file)
            .unwrap()
            .set_len(100 * 1024 * 1024)
            .unwrap();
        assert_eq!(time_limit(&file, 10), BASE_LIMIT + Duration::from_secs(20));
        assert_eq!(time_limit(&file, 0), BASE_LIMIT + Duration::from_secs(2));
        assert_eq!(time_limit(&dir.path().join("absent"), 33), BASE_LIMIT);
    }

    #[test]
    fn a_replay_command_survives_quotes_in_the_request() {
        let line = r#"{"op":{"generate":{"prompt":{"text":"it's"}}}}"#;
        let command = replay_command(Path::new("/bin/tmgt-llama-worker"), line);
        let out = std::process::Command::new("sh")
            .args(["-c", &command.replace("/bin/tmgt-llama-worker", "cat")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{line}\n"));
    }
}
