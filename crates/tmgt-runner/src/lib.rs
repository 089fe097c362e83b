//! tmgt's runner: configuration, the check matrix, the apr call engine, artifact
//! preparation and reports. The `tmgt` binary is a thin CLI over it.

// The suites this build runs, named in one place (`tmgt-suites`).
use tmgt_suites as _;

pub mod artifacts;
pub mod bench;
pub mod config;
pub mod damage_cmd;
pub mod diff_cmd;
pub mod disk;
pub mod engine;
pub mod execute;
pub mod fetch;
mod heap;
pub mod human;
pub mod ladder;
pub mod ledger_cmd;
pub mod list;
pub mod matrix;
pub mod merge_cmd;
pub mod oracle_cmd;
pub mod oracle_env;
mod oracle_vouch;
pub mod oracles;
mod pool;
pub mod report;
pub mod run;
pub mod schedule;
pub mod scratch;
pub mod shard;
pub mod ticket_cmd;
pub mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    ChecksFailed = 1,
    Usage = 2,
    Harness = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// `path` made absolute against the working directory (apr takes absolute paths only).
pub(crate) fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The check registry and the configuration of `profile`, each failure printed with the
/// exit code it means (an inconsistent registry: harness; a bad configuration: usage).
pub(crate) fn load_config(
    file: &std::path::Path,
    profile: Option<&str>,
) -> Result<(tmgt_check::Registry, config::Config), Exit> {
    let registry = tmgt_check::Registry::load().map_err(|e| {
        eprintln!("error: the check registry is inconsistent: {e}");
        Exit::Harness
    })?;
    let config = config::Config::load(&absolute(file), profile, &registry).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(e));
        Exit::Usage
    })?;
    Ok((registry, config))
}

/// The default configuration file: `suites.toml` in the working directory.
pub fn default_config() -> PathBuf {
    PathBuf::from("suites.toml")
}
