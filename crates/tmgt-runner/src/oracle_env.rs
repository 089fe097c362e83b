//! The pinned Python environment `tmgt oracle` runs HF transformers in.
//!
//! The binary carries the oracle generator and its hash-pinned lock, so an installed `tmgt`
//! needs no checkout. The environment is a venv made once per lock under the user's cache
//! (`$TMGT_CACHE`, else `$XDG_CACHE_HOME/tmgt`, else `~/.cache/tmgt`) and reused by every
//! later call; a half-made one (no completion mark) is made again.

use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every package of the environment with its wheel's sha256.
pub const LOCK: &str = include_str!("../../../tools/oracle/requirements.lock");
/// The oracle implementation shared with `tools/fixtures/generate.py`.
pub const GENERATOR: &str = include_str!("../../../tools/oracle/oracle.py");
/// The stage oracle (the localize suite's), which imports the oracle's loading.
pub const STAGES: &str = include_str!("../../../tools/oracle/stages.py");
/// The long-context oracle (the long suite's), which imports the oracle's loading and records.
pub const LONG: &str = include_str!("../../../tools/oracle/long.py");
/// The chat oracle (the chat suite's): conversations rendered by each template and continued.
pub const CHAT: &str = include_str!("../../../tools/oracle/chat.py");
/// The repetition-penalty oracle (the sampling suite's).
pub const PENALTY: &str = include_str!("../../../tools/oracle/penalty.py");
/// The interpreter the lock's wheels are built for.
const PYTHON_VERSION: &str = "3.11";
const COMPLETE: &str = ".tmgt-complete";

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("cannot run Python `{python}`: {reason}")]
    NoPython { python: String, reason: String },
    #[error(
        "`{python}` is Python {found}; tmgt's oracle environment (tools/oracle/requirements.lock) \
         is pinned for CPython {PYTHON_VERSION} on x86_64 Linux"
    )]
    WrongPython { python: String, found: String },
    #[error("no cache folder: set TMGT_CACHE, XDG_CACHE_HOME or HOME")]
    NoCache,
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{step}` failed in {dir} ({status}); its output is in {log}")]
    Install {
        step: &'static str,
        dir: PathBuf,
        status: String,
        log: PathBuf,
    },
}

impl EnvError {
    /// What to do about it, for the message's help line.
    pub fn help(&self) -> &'static str {
        match self {
            EnvError::NoPython { .. } | EnvError::WrongPython { .. } => {
                "install CPython 3.11 (Debian: apt-get install python3.11 python3.11-venv) and pass \
                 it with --python or TMGT_PYTHON"
            }
            EnvError::NoCache => "export TMGT_CACHE=/some/folder with about 6 GB free",
            EnvError::Io { .. } => "check the cache folder's permissions and free space",
            EnvError::Install { .. } => {
                "the install needs PyPI and about 6 GB; read the log, fix the cause and rerun \
                 (a half-made environment is made again)"
            }
        }
    }
}

/// A ready environment.
#[derive(Debug)]
pub struct OracleEnv {
    pub dir: PathBuf,
    pub python: PathBuf,
    /// The generator script, written from the binary's copy.
    pub generator: PathBuf,
    /// The stage oracle's script, beside the generator it imports.
    pub stages: PathBuf,
    /// The long-context oracle's script, beside the generator it imports.
    pub long: PathBuf,
    /// The chat oracle's script, beside the generator it imports.
    pub chat: PathBuf,
    /// The repetition-penalty oracle's script, beside the generator it imports.
    pub penalty: PathBuf,
}

/// The user's cache folder for tmgt.
pub fn cache_dir() -> Result<PathBuf, EnvError> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = if let Some(dir) = var("TMGT_CACHE") {
        PathBuf::from(dir)
    } else if let Some(xdg) = var("XDG_CACHE_HOME") {
        PathBuf::from(xdg).join("tmgt")
    } else if let Some(home) = var("HOME") {
        PathBuf::from(home).join(".cache").join("tmgt")
    } else {
        return Err(EnvError::NoCache);
    };
    std::path::absolute(&dir).map_err(|source| EnvError::Io { path: dir, source })
}

/// The environment for the embedded lock, made now if it is not there yet.
pub fn ensure(python: &OsStr) -> Result<OracleEnv, EnvError> {
    let key = hex::encode(&Sha256::digest(LOCK.as_bytes())[..8]);
    let dir = cache_dir()?.join("oracle-env").join(key);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EnvError::Io { path, source }
    };
    if !dir.join(COMPLETE).is_file() {
        check_python(python)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        eprintln!(
            "oracle: making the pinned Python environment in {} (once; about 6 GB, a few minutes)",
            dir.display()
        );
        let lock = dir.join("requirements.lock");
        std::fs::write(&lock, LOCK).map_err(io(&lock))?;
        let log = dir.join("install.log");
        let mut venv = Command::new(python);
        venv.arg("-m").arg("venv").arg(&dir);
        run_logged(venv, "python -m venv", &dir, &log)?;
        let mut pip = Command::new(dir.join("bin").join("python"));
        pip.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--require-hashes",
            "--no-deps",
            "-r",
        ])
        .arg(&lock);
        run_logged(pip, "pip install --require-hashes", &dir, &log)?;
        std::fs::write(dir.join(COMPLETE), LOCK).map_err(io(&dir))?;
    }
    let generator = dir.join("oracle.py");
    let stages = dir.join("stages.py");
    let long = dir.join("long.py");
    let chat = dir.join("chat.py");
    let penalty = dir.join("penalty.py");
    for (path, text) in [
        (&generator, GENERATOR),
        (&stages, STAGES),
        (&long, LONG),
        (&chat, CHAT),
        (&penalty, PENALTY),
    ] {
        if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
            std::fs::write(path, text).map_err(io(path))?;
        }
    }
    Ok(OracleEnv {
        python: dir.join("bin").join("python"),
        generator,
        stages,
        long,
        chat,
        penalty,
        dir,
    })
}

fn check_python(python: &OsStr) -> Result<(), EnvError> {
    let name = python.to_string_lossy().into_owned();
    let out = Command::new(python)
        .args([
            "-c",
            "import platform, sys; print('%d.%d %s' % (sys.version_info[0], sys.version_info[1], platform.machine()))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EnvError::NoPython {
            python: name.clone(),
            reason: e.to_string(),
        })?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(EnvError::NoPython {
            python: name,
            reason: format!("it exited with {}", out.status),
        });
    }
    if found != format!("{PYTHON_VERSION} x86_64") {
        return Err(EnvError::WrongPython {
            python: name,
            found,
        });
    }
    Ok(())
}

fn run_logged(
    mut command: Command,
    step: &'static str,
    dir: &Path,
    log: &Path,
) -> Result<(), EnvError> {
    let io = |source| EnvError::Io {
        path: log.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io)?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(io)?)
        .stderr(file)
        .status()
        .map_err(io)?;
    if status.success() {
        Ok(())
    } else {
        Err(EnvError::Install {
            step,
            dir: dir.to_path_buf(),
            status: status.to_string(),
            log: log.to_path_buf(),
        })
    }
}

/// The Python to make the environment with: `--python`, else `$TMGT_PYTHON`, else the
/// first of `python3.11` and `python3` on PATH.
pub fn default_python() -> OsString {
    if let Some(p) = std::env::var_os("TMGT_PYTHON").filter(|p| !p.is_empty()) {
        return p;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    if on_path("python3.11") {
        "python3.11".into()
    } else {
        "python3".into()
    }
}
