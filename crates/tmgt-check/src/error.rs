use apr_client::AprError;
use apr_serve::ServeError;
use llamacpp_runtime::LlamaError;
use tmgt_oracle::OracleError;
use tmgt_outcome::ErrorClass;

/// Why a check could not reach a verdict. Never a failed check: a failure is a
/// [`crate::Verdict`]; this is the harness (or apr) not letting the check run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Apr(#[from] AprError),
    #[error("apr could not be run: {0}")]
    Spawn(String),
    #[error("`{0}` exited but left processes holding its output open; tmgt killed them")]
    StrayProcesses(String),
    #[error("artifact {artifact} unavailable: {reason}")]
    ArtifactUnavailable {
        artifact: String,
        reason: String,
        /// The apr call whose failure left it unavailable, when one did.
        call: Option<usize>,
    },
    #[error(transparent)]
    Oracle(#[from] OracleError),
    #[error("apr {command} output lacks what this check needs: {detail}")]
    Schema { command: String, detail: String },
    #[error("cannot read {what}: {reason}")]
    Input { what: String, reason: String },
    #[error("compared nothing: {0}")]
    NoEvidence(String),
    #[error("this check needs a {0} but its instance has none (a scope bug in the check)")]
    Scope(&'static str),
    #[error("interrupted before it finished")]
    Interrupted,
    /// llama.cpp did not survive a call in its worker (abort, crash, hang): the message
    /// quotes its last words and the command that reproduces it.
    #[error(transparent)]
    Runtime(Box<LlamaError>),
    /// An `apr serve` the check needed did not come up, died, hung, or answered outside its
    /// API; the message names the file, how the server ended and its last lines.
    #[error(transparent)]
    Serve(std::sync::Arc<ServeError>),
    /// The check itself panicked (caught by the runner).
    #[error(
        "the check panicked (a tmgt bug; this result is lost, the rest of the run is not): {0}"
    )]
    Panicked(String),
    /// The check does not apply to this instance (reported as a skip, with the reason).
    #[error("{0}")]
    NotApplicable(String),
    /// The instance asks for what its model's entry does not have (an artifact tmgt makes only
    /// from an HF folder, for an entry given as a ready-made file; a quantization level the
    /// entry does not list): it is no result of the run, and the report counts it apart.
    #[error("{0}")]
    OutsideEntry(String),
}

impl From<ServeError> for CheckError {
    fn from(e: ServeError) -> CheckError {
        CheckError::Serve(std::sync::Arc::new(e))
    }
}

impl CheckError {
    /// A file the check needs could not be read.
    pub fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> CheckError {
        CheckError::Input {
            what: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Splits llama.cpp's failure: its worker not surviving the call is a runtime fault (the
    /// `Err`); llama.cpp's refusal of the input comes back for the caller to judge.
    pub fn llama_refusal(e: LlamaError) -> Result<LlamaError, CheckError> {
        if e.is_worker_fault() {
            Err(CheckError::Runtime(Box::new(e)))
        } else {
            Ok(e)
        }
    }

    /// llama.cpp's failure on `what`: a runtime fault, or an input error with llama.cpp's
    /// reason.
    pub fn llama(what: impl Into<String>, e: LlamaError) -> CheckError {
        match CheckError::llama_refusal(e) {
            Ok(refusal) => CheckError::Input {
                what: what.into(),
                reason: refusal.to_string(),
            },
            Err(fault) => fault,
        }
    }

    /// The instance has nothing of this kind to judge: the check does not apply to it, or its
    /// model's entry lacks what it asks for. A check that judges several files passes over
    /// one that is inapplicable in either way.
    pub fn is_inapplicable(&self) -> bool {
        matches!(
            self,
            CheckError::NotApplicable(_) | CheckError::OutsideEntry(_)
        )
    }

    /// The size of a file the check needs.
    pub fn file_size(path: &std::path::Path) -> Result<u64, CheckError> {
        Ok(std::fs::metadata(path)
            .map_err(|e| CheckError::file(path, e))?
            .len())
    }

    /// A short machine-readable class for grouping in reports and tickets.
    pub fn class(&self) -> ErrorClass {
        match self {
            CheckError::Apr(e) => match e {
                AprError::TimedOut { .. } => ErrorClass::Timeout,
                AprError::Signaled { .. } => ErrorClass::Signal,
                AprError::OutputLimit { .. } => ErrorClass::OutputLimit,
                AprError::Cancelled { .. } => ErrorClass::Interrupted,
                AprError::Exit { code: 101, .. } => ErrorClass::Panic,
                AprError::Exit { .. } => ErrorClass::Exit,
                AprError::NotJson { .. } => ErrorClass::NotJson,
                AprError::Shape { .. } => ErrorClass::Schema,
                _ => ErrorClass::AprClient,
            },
            CheckError::Spawn(_) => ErrorClass::Spawn,
            CheckError::StrayProcesses(_) => ErrorClass::StrayProcesses,
            CheckError::ArtifactUnavailable { .. } => ErrorClass::ArtifactUnavailable,
            CheckError::Oracle(_) => ErrorClass::Oracle,
            CheckError::Schema { .. } => ErrorClass::Schema,
            CheckError::Input { .. } => ErrorClass::Input,
            CheckError::NoEvidence(_) => ErrorClass::NoEvidence,
            CheckError::Scope(_) => ErrorClass::Scope,
            CheckError::Interrupted => ErrorClass::Interrupted,
            CheckError::Runtime(e) => match e.as_ref() {
                LlamaError::TimedOut { .. } => ErrorClass::Timeout,
                LlamaError::Cancelled { .. } => ErrorClass::Interrupted,
                _ => ErrorClass::RuntimeFault,
            },
            CheckError::Serve(e) => match e.as_ref() {
                ServeError::TimedOut { .. } => ErrorClass::Timeout,
                ServeError::Cancelled => ErrorClass::Interrupted,
                ServeError::Schema { .. } => ErrorClass::Schema,
                _ => ErrorClass::RuntimeFault,
            },
            CheckError::Panicked(_) => ErrorClass::HarnessPanic,
            CheckError::NotApplicable(_) | CheckError::OutsideEntry(_) => ErrorClass::NotApplicable,
        }
    }
}
