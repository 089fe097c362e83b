//! Every apr call of a run goes through the engine: identical calls (same argv, same input
//! files, same apr binary) run once and are shared, and every call is recorded for the report.
//!
//! An input file is identified by its stamp (device, inode, size, modification and change
//! times, to the nanosecond), as git's index and cargo's fingerprints do, not by hashing its
//! contents: any write to the file changes its change time, and most of a run's inputs are
//! damaged copies read by one call each, whose hashing would cost more than the calls.

use crate::config::{Limit, Timeouts};
use apr_client::{Apr, Captured, Invocation};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tmgt_check::CheckError;
use tmgt_check::Memo;
use tmgt_report::{CallInput, CallOutput, CallRecord};

/// A call a result used, and whether it was shared with an earlier request.
#[derive(Debug, Clone)]
pub struct UsedCall {
    pub id: usize,
    pub reused: bool,
    /// The call failed making an artifact the result needed (counted as shared).
    pub blocked: bool,
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
    /// sha256 of the apr binary: the identity artifacts are cached under.
    apr_sha256: String,
    timeouts: Timeouts,
    reuse: bool,
    calls: Memo<CallKey, Outcome>,
    records: Mutex<Vec<CallRecord>>,
    /// The call that last wrote each file, under the name the file has now.
    made: Mutex<HashMap<PathBuf, usize>>,
    /// The calls running now, by a token of their start, for the progress display.
    running: Mutex<BTreeMap<u64, (String, Instant)>>,
    started: AtomicU64,
    largest_input: AtomicU64,
    /// The limit of each call that ran past it, by call id, for the result's message.
    timeouts_hit: Mutex<BTreeMap<usize, Limit>>,
    interrupted: Arc<AtomicBool>,
}

impl Engine {
    /// Fails when the apr binary cannot be read to hash it.
    pub fn new(
        apr: Apr,
        timeouts: Timeouts,
        reuse: bool,
        interrupted: Arc<AtomicBool>,
    ) -> std::io::Result<Engine> {
        let apr_sha256 = tmgt_oracle::sha256_file(apr.binary())?;
        Ok(Engine {
            apr,
            apr_sha256,
            timeouts,
            reuse,
            calls: Memo::default(),
            records: Mutex::default(),
            made: Mutex::default(),
            running: Mutex::default(),
            started: AtomicU64::new(0),
            largest_input: AtomicU64::new(0),
            timeouts_hit: Mutex::default(),
            interrupted,
        })
    }

    /// sha256 of the apr binary, hex.
    pub fn apr_sha256(&self) -> &str {
        &self.apr_sha256
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
            return Ok((
                captured,
                UsedCall {
                    id,
                    reused: false,
                    blocked: false,
                },
            ));
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
        if !ran_here {
            self.update_record(id, |record| record.reuses += 1);
        }
        Ok((
            captured,
            UsedCall {
                id,
                reused: !ran_here,
                blocked: false,
            },
        ))
    }

    fn execute(&self, invocation: &Invocation) -> Outcome {
        let largest = invocation
            .inputs()
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        self.largest_input.fetch_max(largest, Ordering::Relaxed);
        let limit = self.timeouts.limit(invocation.subcommand(), largest);
        let timeout = limit.after;
        tracing::debug!(command = %invocation.display(), "apr call");
        let inputs: Vec<CallInput> = {
            let made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
            invocation
                .inputs()
                .iter()
                .map(|p| CallInput {
                    path: p.to_string_lossy().into_owned(),
                    made_by: made.get(p).copied(),
                })
                .collect()
        };
        let token = self.started.fetch_add(1, Ordering::Relaxed);
        let file = invocation
            .inputs()
            .first()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                token,
                (
                    format!("{} {file}", invocation.subcommand()),
                    Instant::now(),
                ),
            );
        let captured = self
            .apr
            .execute_until(invocation, timeout, &self.interrupted);
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
        let captured = captured.map_err(|e| CallFailure::Spawn(e.to_string()))?;
        if captured.termination == apr_client::Termination::Cancelled {
            return Err(CallFailure::Interrupted);
        }
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let id = records.len() + 1;
        if matches!(captured.termination, apr_client::Termination::TimedOut(_)) {
            self.timeouts_hit
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, limit);
        }
        records.push(CallRecord {
            id,
            command: invocation.display(),
            subcommand: invocation.subcommand().to_string(),
            argv: invocation.args().to_vec(),
            workdir: invocation
                .workdir()
                .map(|d| d.to_string_lossy().into_owned()),
            inputs,
            outputs: invocation
                .outputs()
                .iter()
                .map(|p| CallOutput {
                    path: p.to_string_lossy().into_owned(),
                    kept_as: None,
                })
                .collect(),
            reuses: 0,
            exit_code: captured.exit_code(),
            termination: describe(captured.termination),
            duration_ms: u64::try_from(captured.duration.as_millis()).unwrap_or(u64::MAX),
            stdout_bytes: captured.stdout_bytes,
            stderr_bytes: captured.stderr_bytes,
        });
        drop(records);
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        for output in invocation.outputs().iter().filter(|p| p.exists()) {
            made.insert(output.clone(), id);
        }
        drop(made);
        if captured.strays_killed {
            return Err(CallFailure::Strays(invocation.display()));
        }
        Ok((id, Arc::new(captured)))
    }

    /// The calls running now (`subcommand file`) and how long each has run, oldest first.
    pub fn running(&self) -> Vec<(String, Duration)> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|(label, since)| (label.clone(), since.elapsed()))
            .collect()
    }

    /// Records that call `id`'s output `from` was moved to `to`: later calls reading `to`
    /// name `id` as its maker, and the record reproduces the call writing `to` directly.
    pub fn kept_as(&self, id: usize, from: &Path, to: &Path) {
        let from_text = from.to_string_lossy();
        self.update_record(id, |record| {
            for output in record.outputs.iter_mut().filter(|o| o.path == from_text) {
                output.kept_as = Some(to.to_string_lossy().into_owned());
            }
        });
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.remove(from);
        made.insert(to.to_path_buf(), id);
    }

    /// Changes the record of call `id` (ids count from 1 in the order records are written).
    fn update_record(&self, id: usize, change: impl FnOnce(&mut CallRecord)) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = id.checked_sub(1).and_then(|i| records.get_mut(i)) {
            change(record);
        }
    }

    /// The largest file any call so far read.
    pub fn largest_input(&self) -> u64 {
        self.largest_input.load(Ordering::Relaxed)
    }

    /// The limit call `id` ran past, when it timed out.
    pub fn timeout_of(&self, id: usize) -> Option<Limit> {
        self.timeouts_hit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Call `id`'s record.
    pub fn record(&self, id: usize) -> Option<CallRecord> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        id.checked_sub(1).and_then(|i| records.get(i)).cloned()
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
