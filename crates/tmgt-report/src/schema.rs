use apr_client::shell_quote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tmgt_outcome::{Details, ErrorClass, RequestRecord};

/// Bumped when a field changes meaning or disappears; added fields keep the version. Version 2
/// dropped the copies of each call's command, exit code and duration from the results' `invocations`:
/// a result names its calls by id into the report's one `invocations` table. Version 3 tags
/// each result's `details` with its `kind` (`tokens`, `localization`, `artifact`, `facts`).
pub const SCHEMA: &str = "tmgt-report/3";

/// The schemas this tmgt reads: a version-1 report's calls say nothing of their files (tickets
/// then show no artifact makers), and the untagged details of versions 1 and 2 read as facts
/// (no token tables or charts).
pub const READS: [&str; 3] = ["tmgt-report/1", "tmgt-report/2", SCHEMA];

/// Why bytes are not a report this tmgt reads.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a tmgt report: {0}")]
    NotAReport(#[from] serde_json::Error),
    #[error("report schema `{found}`, this tmgt reads `{}`", READS.join("`, `"))]
    Schema { found: String },
}

/// Why a report file cannot be read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        source: ReadError,
    },
}

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
    /// Instances that asked for what their model's entry does not have (an artifact tmgt
    /// makes only from an HF folder, a level the entry does not list): no results, listed so
    /// that a report says what it did not judge and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_entry: Vec<OutsideEntry>,
    /// Every apr call of the run, in start order.
    pub invocations: Vec<CallRecord>,
    /// What tmgt itself (not apr) cost: CPU time and peak memory of the tmgt process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessUsage>,
    /// The folder the reports were written to, as given (the configured or `--out` folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<String>,
    /// The known-issues ledger as applied to this run, one entry per ledger entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_issues: Vec<KnownIssueStatus>,
    /// sha256 of the files the tickets' apr calls read or wrote (artifacts), by absolute path,
    /// where they existed when the report was written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, String>,
    /// Which matrix the report covers, and which shard of it: what `tmgt merge` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixRecord>,
}

/// An instance with nothing to judge in its model's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideEntry {
    pub id: String,
    pub reason: String,
}

/// What identifies the matrix a report covers, so the shards of one matrix merge and reports
/// of different ones are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRecord {
    /// sha256 of the configuration file's bytes, the profile and the filters.
    pub config_sha256: String,
    /// sha256 of every registered check's code, name, suite, scope and cost.
    pub registry_sha256: String,
    /// `--filter` narrowed the matrix: no ledger entry can be called stale.
    pub filtered: bool,
    /// Every instance of the matrix (all shards'), in matrix order.
    pub instances: Vec<String>,
    /// The part this report covers; absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// One shard of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// Counted from 1.
    pub index: usize,
    pub count: usize,
    /// Where the costs that balanced the partition came from: `estimate`, or the
    /// `--durations` report's path.
    pub balanced_by: String,
    /// The costliest shard's expected cost over the mean (1.0 is a perfect split).
    pub imbalance: f64,
}

/// Resource use of the tmgt process alone (`getrusage(RUSAGE_SELF)`: apr's children excluded).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct HarnessUsage {
    pub wall_ms: u64,
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    /// CPU time of the llama.cpp workers (decoding, quantizing), as each reported it: the
    /// second runtime's work, not the harness's (not part of the CPU time above).
    #[serde(default)]
    pub runtime_cpu_ms: u64,
    pub peak_rss_kb: u64,
    /// The harness's resident set at its highest while the checks ran (sampled every
    /// 50 ms); llama.cpp's models live in its workers, never here.
    #[serde(default)]
    pub peak_harness_rss_kb: u64,
    /// The highest peak resident set of any one llama.cpp worker (its own `VmHWM`): the
    /// model it loaded and its buffers.
    #[serde(default)]
    pub peak_runtime_kb: u64,
    /// llama.cpp workers started during the run.
    #[serde(default)]
    pub runtime_workers: u64,
    /// llama.cpp calls whose worker aborted, crashed, hung or was interrupted.
    #[serde(default)]
    pub runtime_faults: u64,
    /// The most bytes the run's scratch folder held at once (allocated blocks, sampled).
    #[serde(default)]
    pub peak_scratch_bytes: u64,
    /// Bytes left in the scratch folder when the run ended (0 unless `--keep-scratch`).
    #[serde(default)]
    pub scratch_left_bytes: u64,
    /// The parallel apr calls the run allowed: the lower bound on its wall time divides by it.
    #[serde(default)]
    pub jobs: u64,
    /// The largest file an apr call of the run read: scratch should hold at most
    /// `jobs + 1` of these at once.
    #[serde(default)]
    pub largest_input_bytes: u64,
}

