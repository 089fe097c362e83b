//! Turning finished instances into the records of `report.json` (schema in `tmgt-report`).

use crate::engine::UsedCall;
use crate::execute::RunState;
use crate::matrix::Instance;
use apr_client::VersionInfo;
use std::path::Path;
use std::time::Duration;
use tmgt_check::{ErrorClass, Status, Verdict};
use tmgt_report::{AprInfo, EvidenceRecord, ReportVerdict, ResultRecord, UsedInvocation};

/// What happened to one instance: a verdict, or the reason none could be reached.
#[derive(Debug, Clone)]
pub enum Outcome {
    Verdict(Verdict),
    Error {
        class: ErrorClass,
        message: String,
        /// The artifact whose failed preparation this error only repeats.
        blocked_by: Option<String>,
    },
}

/// The record of one finished instance.
pub fn record(
    state: &RunState,
    instance: &Instance,
    outcome: Outcome,
    duration: Duration,
    used: Vec<UsedCall>,
) -> ResultRecord {
    let config = &state.config;
    let meta = instance.check.meta;
    let invocations = used
        .into_iter()
        .map(|u| UsedInvocation {
            id: u.id,
            reused: u.reused,
            blocked: u.blocked,
        })
        .collect();
    let (verdict, message, error_class, blocked_by, evidence, details, requests) = match outcome {
        Outcome::Verdict(v) => (
            match v.status {
                Status::Pass => ReportVerdict::Pass,
                Status::Fail => ReportVerdict::Fail,
                Status::Skip => ReportVerdict::Skip,
            },
            v.message,
            None,
            None,
            EvidenceRecord {
                count: v.evidence.count,
                unit: v.evidence.unit.to_string(),
            },
            v.details,
            v.requests,
        ),
        Outcome::Error {
            class,
            message,
            blocked_by,
        } => (
            ReportVerdict::Error,
            message,
            Some(class),
            blocked_by,
            EvidenceRecord {
                count: 0,
                unit: "items".into(),
            },
            tmgt_check::Details::None,
            Vec::new(),
        ),
    };
    ResultRecord {
        id: instance.id(config),
        code: meta.code.to_string(),
        check: meta.name.to_string(),
        suite: meta.suite.to_string(),
        scope: meta.scope.as_str().to_string(),
        model: instance.model.map(|m| config.models[m].name.clone()),
        quant: instance.quant.map(|q| q.as_str().to_string()),
        prompt: instance.prompt.map(|p| config.prompts[p].name.clone()),
        verdict,
        message,
        error_class,
        blocked_by,
        evidence,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        invocations,
        requests,
        rerun_filter: tmgt_select::Selector::exact(&instance.query(config)).to_string(),
        details,
        known_issue: None,
    }
}

pub fn apr_info(binary: &Path, sha: &str, info: &VersionInfo, pinned: &semver::Version) -> AprInfo {
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
