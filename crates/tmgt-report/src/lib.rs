//! The record of a run (`report.json`) and the reporters made from it.
//!
//! Everything here is plain data that round-trips through JSON, so reporters work the same on
//! a run that just finished and on a report read back from disk (`tmgt diff`, `tmgt ticket`).
//! Every reporter is a pure function of a [`Report`]: `junit.xml` for CI test views,
//! `summary.md` for a CI job summary, `report.html` for a person, `ticket.md` for upstream
//! bug reports.

pub mod diff;
pub mod group;
pub mod html;
pub mod junit;
pub mod ladder;
pub mod ledger;
pub mod localization;
pub mod markdown;
pub mod matrix;
pub mod paths;
mod schema;
pub mod text;
pub mod ticket;
mod write;

pub use group::Blocked;
pub use ledger::{Ledger, LedgerEntry, LedgerError};
pub use schema::{
    AprInfo, CallInput, CallOutput, CallRecord, EvidenceRecord, HarnessUsage, KnownIssueRef,
    KnownIssueStatus, LowerBound, MatrixRecord, OutsideEntry, READS, ReadError, Report,
    ReportFileError, ReportVerdict, ResultRecord, SCHEMA, ShardRecord, SuiteCounts, Summary, Tool,
    UsedInvocation,
};
pub use write::write_atomic;

use std::path::{Path, PathBuf};

/// The files [`write_reports`] writes into a run's folder.
pub const REPORT_FILES: [&str; 5] = [
    "report.json",
    "junit.xml",
    "summary.md",
    "report.html",
    "ticket.md",
];

/// Writes every report of a run into `out_dir`: `report.json`, `junit.xml`, `summary.md`,
/// `report.html` and `ticket.md`. Returns the files written; on a failure the others are
/// still attempted and the first error is returned.
pub fn write_reports(report: &Report, out_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    let junit = junit::render(report).map_err(std::io::Error::other)?;
    let contents: [(&str, Vec<u8>); 5] = [
        ("report.json", json),
        ("junit.xml", junit.into_bytes()),
        ("summary.md", markdown::render(report).into_bytes()),
        ("report.html", html::render(report).into_bytes()),
        ("ticket.md", ticket::render(report).into_bytes()),
    ];
    let mut written = Vec::new();
    let mut first_error = None;
    for (name, bytes) in contents {
        let path = out_dir.join(name);
        match write_atomic(&path, &bytes) {
            Ok(()) => written.push(path),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(written),
    }
}
