//! Typed client for the `apr` CLI (crate `apr-cli`).
//!
//! * [`resolve_binary`] finds apr (explicit path, then `TMGT_APR`, then `PATH`);
//! * [`Apr::open`] checks its version once;
//! * [`Invocation`] constructors build one fully specified call per subcommand;
//! * [`Apr::execute`] runs it in a new process group with a group-wide timeout and capped
//!   output, and returns the raw [`Captured`] record;
//! * [`parse`] turns a [`Captured`] into a typed [`Reply`] (value, exit code, schema drift).
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//! use apr_client::{parse, resolve_binary, Apr, Invocation};
//!
//! let apr = Apr::open(resolve_binary(None)?, &semver::Version::new(0, 72, 0), Duration::from_secs(30))?;
//! let inv = Invocation::run(Path::new("/models/tiny.gguf"), "Hello", 8, Some(5))?;
//! let reply = parse::run(&apr.execute(&inv, Duration::from_secs(120))?)?;
//! println!("{:?} exit {} drift {:?}", reply.value.tokens, reply.exit_code, reply.drift);
//! # Ok::<(), apr_client::AprError>(())
//! ```

mod error;
mod invocation;
pub mod parse;
mod process;
pub mod stage_dump;
mod subcommand;
mod text;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{AprError, exit_code_meaning, headline};
pub use invocation::{
    ChatRequest, Invocation, LoraTraining, QaOptions, Quantize, Real, RunRequest, Sampling,
};
pub use parse::{FieldProblem, Problem, Reply, VersionInfo};
pub use process::{Captured, DEFAULT_OUTPUT_CAP, Limits, Termination};
pub use subcommand::Subcommand;
pub use text::{char_prefix, shell_quote};

/// Environment variable naming the apr binary.
pub const APR_ENV: &str = "TMGT_APR";

/// Environment every apr call gets: no background update check, no colour.
pub const APR_CALL_ENV: [(&str, &str); 2] =
    [("SOVEREIGN_DISABLE_UPDATE_CHECK", "1"), ("NO_COLOR", "1")];

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Finds the apr binary: `explicit`, then `$TMGT_APR`, then `apr` on `PATH`.
///
/// # Errors
/// [`AprError::NotFound`] naming what was tried.
pub fn resolve_binary(explicit: Option<&Path>) -> Result<PathBuf, AprError> {
    resolve_binary_from(
        explicit,
        std::env::var_os(APR_ENV).as_deref(),
        std::env::var_os("PATH").as_deref(),
    )
}

