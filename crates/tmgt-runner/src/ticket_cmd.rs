//! `tmgt ticket [REPORT.json]`: the bug tickets of a finished run on stdout (the same text as
//! the run's `ticket.md`), and the helpers `tmgt run` uses to make reports ticket-ready: the
//! artifact hashes and the known-issues ledger's location.

use crate::Exit;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmgt_report::Report;

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
    Report::read(path).map_err(|e| {
        eprintln!("error: {e}");
        Exit::Usage
    })
}

/// sha256 of every file the report's tickets name that exists now (the artifacts their apr
/// calls read and wrote), by absolute path. Only these: most of a run's files are damaged
/// copies apr handled, which no ticket shows and the run already deleted or will not need.
pub fn hash_artifacts(report: &Report) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for path in tmgt_report::ticket::ticketed_files(report) {
        if !Path::new(&path).is_file() {
            continue;
        }
        match tmgt_oracle::sha256_file(Path::new(&path)) {
            Ok(sha) => {
                out.insert(path, sha);
            }
            Err(e) => tracing::warn!("cannot hash {path}: {e}"),
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
