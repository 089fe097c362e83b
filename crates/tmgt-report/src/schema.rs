use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a field changes meaning or disappears; added fields keep the version.
pub const SCHEMA: &str = "tmgt-report/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub apr: AprInfo,
    /// The configuration the run used, as loaded.
    pub config: serde_json::Value,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped by SIGINT/SIGTERM: the results are those that finished.
    pub interrupted: bool,
    pub summary: Summary,
    pub results: Vec<ResultRecord>,
    /// Every apr call of the run, in start order.
    pub invocations: Vec<CallRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AprInfo {
    pub binary: String,
    pub binary_sha256: String,
    pub version: String,
    pub git_sha: String,
    pub pinned_version: String,
    pub cuda_feature: bool,
    pub cuda_runtime_available: bool,
}

/// The report's verdict column: the check's own three plus `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportVerdict {
    Pass,
    Fail,
    Skip,
    Error,
}

impl ReportVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportVerdict::Pass => "pass",
            ReportVerdict::Fail => "fail",
            ReportVerdict::Skip => "skip",
            ReportVerdict::Error => "error",
        }
    }
}

/// How much a result compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub count: u64,
    pub unit: String,
}

/// One check instance's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRecord {
    /// `CODE/name[/model][/quant][/prompt]`, stable across runs.
    pub id: String,
    pub code: String,
    pub check: String,
    pub suite: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub verdict: ReportVerdict,
    pub message: String,
    /// Harness error class (`timeout`, `panic`, `artifact-unavailable`, ...), errors only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    pub evidence: EvidenceRecord,
    pub duration_ms: u64,
    /// The apr calls it used.
    pub invocations: Vec<UsedInvocation>,
    /// The `tmgt run --filter` expression that reruns only this result.
    pub rerun_filter: String,
    /// Structured specifics: divergence windows, token streams, per-tensor numbers.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedInvocation {
    pub id: usize,
    /// Shared with an earlier identical request rather than run for this result.
    pub reused: bool,
    pub command: String,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// One apr call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: usize,
    /// The shell line that reproduces it.
    pub command: String,
    pub subcommand: String,
    /// Exit code when apr exited on its own.
    pub exit_code: Option<i32>,
    /// How it ended: `exited`, `signaled`, `timed-out`, `output-limit`, `cancelled`.
    pub termination: String,
    pub duration_ms: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    /// Instances that did not run because the run was interrupted.
    pub not_run: usize,
    pub by_suite: BTreeMap<String, SuiteCounts>,
    pub apr_calls: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuiteCounts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(results: &[ResultRecord], planned: usize, apr_calls: usize) -> Summary {
        let mut s = Summary {
            total: results.len(),
            not_run: planned.saturating_sub(results.len()),
            apr_calls,
            ..Summary::default()
        };
        for r in results {
            let suite = s.by_suite.entry(r.suite.clone()).or_default();
            let (all, one) = match r.verdict {
                ReportVerdict::Pass => (&mut s.pass, &mut suite.pass),
                ReportVerdict::Fail => (&mut s.fail, &mut suite.fail),
                ReportVerdict::Skip => (&mut s.skip, &mut suite.skip),
                ReportVerdict::Error => (&mut s.error, &mut suite.error),
            };
            *all += 1;
            *one += 1;
        }
        s
    }
}

impl Report {
    /// Reads a report, refusing one of another schema.
    pub fn from_json(bytes: &[u8]) -> Result<Report, String> {
        let report: Report =
            serde_json::from_slice(bytes).map_err(|e| format!("not a tmgt report: {e}"))?;
        if report.schema != SCHEMA {
            return Err(format!(
                "report schema `{}`, this tmgt reads `{SCHEMA}`",
                report.schema
            ));
        }
        Ok(report)
    }
}
