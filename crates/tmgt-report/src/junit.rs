//! `junit.xml`: one testsuite per suite, one testcase per result. Check failures are
//! `failure`, harness errors `error`, skips and known failures (`xfail`) `skipped`. A result
//! blocked by an unavailable artifact keeps its `error` (CI counts it) but says only what
//! blocked it; the `prepare` result that failed says how many it blocked.

use crate::group::{Blocked, caused_by, could_not_run, group_of, unavailable};
use crate::schema::{Report, ReportVerdict, ResultRecord};
use crate::text::{first_line, shell_quote};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;
use tmgt_outcome::ErrorClass;

pub fn render(report: &Report) -> Result<String, String> {
    let mut junit = quick_junit::Report::new("tmgt");
    let timestamp = chrono::DateTime::parse_from_rfc3339(&report.started_at).ok();
    if let Some(t) = timestamp {
        junit.set_timestamp(t);
    }
    if let (Some(start), Ok(end)) = (
        timestamp,
        chrono::DateTime::parse_from_rfc3339(&report.finished_at),
    ) {
        if let Ok(d) = (end - start).to_std() {
            junit.set_time(d);
        }
    }
    let groups = report.blocked();
    let mut by_suite: BTreeMap<&str, Vec<&ResultRecord>> = BTreeMap::new();
    for r in &report.results {
        by_suite.entry(&r.suite).or_default().push(r);
    }
    let properties = [
        ("apr.version", report.apr.version.as_str()),
        ("apr.git_sha", report.apr.git_sha.as_str()),
        ("apr.binary_sha256", report.apr.binary_sha256.as_str()),
        ("tmgt.version", report.tool.version.as_str()),
    ];
    for (suite, results) in by_suite {
        let mut ts = TestSuite::new(suite);
        if let Some(t) = timestamp {
            ts.set_timestamp(t);
        }
        ts.set_time(Duration::from_millis(
            results.iter().map(|r| r.duration_ms).sum(),
        ));
        ts.add_properties(properties.iter().map(|(k, v)| Property::new(*k, *v)));
        ts.add_test_cases(results.into_iter().map(|r| test_case(report, r, &groups)));
        junit.add_test_suite(ts);
    }
    junit.to_string().map_err(|e| e.to_string())
}

fn test_case(report: &Report, r: &ResultRecord, groups: &[Blocked<'_>]) -> TestCase {
    let status = match r.verdict {
        ReportVerdict::Pass => TestCaseStatus::success(),
        ReportVerdict::Xpass => TestCaseStatus::success(),
        ReportVerdict::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("fail")
                .set_message(first_line(&r.message))
                .set_description(description(report, r, groups));
            s
        }
        ReportVerdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type(r.error_class.map_or("error", ErrorClass::as_str))
                .set_message(error_message(r, groups))
                .set_description(description(report, r, groups));
            s
        }
        ReportVerdict::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("skip").set_message(first_line(&r.message));
            s
        }
        ReportVerdict::Xfail => {
            let mut s = TestCaseStatus::skipped();
            let link = r.known_issue.as_ref().map_or("", |k| k.link.as_str());
            s.set_type("xfail")
                .set_message(format!("known issue {link}: {}", first_line(&r.message)))
                .set_description(description(report, r, groups));
            s
        }
    };
    let mut tc = TestCase::new(r.id.as_str(), status);
    tc.set_classname(format!("{}.{}", r.code, r.check))
        .set_time(Duration::from_millis(r.duration_ms))
        .set_assertions(usize::try_from(r.evidence.count).unwrap_or(usize::MAX));
    if r.verdict == ReportVerdict::Xpass {
        if let Some(k) = &r.known_issue {
            tc.set_system_out(format!(
                "XPASS: known to {} ({}) but passed; fixed upstream? Close the issue and remove \
                 the ledger entry `{}`.\n{}",
                k.expected, k.link, k.select, r.message
            ));
        }
    }
    tc
}

/// An error's first line, or for a blocked result the artifact and the result to look at.
fn error_message(r: &ResultRecord, groups: &[Blocked<'_>]) -> String {
    match group_of(groups, r) {
        Some(Blocked {
            artifact,
            upstream: Some(u),
            ..
        }) => format!(
            "blocked: {} (see {})",
            unavailable(artifact, str::to_string),
            u.id
        ),
        Some(g) => format!("blocked: {}", unavailable(g.artifact, str::to_string)),
        None => first_line(&r.message).to_string(),
    }
}

/// The full message, what it blocked, how to rerun it, and the apr calls it made.
fn description(report: &Report, r: &ResultRecord, groups: &[Blocked<'_>]) -> String {
    let mut s = r.message.clone();
    if let Some(g) = caused_by(groups, r) {
        s.push_str(&format!(
            "\n\n{} because of this",
            could_not_run(g.results.len())
        ));
    }
    s.push_str(&format!(
        "\n\nrerun: tmgt run --filter {}",
        shell_quote(&r.rerun_filter)
    ));
    if let Some(k) = &r.known_issue {
        s.push_str(&format!("\nknown issue: {} ({})", k.link, k.reason));
    }
    for call in r.invocations.iter().filter_map(|i| report.call(i.id)) {
        let exit = call.exit_text();
        s.push_str(&format!(
            "\napr call #{}: {} ({exit})",
            call.id,
            call.reproduction()
        ));
    }
    s
}
