//! The reports of real runs: the built `tmgt`, the real apr (TMGT_APR or PATH) and the bundled
//! tiny models. One run reads the repository's known-issues ledger, one ignores it; their
//! JUnit must validate against the JUnit schema, their HTML render in headless Chromium,
//! `tmgt ticket` reproduce `ticket.md`, and `tmgt diff` tell the two apart.

#[path = "../../../tmgt-report/tests/common/browser.rs"]
mod browser;
use crate::common;
use common::{repo_root, tmgt_at_root as tmgt};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tmgt_report::matrix::Matrix;
use tmgt_report::{Ledger, Report, ReportVerdict};

/// A finished run: its folder (kept under the target folder for a look), exit code, report.
struct Run {
    dir: PathBuf,
    code: i32,
    report: Report,
    stderr: String,
}

fn run(name: &str, extra: &[&str]) -> Run {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("reports-end-to-end")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let out_arg = dir.display().to_string();
    let mut args = vec!["run", "--out", &out_arg];
    args.extend_from_slice(extra);
    let out = tmgt(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let bytes = std::fs::read(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        report: Report::from_json(&bytes).unwrap(),
        dir,
        stderr,
    }
}

/// The full default profile with the repository's ledger (the default), run once.
fn with_ledger() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run("with-ledger", &[]))
}

/// The same run, ignoring the ledger.
fn without_ledger() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run("without-ledger", &["--no-known-issues"]))
}

fn ledger() -> Ledger {
    Ledger::load(&repo_root().join("known-issues.toml")).unwrap()
}

#[test]
fn a_real_run_writes_every_report_and_they_validate_and_render() {
    let run = with_ledger();
    let report = &run.report;
    for name in tmgt_report::REPORT_FILES {
        assert!(run.dir.as_path().join(name).is_file(), "no {name}");
    }
    assert_eq!(
        run.code,
        if report.failed() { 1 } else { 0 },
        "the exit code follows fail and error only\n{}",
        run.stderr
    );

    // The ledger: every entry about the bundled models matched (the others are about the
    // real profile's), none is stale, its failures are xfail.
    let ledger = ledger();
    assert!(!ledger.is_empty(), "known-issues.toml has no entry");
    assert_eq!(report.known_issues.len(), ledger.entries.len());
    let models: Vec<&str> = report
        .results
        .iter()
        .filter_map(|r| r.model.as_deref())
        .collect();
    for (k, entry) in report.known_issues.iter().zip(&ledger.entries) {
        let in_scope = entry.selector.in_scope(&models);
        assert!(
            !k.stale && (k.matched > 0 || !in_scope),
            "stale ledger entry: {k:?}"
        );
    }
    let xfail: usize = report.known_issues.iter().map(|k| k.xfail).sum();
    assert_eq!(report.summary.xfail, xfail);
    assert!(xfail > 0);
    assert_eq!(report.summary.stale_known_issues, 0);
    let counted: usize = ReportVerdict::ALL
        .iter()
        .map(|v| report.summary.count(*v))
        .sum();
    assert_eq!(counted, report.results.len());

    // JUnit: valid against the schema, failures and errors kept apart.
    let junit_path = run.dir.as_path().join("junit.xml");
    browser::validate_junit(&junit_path);
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert_eq!(browser::count(&junit, "<testcase "), report.results.len());
    assert_eq!(browser::count(&junit, "<failure "), report.summary.fail);
    assert_eq!(browser::count(&junit, "<error "), report.summary.error);
    assert_eq!(
        browser::count(&junit, "<skipped "),
        report.summary.skip + report.summary.xfail
    );
    assert_eq!(
        browser::count(&junit, "<testsuite "),
        report.summary.by_suite.len()
    );

    // HTML: loads in Chromium with no console message, its script ran, every cell is there.
    let page = run.dir.as_path().join("report.html");
    let rendered = browser::render(&page);
    assert!(
        rendered.console.is_empty(),
        "console: {:?}",
        rendered.console
    );
    let cells = Matrix::of(report).cells.len();
    assert!(cells > 20, "only {cells} matrix cells");
    assert_eq!(browser::ready_marker(&rendered.dom), Some(cells));
    assert_eq!(browser::count(&rendered.dom, "<td class=\"cell "), cells);
    let token_checks = report
        .results
        .iter()
        .filter(|r| r.details.tokens().is_some())
        .count();
    // Every token check of the token, runtime, prompt and llama.cpp suites writes its streams
    // as a token judgement.
    let untyped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| {
            ["token", "runtime"].contains(&r.suite.as_str())
                && r.error_class.is_none()
                && r.verdict != ReportVerdict::Skip
                && r.details.tokens().is_none()
        })
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        untyped.is_empty(),
        "token checks without a token judgement: {untyped:?}"
    );
    assert_eq!(
        browser::count(&rendered.dom, "<table class=\"stream\">"),
        token_checks
    );
    let png = run.dir.as_path().join("report.png");
    browser::screenshot(&page, &png, 1400, 2400);
    if let Some(keep) = std::env::var_os("TMGT_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    eprintln!(
        "{} results, {cells} matrix cells, {} xfail, {} xpass, {} fail, {} error",
        report.results.len(),
        report.summary.xfail,
        report.summary.xpass,
        report.summary.fail,
        report.summary.error
    );
}