/// The wall time no schedule of a run's work can beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowerBound {
    /// The apr calls' own times (each distinct call once) and the llama.cpp workers' CPU.
    pub work_ms: u64,
    /// The longest single apr call.
    pub longest_call_ms: u64,
    /// `max(work / jobs, longest call)`.
    pub bound_ms: u64,
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

/// The report's verdict column: the check's own three, `error` when no verdict could be
/// reached, and the two the known-issues ledger gives: `xfail` (a failure the ledger expects)
/// and `xpass` (a ledger entry's result that now passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportVerdict {
    Pass,
    Fail,
    Skip,
    Error,
    Xfail,
    Xpass,
}

impl ReportVerdict {
    pub const ALL: [ReportVerdict; 6] = [
        ReportVerdict::Fail,
        ReportVerdict::Error,
        ReportVerdict::Xpass,
        ReportVerdict::Xfail,
        ReportVerdict::Skip,
        ReportVerdict::Pass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportVerdict::Pass => "pass",
            ReportVerdict::Fail => "fail",
            ReportVerdict::Skip => "skip",
            ReportVerdict::Error => "error",
            ReportVerdict::Xfail => "xfail",
            ReportVerdict::Xpass => "xpass",
        }
    }

    /// A verdict that fails the run: a check failed, or could not reach a verdict.
    pub fn is_problem(self) -> bool {
        matches!(self, ReportVerdict::Fail | ReportVerdict::Error)
    }

    /// How bad, for ordering and for colouring a cell by its worst result: fail and error
    /// first, then xpass (a ledger entry to close), xfail, skip, pass.
    pub fn severity(self) -> u8 {
        match self {
            ReportVerdict::Fail => 5,
            ReportVerdict::Error => 4,
            ReportVerdict::Xpass => 3,
            ReportVerdict::Xfail => 2,
            ReportVerdict::Skip => 1,
            ReportVerdict::Pass => 0,
        }
    }
}

impl std::fmt::Display for ReportVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    pub error_class: Option<ErrorClass>,
    /// The artifact (`model/kind`, e.g. `tiny-llama/apr-int8`) whose preparation failed
    /// upstream and left this result unable to run (`artifact-unavailable` errors only): the
    /// reporters group such results under that one cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    pub evidence: EvidenceRecord,
    pub duration_ms: u64,
    /// The apr calls it used.
    pub invocations: Vec<UsedInvocation>,
    /// The requests it sent to servers tmgt started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestRecord>,
    /// The `tmgt run --filter` expression that reruns only this result.
    pub rerun_filter: String,
    /// Structured specifics: divergence windows, token streams, per-tensor numbers.
    #[serde(default, skip_serializing_if = "Details::is_none")]
    pub details: Details,
    /// The known-issues ledger entry that matched this result (verdicts `xfail`, `xpass`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_issue: Option<KnownIssueRef>,
}

impl ResultRecord {
    /// The names a selector (`--filter`, a ledger entry) is matched against.
    pub fn query(&self) -> tmgt_select::Query<'_> {
        tmgt_select::Query {
            suite: &self.suite,
            check: &self.check,
            code: &self.code,
            model: self.model.as_deref(),
            quant: self.quant.as_deref(),
            prompt: self.prompt.as_deref(),
        }
    }
}