/// [`resolve_binary`] with the environment passed in.
///
/// # Errors
/// [`AprError::NotFound`] naming what was tried.
pub fn resolve_binary_from(
    explicit: Option<&Path>,
    env_value: Option<&OsStr>,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, AprError> {
    if let Some(path) = explicit {
        return if is_executable_file(path) {
            Ok(absolute(path))
        } else {
            Err(AprError::NotFound {
                detail: format!("{} is not an executable file", path.display()),
            })
        };
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if is_executable_file(&path) {
            Ok(absolute(&path))
        } else {
            Err(AprError::NotFound {
                detail: format!("{APR_ENV}={} is not an executable file", path.display()),
            })
        };
    }
    std::env::split_paths(path_var.unwrap_or_default())
        .map(|dir| dir.join("apr"))
        .find(|p| p.is_absolute() && is_executable_file(p))
        .map(|p| absolute(&p))
        .ok_or_else(|| AprError::NotFound {
            detail: format!("no `apr` on PATH and {APR_ENV} unset"),
        })
}

/// A checked apr binary.
#[derive(Clone, Debug)]
pub struct Apr {
    binary: PathBuf,
    version: VersionInfo,
    limits: Limits,
    env: Vec<(String, String)>,
}

impl Apr {
    /// Runs `apr --version --json` once and checks the version.
    ///
    /// # Errors
    /// Spawn failure, timeout, unparseable output, or a version below `min_version`.
    pub fn open(
        binary: PathBuf,
        min_version: &semver::Version,
        timeout: Duration,
    ) -> Result<Apr, AprError> {
        let mut apr = Apr {
            binary,
            version: VersionInfo {
                name: String::new(),
                version: String::new(),
                git_sha: String::new(),
                cuda_feature: false,
                cuda_runtime_available: false,
                visible_devices: Vec::new(),
            },
            limits: Limits::default(),
            env: Vec::new(),
        };
        let captured = apr.execute(&Invocation::version(), timeout)?;
        let reply = parse::version(&captured)?;
        if reply.exit_code != 0 {
            return Err(parse::exit_error(&captured, reply.exit_code));
        }
        let info = reply.strict()?;
        let found = info.semver().map_err(|e| AprError::Shape {
            detail: format!("version {:?} is not semver: {e}", info.version),
        })?;
        if found < *min_version {
            return Err(AprError::UnsupportedVersion {
                found: found.to_string(),
                minimum: min_version.to_string(),
            });
        }
        apr.version = info;
        Ok(apr)
    }

    /// Adds an environment variable to every call (e.g. `APRENDER_CONTRACTS` for `oracle`).
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str) -> Apr {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The binary.
    #[must_use]
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// What `apr --version --json` said.
    #[must_use]
    pub fn version(&self) -> &VersionInfo {
        &self.version
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn call_env(&self) -> Vec<(String, String)> {
        APR_CALL_ENV
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .chain(self.env.iter().cloned())
            .collect()
    }

    /// The `duct` expression of an invocation: new process group, stdin null (or the invocation's
    /// text), unchecked exit,
    /// call environment. [`Apr::execute`] adds capture and the timeout.
    pub fn expression(&self, inv: &Invocation) -> duct::Expression {
        let env = self.call_env();
        process::expression(&process::Spec {
            program: &self.binary,
            args: inv.args(),
            env: &env,
            dir: inv.workdir(),
            stdin: inv.stdin().map(str::as_bytes),
        })
    }

    /// Runs an invocation: new process group, stdin null (or the invocation's text), `SOVEREIGN_DISABLE_UPDATE_CHECK=1`
    /// and `NO_COLOR=1`, stdout/stderr captured up to the cap; the timeout SIGTERMs the whole
    /// group, waits the grace period, then SIGKILLs it.
    ///
    /// # Errors
    /// Only when the process could not be spawned; every other outcome is in
    /// [`Captured::termination`].
    pub fn execute(&self, inv: &Invocation, timeout: Duration) -> Result<Captured, AprError> {
        self.execute_inner(inv, timeout, None)
    }

    /// [`Apr::execute`], also killing the process group as soon as `cancel` becomes true
    /// (the call then ends as [`Termination::Cancelled`]).
    ///
    /// # Errors
    /// Only when the process could not be spawned.
    pub fn execute_until(
        &self,
        inv: &Invocation,
        timeout: Duration,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<Captured, AprError> {
        self.execute_inner(inv, timeout, Some(cancel))
    }

    fn execute_inner(
        &self,
        inv: &Invocation,
        timeout: Duration,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Captured, AprError> {
        let env = self.call_env();
        tracing::debug!(command = %inv.display(), ?timeout, "apr call");
        let captured = process::run(
            &process::Spec {
                program: &self.binary,
                args: inv.args(),
                env: &env,
                dir: inv.workdir(),
                stdin: inv.stdin().map(str::as_bytes),
            },
            timeout,
            &self.limits,
            cancel,
        )?;
        tracing::debug!(
            termination = ?captured.termination,
            duration = ?captured.duration,
            stdout_bytes = captured.stdout_bytes,
            stderr_bytes = captured.stderr_bytes,
            "apr call ended"
        );
        Ok(captured)
    }
}

/// Runs any program with the same process control as [`Apr::execute`] (used to test the
/// process handling with scripted fakes).
///
/// # Errors
/// Only when the process could not be spawned.
pub fn execute_program(
    program: &Path,
    args: &[String],
    timeout: Duration,
    limits: &Limits,
) -> Result<Captured, AprError> {
    let env: Vec<(String, String)> = APR_CALL_ENV
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    process::run(
        &process::Spec {
            program,
            args,
            env: &env,
            dir: None,
            stdin: None,
        },
        timeout,
        limits,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_are_thread_safe() {
        fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync>() {}
        assert_traits::<Apr>();
        assert_traits::<Invocation>();
        assert_traits::<Captured>();
        assert_traits::<Reply<parse::RunOutput>>();
    }
}