#[test]
fn tmgt_ticket_prints_the_runs_ticket_with_no_machine_paths() {
    let run = without_ledger();
    let report_path = run.dir.as_path().join("report.json");
    let out = tmgt(&["ticket", report_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8(out.stdout).unwrap();
    let written = std::fs::read_to_string(run.dir.as_path().join("ticket.md")).unwrap();
    assert_eq!(printed, written);
    let findings = tmgt_report::ticket::findings(&run.report);
    assert!(!findings.is_empty(), "apr 0.72.3 has known bugs");
    let failing = run
        .report
        .results
        .iter()
        .filter(|r| r.verdict.is_problem())
        .count();
    assert!(findings.len() < failing, "no two results were grouped");
    assert_eq!(
        browser::count(&printed, "\n## ") - usize::from(printed.contains("\n## Known issues")),
        findings.len()
    );
    let root = repo_root().display().to_string();
    let out_dir = run.dir.as_path().display().to_string();
    for machine in [root.as_str(), out_dir.as_str()] {
        assert!(!printed.contains(machine), "{machine} in the ticket");
    }
    assert!(printed.contains("$ARTIFACTS/"), "{printed}");
    assert!(printed.contains("tmgt run --filter '"));
    assert!(printed.contains(&run.report.apr.binary_sha256));
    eprintln!("{} findings from {failing} failing results", findings.len());

    let missing = tmgt(&["ticket", "/nonexistent/report.json"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn tmgt_diff_tells_a_run_with_the_ledger_from_one_without() {
    let known = with_ledger();
    let raw = without_ledger();
    let xfail = known.report.summary.xfail;
    let path = |r: &Run| r.dir.as_path().join("report.json").display().to_string();

    // Dropping the ledger turns every xfail back into a failure: newly failing, exit 1.
    let out = tmgt(&["diff", &path(known), &path(raw), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newly_failing = d["newly_failing"].as_array().unwrap();
    let from_xfail = newly_failing.iter().filter(|c| c["old"] == "xfail").count();
    assert_eq!(from_xfail, xfail, "{d:#}");
    assert!(d["added"].as_array().unwrap().is_empty());
    assert!(d["removed"].as_array().unwrap().is_empty());

    // Adding it back fails nothing new: exit 0, the same results now `xfail`.
    let out = tmgt(&["diff", &path(raw), &path(known)]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0 newly failing"), "{text}");
    assert!(
        text.contains(&format!("## Verdict changed ({xfail})")) || xfail == 0,
        "{text}"
    );

    // A run against itself: nothing changed.
    let out = tmgt(&["diff", &path(raw), &path(raw)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("No result changed.")
    );
}

#[test]
fn a_broken_ledger_is_a_usage_error_before_any_apr_work() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("known-issues.toml");
    std::fs::write(
        &ledger,
        "[[issue]]\nselect = \"colour=red\"\nlink = \"\"\nreason = \"x\"\n",
    )
    .unwrap();
    let out = tmgt(&[
        "run",
        "--out",
        dir.path().to_str().unwrap(),
        "--known-issues",
        ledger.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a selector key"), "{stderr}");
    assert!(stderr.contains("`link` is empty"), "{stderr}");
    assert!(!dir.path().join("report.json").exists());
}