/// A ledger entry, as a result that it matched refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownIssueRef {
    /// The entry's selector, in `--filter` syntax.
    pub select: String,
    /// The upstream issue.
    pub link: String,
    pub reason: String,
    /// The verdict the ledger expects (`fail` or `error`); the check's own verdict when the
    /// result is `xfail`.
    pub expected: ReportVerdict,
}

/// One ledger entry after a run: what it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownIssueStatus {
    #[serde(flatten)]
    pub entry: KnownIssueRef,
    /// Results its selector matched, whatever their verdict.
    pub matched: usize,
    pub xfail: usize,
    pub xpass: usize,
    /// It matched no result of a complete, unfiltered run: the check, model or prompt it
    /// names is gone or renamed.
    pub stale: bool,
}

/// A call a result used, by its id in the report's `invocations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedInvocation {
    pub id: usize,
    /// Shared with an earlier identical request rather than run for this result.
    pub reused: bool,
    /// The call failed making an artifact the result needed, so the result could not run.
    #[serde(default, skip_serializing_if = "is_false")]
    pub blocked: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One apr call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: usize,
    /// The shell line that ran it.
    pub command: String,
    pub subcommand: String,
    /// The arguments after `apr`, one element each, as apr received them.
    #[serde(default)]
    pub argv: Vec<String>,
    /// The folder apr ran in, where it was not tmgt's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The files it read, each with the call of this run that made it.
    #[serde(default)]
    pub inputs: Vec<CallInput>,
    /// The files it was asked to write.
    #[serde(default)]
    pub outputs: Vec<CallOutput>,
    /// Later identical requests this call served instead of running again.
    #[serde(default)]
    pub reuses: usize,
    /// Exit code when apr exited on its own.
    pub exit_code: Option<i32>,
    /// How it ended: `exited`, `signaled`, `timed-out`, `output-limit`, `cancelled`.
    pub termination: String,
    pub duration_ms: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

/// A file a call read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInput {
    pub path: String,
    /// The call of this run that wrote it; absent for a file from before the run (the
    /// artifact cache, the model folder) or one tmgt wrote itself (a damaged copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<usize>,
}

/// A file a call wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutput {
    pub path: String,
    /// Where tmgt moved it once made: an artifact is written in a folder of its own beside
    /// its final name, then renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_as: Option<String>,
}

impl CallOutput {
    /// The name the file has after the call.
    pub fn final_path(&self) -> &str {
        self.kept_as.as_deref().unwrap_or(&self.path)
    }
}

impl CallRecord {
    /// The shell line that reproduces the call, each output written straight to the name
    /// it was kept under.
    pub fn reproduction(&self) -> String {
        if self.argv.is_empty() {
            return self.command.clone();
        }
        let mut s = String::new();
        if let Some(dir) = &self.workdir {
            s.push_str(&format!("cd {} && ", shell_quote(dir)));
        }
        s.push_str("apr");
        for arg in &self.argv {
            let arg = self
                .outputs
                .iter()
                .find(|o| o.path == *arg)
                .map_or(arg.as_str(), CallOutput::final_path);
            s.push(' ');
            s.push_str(&shell_quote(arg));
        }
        s
    }

    /// `exit N`, or `no exit code` for a call apr did not end itself.
    pub fn exit_text(&self) -> String {
        self.exit_code
            .map_or_else(|| "no exit code".to_string(), |c| format!("exit {c}"))
    }

    /// Every file it read or wrote, outputs under their final names.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        let read = self.inputs.iter().map(|i| i.path.as_str());
        read.chain(self.outputs.iter().map(CallOutput::final_path))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    /// Failures the known-issues ledger expects (they do not fail the run).
    #[serde(default)]
    pub xfail: usize,
    /// Results a ledger entry expects to fail that passed: fixed upstream?
    #[serde(default)]
    pub xpass: usize,
    /// Ledger entries that matched nothing in a complete run.
    #[serde(default)]
    pub stale_known_issues: usize,
    /// Instances that did not run because the run was interrupted.
    pub not_run: usize,
    pub by_suite: BTreeMap<String, SuiteCounts>,
    pub apr_calls: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteCounts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    #[serde(default)]
    pub xfail: usize,
    #[serde(default)]
    pub xpass: usize,
}

