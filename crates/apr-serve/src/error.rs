use std::path::PathBuf;
use std::time::Duration;

/// Why a server or one of its requests gave no answer to judge. Each names the file served,
/// how the server ended where it did, and its last log lines.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("apr serve of {} {how} before it was ready; its last lines:\n{log}", file.display())]
    ExitedBeforeReady {
        file: PathBuf,
        how: String,
        after: Duration,
        log: String,
    },
    #[error("apr serve of {} was not ready within {} s (GET /health never answered 200); killed; its last lines:\n{log}", file.display(), limit.as_secs())]
    NeverReady {
        file: PathBuf,
        limit: Duration,
        log: String,
    },
    #[error("apr serve of {} {how} while serving; its last lines:\n{log}", file.display())]
    Died {
        file: PathBuf,
        how: String,
        log: String,
    },
    #[error("{method} {path} to apr serve of {}: no answer within {} s", file.display(), limit.as_secs())]
    TimedOut {
        file: PathBuf,
        method: String,
        path: String,
        limit: Duration,
    },
    #[error("{method} {path} to apr serve of {}: {detail}", file.display())]
    Transport {
        file: PathBuf,
        method: String,
        path: String,
        detail: String,
    },
    #[error("{what} from apr serve is not what its API promises: {detail} (body: {body})")]
    Schema {
        what: String,
        detail: String,
        body: String,
    },
    #[error("interrupted: the server was stopped")]
    Cancelled,
}

impl ServeError {
    /// The file whose server never came up (exited or hung before ready): every result that
    /// needed it is blocked by that one cause.
    pub fn never_served(&self) -> Option<&std::path::Path> {
        match self {
            ServeError::ExitedBeforeReady { file, .. } | ServeError::NeverReady { file, .. } => {
                Some(file)
            }
            _ => None,
        }
    }
}
