//! `report.json`: the versioned record of a run, written atomically.

use crate::engine::{CallRecord, UsedCall};
use crate::execute::RunState;
use crate::matrix::Instance;
use apr_client::VersionInfo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tmgt_check::{Evidence, Status, Verdict};

/// Bumped when a field changes meaning or disappears; added fields keep the version.
pub const SCHEMA: &str = "tmgt-report/1";

/// What happened to one instance: a verdict, or the reason none could be reached.
#[derive(Debug, Clone)]
pub enum Outcome {
    Verdict(Verdict),
    Error {
        class: &'static str,
        message: String,
    },
}

/// The report's verdict column: the check's own three plus `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportVerdict {
    Pass,
    Fail,
    Skip,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultRecord {
    pub id: String,
    pub code: &'static str,
    pub check: &'static str,
    pub suite: &'static str,
    pub scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub verdict: ReportVerdict,
    pub message: String,
    /// Harness error class (`timeout`, `artifact-unavailable`, ...), for errors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<&'static str>,
    pub evidence: Evidence,
    pub duration_ms: u64,
    /// The apr calls it used, with how each ended.
    pub invocations: Vec<UsedInvocation>,
    /// `tmgt run --filter` expression that reruns only this result.
    pub rerun_filter: String,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsedInvocation {
    pub id: usize,
    pub reused: bool,
    pub command: String,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

impl ResultRecord {
    pub fn new(
        state: &RunState,
        instance: &Instance,
        outcome: Outcome,
        duration: Duration,
        used: Vec<UsedCall>,
    ) -> ResultRecord {
        let config = &state.config;
        let meta = instance.check.meta;
        let records = state.engine.records();
        let invocations = used
            .into_iter()
            .filter_map(|u| {
                let r = records.iter().find(|r| r.id == u.id)?;
                Some(UsedInvocation {
                    id: u.id,
                    reused: u.reused,
                    command: r.command.clone(),
                    exit_code: r.exit_code,
                    duration_ms: r.duration_ms,
                })
            })
            .collect();
        let (verdict, message, error_class, evidence, details) = match outcome {
            Outcome::Verdict(v) => (
                match v.status {
                    Status::Pass => ReportVerdict::Pass,
                    Status::Fail => ReportVerdict::Fail,
                    Status::Skip => ReportVerdict::Skip,
                },
                v.message,
                None,
                v.evidence,
                v.details,
            ),
            Outcome::Error { class, message } => (
                ReportVerdict::Error,
                message,
                Some(class),
                Evidence::NONE,
                serde_json::Value::Null,
            ),
        };
        ResultRecord {
            id: instance.id(config),
            code: meta.code,
            check: meta.name,
            suite: meta.suite,
            scope: meta.scope.as_str(),
            model: instance.model.map(|m| config.models[m].name.clone()),
            quant: instance.quant.map(|q| q.as_str().to_string()),
            prompt: instance.prompt.map(|p| config.prompts[p].name.clone()),
            verdict,
            message,
            error_class,
            evidence,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            invocations,
            rerun_filter: crate::filter::Filter::exact(instance, config),
            details,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        self.error_class == Some("interrupted")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: Tool,
    pub apr: AprInfo,
    pub config: serde_json::Value,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped by SIGINT/SIGTERM: the results are those that finished.
    pub interrupted: bool,
    pub summary: Summary,
    pub results: Vec<ResultRecord>,
    pub invocations: Vec<CallRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AprInfo {
    pub binary: String,
    pub binary_sha256: String,
    pub version: String,
    pub git_sha: String,
    pub pinned_version: String,
    pub cuda_feature: bool,
    pub cuda_runtime_available: bool,
}

impl AprInfo {
    pub fn new(binary: &Path, sha: &str, info: &VersionInfo, pinned: &semver::Version) -> AprInfo {
        AprInfo {
            binary: binary.display().to_string(),
            binary_sha256: sha.to_string(),
            version: info.version.clone(),
            git_sha: info.git_sha.clone(),
            pinned_version: pinned.to_string(),
            cuda_feature: info.cuda_feature,
            cuda_runtime_available: info.cuda_runtime_available,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    /// Instances that did not run because the run was interrupted.
    pub not_run: usize,
    /// Counts per suite, in the same shape.
    pub by_suite: BTreeMap<String, SuiteCounts>,
    pub apr_calls: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
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
            let suite = s.by_suite.entry(r.suite.to_string()).or_default();
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

/// Writes `value` as pretty JSON to `path` through a temporary file and a rename, so a
/// reader never sees a half-written report.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report"),
        std::process::id()
    ));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