impl SuiteCounts {
    pub fn add(&mut self, verdict: ReportVerdict) {
        *self.slot(verdict) += 1;
    }

    pub fn get(&self, verdict: ReportVerdict) -> usize {
        match verdict {
            ReportVerdict::Pass => self.pass,
            ReportVerdict::Fail => self.fail,
            ReportVerdict::Skip => self.skip,
            ReportVerdict::Error => self.error,
            ReportVerdict::Xfail => self.xfail,
            ReportVerdict::Xpass => self.xpass,
        }
    }

    pub fn total(&self) -> usize {
        ReportVerdict::ALL.iter().map(|v| self.get(*v)).sum()
    }

    fn slot(&mut self, verdict: ReportVerdict) -> &mut usize {
        match verdict {
            ReportVerdict::Pass => &mut self.pass,
            ReportVerdict::Fail => &mut self.fail,
            ReportVerdict::Skip => &mut self.skip,
            ReportVerdict::Error => &mut self.error,
            ReportVerdict::Xfail => &mut self.xfail,
            ReportVerdict::Xpass => &mut self.xpass,
        }
    }
}

impl Summary {
    pub fn of(results: &[ResultRecord], planned: usize, apr_calls: usize) -> Summary {
        let mut s = Summary {
            total: results.len(),
            not_run: planned.saturating_sub(results.len()),
            apr_calls,
            ..Summary::default()
        };
        let mut all = SuiteCounts::default();
        for r in results {
            s.by_suite
                .entry(r.suite.clone())
                .or_default()
                .add(r.verdict);
            all.add(r.verdict);
        }
        let SuiteCounts {
            pass,
            fail,
            skip,
            error,
            xfail,
            xpass,
        } = all;
        Summary {
            pass,
            fail,
            skip,
            error,
            xfail,
            xpass,
            ..s
        }
    }

    /// The counts of one verdict over the run.
    pub fn count(&self, verdict: ReportVerdict) -> usize {
        match verdict {
            ReportVerdict::Pass => self.pass,
            ReportVerdict::Fail => self.fail,
            ReportVerdict::Skip => self.skip,
            ReportVerdict::Error => self.error,
            ReportVerdict::Xfail => self.xfail,
            ReportVerdict::Xpass => self.xpass,
        }
    }
}

impl Report {
    /// The lower bound of the run's wall time; `None` without harness figures.
    pub fn lower_bound(&self) -> Option<LowerBound> {
        let usage = self.harness?;
        let calls: u64 = self.invocations.iter().map(|c| c.duration_ms).sum();
        let work_ms = calls + usage.runtime_cpu_ms;
        let longest_call_ms = self
            .invocations
            .iter()
            .map(|c| c.duration_ms)
            .max()
            .unwrap_or(0);
        Some(LowerBound {
            work_ms,
            longest_call_ms,
            bound_ms: (work_ms / usage.jobs.max(1)).max(longest_call_ms),
        })
    }

    /// The call with this id: ids count from 1 in the table's order, as the runner and
    /// `tmgt merge` write them, so this is a lookup; a table out of order is searched.
    pub fn call(&self, id: usize) -> Option<&CallRecord> {
        let at = id.checked_sub(1).and_then(|i| self.invocations.get(i));
        at.filter(|c| c.id == id)
            .or_else(|| self.invocations.iter().find(|c| c.id == id))
    }

    /// Reads the report file at `path`, refusing one of another schema.
    pub fn read(path: &std::path::Path) -> Result<Report, ReportFileError> {
        let bytes = std::fs::read(path).map_err(|source| ReportFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Report::from_json(&bytes).map_err(|source| ReportFileError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a report, refusing one of another schema.
    pub fn from_json(bytes: &[u8]) -> Result<Report, ReadError> {
        let report: Report = serde_json::from_slice(bytes)?;
        if !READS.contains(&report.schema.as_str()) {
            return Err(ReadError::Schema {
                found: report.schema,
            });
        }
        Ok(report)
    }
}
