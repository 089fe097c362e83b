//! `tmgt ticket [REPORT.json]`: the bug tickets of a finished run on stdout (the same text as
//! the run's `ticket.md`), and the helpers `tmgt run` uses to make reports ticket-ready: the
//! artifact hashes and the known-issues ledger's location.

use crate::Exit;
use crate::engine::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmgt_report::{CallRecord, Report};

#[derive(Debug, clap::Args)]
pub struct TicketArgs {
    /// The run's report.json (default: tmgt-out/report.json).
    #[arg(value_name = "REPORT.json", default_value = "tmgt-out/report.json")]
    report: PathBuf,
}

pub fn ticket(args: &TicketArgs) -> Exit {
    let report = match read_report(&args.report) {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    print!("{}", tmgt_report::ticket::render(&report));
    Exit::Ok
}

/// Reads a report.json; a missing or foreign file is a usage error, said on stderr.
pub fn read_report(path: &Path) -> Result<Report, Exit> {
    let bytes = std::fs::read(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        Exit::Usage
    })?;
    Report::from_json(&bytes).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        Exit::Usage
    })
}

/// sha256 of every file the run's apr calls name that exists now (the artifacts they read
/// and wrote), by absolute path. Files the engine already hashed to key its reuse are not
/// read again.
pub fn hash_artifacts(calls: &[CallRecord], engine: &Engine) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for call in calls {
        for path in tmgt_report::ticket::files_named(&call.command) {
            if out.contains_key(&path) || !Path::new(&path).is_file() {
                continue;
            }
            let sha = engine.content_hash(Path::new(&path));
            if sha.len() == 64 {
                out.insert(path, sha);
            } else {
                tracing::warn!("cannot hash {path}");
            }
        }
    }
    out
}

/// The ledger `tmgt run` reads: `--known-issues`, else `known-issues.toml` beside the
/// configuration file.
pub fn ledger_path(explicit: Option<&Path>, config: &Path) -> PathBuf {
    match explicit {
        Some(p) => {
            if !p.exists() {
                tracing::warn!(
                    "the known-issues ledger {} does not exist: no failure is known",
                    p.display()
                );
            }
            p.to_path_buf()
        }
        None => config
            .parent()
            .unwrap_or(Path::new(""))
            .join("known-issues.toml"),
    }
}
