//! Every apr call of a run goes through the engine: identical calls (same argv, same input
//! files, same apr binary) run once and are shared, and every call is recorded for the report.
//!
//! An input file is identified by its stamp (device, inode, size, modification and change
//! times, to the nanosecond), as git's index and cargo's fingerprints do, not by hashing its
//! contents: any write to the file changes its change time, and most of a run's inputs are
//! damaged copies read by one call each, whose hashing would cost more than the calls.

use crate::config::Timeouts;
use apr_client::{Apr, Captured, Invocation};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tmgt_check::CheckError;
use tmgt_check::Memo;
use tmgt_report::CallRecord;

/// A call a result used, and whether it was shared with an earlier request.
#[derive(Debug, Clone)]
pub struct UsedCall {
    pub id: usize,
    pub reused: bool,
}

type Outcome = Result<(usize, Arc<Captured>), CallFailure>;

/// Why a call gave no usable capture; cloneable so a shared call fails the same way for all.
#[derive(Debug, Clone)]
enum CallFailure {
    Spawn(String),
    Strays(String),
    Interrupted,
}

impl From<CallFailure> for CheckError {
    fn from(f: CallFailure) -> CheckError {
        match f {
            CallFailure::Spawn(reason) => CheckError::Spawn(reason),
            CallFailure::Strays(command) => CheckError::StrayProcesses(command),
            CallFailure::Interrupted => CheckError::Interrupted,
        }
    }
}

/// The identity of a call for reuse: its argv and the stamps of the files it reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CallKey {
    invocation: Invocation,
    inputs: Vec<Option<FileStamp>>,
}

/// What identifies a file's contents without reading them; `None` for a missing file (the
/// call still runs and apr reports the problem itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            device: m.dev(),
            inode: m.ino(),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }
}

#[derive(Debug)]
pub struct Engine {
    apr: Apr,
    timeouts: Timeouts,
    reuse: bool,
    calls: Memo<CallKey, Outcome>,
    records: Mutex<Vec<CallRecord>>,
    interrupted: Arc<AtomicBool>,
}

impl Engine {
    pub fn new(apr: Apr, timeouts: Timeouts, reuse: bool, interrupted: Arc<AtomicBool>) -> Engine {
        Engine {
            apr,
            timeouts,
            reuse,
            calls: Memo::default(),
            records: Mutex::default(),
            interrupted,
        }
    }

    pub fn apr(&self) -> &Apr {
        &self.apr
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Runs `invocation`, or hands back the result of an identical earlier call.
    pub fn call(&self, invocation: &Invocation) -> Result<(Arc<Captured>, UsedCall), CheckError> {
        if self.interrupted() {
            return Err(CheckError::Interrupted);
        }
        if !self.reuse {
            let (id, captured) = self.execute(invocation)?;
            return Ok((captured, UsedCall { id, reused: false }));
        }
        let key = CallKey {
            invocation: invocation.clone(),
            inputs: invocation
                .inputs()
                .iter()
                .map(|p| FileStamp::of(p))
                .collect(),
        };
        let (outcome, ran_here) = self.calls.get_or_init(key, || self.execute(invocation));
        let (id, captured) = outcome?;
        Ok((
            captured,
            UsedCall {
                id,
                reused: !ran_here,
            },
        ))
    }

    fn execute(&self, invocation: &Invocation) -> Outcome {
        let timeout = self.timeouts.for_subcommand(invocation.subcommand());
        tracing::debug!(command = %invocation.display(), "apr call");
        let captured = self
            .apr
            .execute_until(invocation, timeout, &self.interrupted)
            .map_err(|e| CallFailure::Spawn(e.to_string()))?;
        if captured.termination == apr_client::Termination::Cancelled {
            return Err(CallFailure::Interrupted);
        }
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let id = records.len() + 1;
        records.push(CallRecord {
            id,
            command: invocation.display(),
            subcommand: invocation.subcommand().to_string(),
            exit_code: captured.exit_code(),
            termination: describe(captured.termination),
            duration_ms: u64::try_from(captured.duration.as_millis()).unwrap_or(u64::MAX),
            stdout_bytes: captured.stdout_bytes,
            stderr_bytes: captured.stderr_bytes,
        });
        drop(records);
        if captured.strays_killed {
            return Err(CallFailure::Strays(invocation.display()));
        }
        Ok((id, Arc::new(captured)))
    }

    /// Every call made so far, in the order they started.
    pub fn records(&self) -> Vec<CallRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How a call ended, in the report's words.
pub fn describe(t: apr_client::Termination) -> String {
    match t {
        apr_client::Termination::Exited(code) => {
            format!("exited {code}: {}", apr_client::exit_code_meaning(code))
        }
        apr_client::Termination::Signaled(sig) => format!("killed by signal {sig}"),
        apr_client::Termination::TimedOut(after) => format!("timed out after {}s", after.as_secs()),
        apr_client::Termination::OutputLimit(bytes) => format!("output passed {bytes} bytes"),
        apr_client::Termination::Cancelled => "cancelled (interrupted)".into(),
    }
}
