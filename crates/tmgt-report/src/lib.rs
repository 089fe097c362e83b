//! The record of a run (`report.json`) and the reporters made from it.
//!
//! Everything here is plain data that round-trips through JSON, so reporters work the same on
//! a run that just finished and on a report read back from disk (`tmgt diff`, `tmgt ticket`).

mod schema;
mod write;

pub use schema::{
    AprInfo, CallRecord, EvidenceRecord, Report, ReportVerdict, ResultRecord, SCHEMA, SuiteCounts,
    Summary, Tool, UsedInvocation,
};
pub use write::write_atomic;

use std::path::{Path, PathBuf};

/// Writes every report of a run into `out_dir`; returns the files written.
pub fn write_reports(report: &Report, out_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    let path = out_dir.join("report.json");
    write_atomic(&path, &json)?;
    Ok(vec![path])
}
