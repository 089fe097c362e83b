//! One server per file for the whole run, shared by every check that needs it, as apr calls
//! are shared; all of them stopped when tmgt is interrupted and when it ends.

use crate::error::ServeError;
use crate::server::{Server, ServerSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The ready limit for a file of [`REFERENCE_BYTES`]; larger files get proportionally more.
const READY_LIMIT: Duration = Duration::from_secs(60);
const REFERENCE_BYTES: u64 = 64 * 1024 * 1024;
/// Between SIGINT and SIGKILL when a server is stopped.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A file's server, or why it could not start.
type Started = Result<Arc<Server>, Arc<ServeError>>;

#[derive(Default)]
struct Pool {
    binary: Mutex<Option<PathBuf>>,
    ready_limit: Mutex<Option<Duration>>,
    cancel: Mutex<Option<Arc<AtomicBool>>>,
    /// Each file's server, or why it could not start (told once, to every check).
    servers: Mutex<HashMap<PathBuf, Started>>,
    /// Serializes starts, so two checks never start two servers of one file.
    starting: Mutex<()>,
    started: Mutex<Vec<Arc<Server>>>,
}

static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The apr binary servers run, and the ready limit for a file of 64 MB.
pub fn configure(binary: &Path, ready_limit: Duration) {
    *lock(&POOL.binary) = Some(binary.to_path_buf());
    *lock(&POOL.ready_limit) = Some(ready_limit);
}

/// Servers stop when `flag` is set (tmgt's SIGINT/SIGTERM flag): a watcher kills them.
pub fn cancel_with(flag: Arc<AtomicBool>) {
    *lock(&POOL.cancel) = Some(Arc::clone(&flag));
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for server in lock(&POOL.started).iter() {
            server.kill();
        }
    });
}

/// The shared server of `file`, started on first use. A file whose server failed to start
/// gives every later caller the same failure.
pub fn shared(file: &Path) -> Started {
    if let Some(known) = lock(&POOL.servers).get(file) {
        return known.clone();
    }
    let _one_at_a_time = lock(&POOL.starting);
    if let Some(known) = lock(&POOL.servers).get(file) {
        return known.clone();
    }
    let started = start(file).map(Arc::new).map_err(Arc::new);
    if let Ok(server) = &started {
        lock(&POOL.started).push(Arc::clone(server));
    }
    if !matches!(started, Err(ref e) if matches!(**e, ServeError::Cancelled)) {
        lock(&POOL.servers).insert(file.to_path_buf(), started.clone());
    }
    started
}

/// A server of its own (not shared) for a check that stops it or sends it signals, started
/// from `spec` (see [`spec`]); killed with the others if tmgt is interrupted first.
pub fn private(spec: &ServerSpec) -> Result<Arc<Server>, ServeError> {
    let cancel = lock(&POOL.cancel).clone();
    let server = Arc::new(Server::start(spec, &|| {
        cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
    })?);
    lock(&POOL.started).push(Arc::clone(&server));
    Ok(server)
}

/// A private server of `file` that stops when dropped: for a check that needs a server of a
/// file of its own (a scratch copy) only while it runs.
#[derive(Debug)]
pub struct Scoped(Arc<Server>);

impl Scoped {
    pub fn server(&self) -> &Server {
        &self.0
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Starts a [`Scoped`] server of `file`, as the pool would start it.
pub fn scoped(file: &Path) -> Result<Scoped, ServeError> {
    private(&spec(file)).map(Scoped)
}

/// How the pool would start a server of `file`: the configured apr, a ready limit scaled by
/// the file's size, the stop grace period, a free port.
pub fn spec(file: &Path) -> ServerSpec {
    let binary = lock(&POOL.binary)
        .clone()
        .unwrap_or_else(|| PathBuf::from("apr"));
    let base = lock(&POOL.ready_limit).unwrap_or(READY_LIMIT);
    let len = std::fs::metadata(file).map_or(0, |m| m.len());
    ServerSpec {
        binary,
        file: file.to_path_buf(),
        ready_limit: base.mul_f64((len as f64 / REFERENCE_BYTES as f64).max(1.0)),
        stop_grace: STOP_GRACE,
        args: Vec::new(),
        port: None,
    }
}

fn start(file: &Path) -> Result<Server, ServeError> {
    let cancel = lock(&POOL.cancel).clone();
    Server::start(&spec(file), &|| {
        cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
    })
}

/// Stops every server (SIGINT, then SIGKILL after the grace period). tmgt calls this once
/// its checks are done; a later `shared` starts a new one.
pub fn shutdown() {
    lock(&POOL.servers).clear();
    let all = std::mem::take(&mut *lock(&POOL.started));
    for server in all {
        server.stop();
    }
}
