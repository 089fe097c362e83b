//! `summary.md`: a CI job summary. Totals, what failed (first), the ledger's call-outs, the
//! parity matrix as a table, per-suite counts.

use crate::group::{Blocked, caused_by, is_blocked};
use crate::matrix::{Cell, Matrix};
use crate::schema::{Report, ReportVerdict, ResultRecord};
use crate::text::{clip, first_line, md_cell, md_code, shell_quote};
use std::fmt::Write;

/// The mark a verdict gets in tables.
pub fn mark(v: ReportVerdict) -> &'static str {
    match v {
        ReportVerdict::Pass => "✅",
        ReportVerdict::Fail => "❌",
        ReportVerdict::Error => "💥",
        ReportVerdict::Skip => "⏭️",
        ReportVerdict::Xfail => "🐞",
        ReportVerdict::Xpass => "🎉",
    }
}

pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let headline = if report.failed() {
        let mut parts = Vec::new();
        if s.fail > 0 {
            parts.push(format!("{} failed", s.fail));
        }
        if s.error > 0 {
            parts.push(format!("{} errored", s.error));
        }
        format!("❌ {}", parts.join(", "))
    } else if report.interrupted {
        "⚠️ interrupted".to_string()
    } else {
        "✅ passed".to_string()
    };
    let _ = writeln!(
        out,
        "## tmgt: {headline} (apr {}, commit {})\n",
        report.apr.version,
        md_code(&clip(&report.apr.git_sha, 12))
    );
    out.push_str(
        "| results | ✅ pass | ❌ fail | 💥 error | ⏭️ skip | 🐞 xfail | 🎉 xpass | not run | apr calls |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        s.total, s.pass, s.fail, s.error, s.skip, s.xfail, s.xpass, s.not_run, s.apr_calls
    );
    if report.interrupted {
        out.push_str("The run was interrupted: the results below are those that finished.\n\n");
    }
    let outside = crate::group::outside_entry(report);
    if !outside.is_empty() {
        let _ = writeln!(
            out,
            "Not judged, their entries lacking what they ask for ({} instances):\n",
            report.outside_entry.len()
        );
        for line in outside {
            let _ = writeln!(out, "- {}", md_cell(&line));
        }
        out.push('\n');
    }
    failures(&mut out, report);
    let notes = report.ledger_notes();
    let known: Vec<_> = report.known_issues.iter().filter(|k| k.xfail > 0).collect();
    if !notes.is_empty() || !known.is_empty() {
        out.push_str("### Known-issues ledger\n\n");
        for n in notes {
            let _ = writeln!(out, "- {}", md_cell(&n));
        }
        for k in known {
            let _ = writeln!(
                out,
                "- 🐞 {} known {} (xfail): {} — {}: {}",
                k.xfail,
                if k.xfail == 1 { "failure" } else { "failures" },
                md_code(&k.entry.select),
                md_cell(&k.entry.link),
                md_cell(&k.entry.reason)
            );
        }
        out.push('\n');
    }
    matrix(&mut out, report);
    ladder(&mut out, report);
    suites(&mut out, report);
    let _ = writeln!(
        out,
        "<sub>tmgt {} · started {} · finished {} · apr binary sha256 {}</sub>",
        report.tool.version,
        report.started_at,
        report.finished_at,
        md_code(&report.apr.binary_sha256)
    );
    out
}

fn failures(out: &mut String, report: &Report) {
    let count = report
        .results
        .iter()
        .filter(|r| r.verdict.is_problem())
        .count();
    if count == 0 {
        return;
    }
    let groups = report.blocked();
    // A group's entry stands for its upstream and its blocked results.
    let mut problems: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.verdict.is_problem() && !is_blocked(r) && caused_by(&groups, r).is_none())
        .collect();
    problems.sort_by_key(|r| r.verdict != ReportVerdict::Fail);
    let _ = writeln!(out, "### Failures and errors ({count})\n");
    for g in &groups {
        blocked(out, g);
    }
    if problems.is_empty() {
        return;
    }
    out.push_str("| | result | message | rerun |\n|---|---|---|---|\n");
    for r in problems {
        let verdict = match &r.error_class {
            Some(class) => format!("{} error: {class}", mark(r.verdict)),
            None => format!("{} {}", mark(r.verdict), r.verdict),
        };
        let _ = writeln!(
            out,
            "| {verdict} | {} | {} | {} |",
            md_code(&r.id),
            md_cell(&clip(first_line(&r.message), 240)),
            md_code(&rerun(r)).replace('|', "\\|")
        );
    }
    out.push('\n');
}

fn rerun(r: &ResultRecord) -> String {
    format!("tmgt run --filter {}", shell_quote(&r.rerun_filter))
}

/// One entry for an unavailable artifact: the cause and its reason, the blocked ids folded.
fn blocked(out: &mut String, g: &Blocked<'_>) {
    let verdict = g.upstream.map_or(ReportVerdict::Error, |u| u.verdict);
    let _ = writeln!(out, "{} {}\n", mark(verdict), g.headline(md_code));
    let _ = writeln!(out, "> {}\n", md_cell(&clip(first_line(g.reason()), 240)));
    if let Some(u) = g.upstream {
        let _ = writeln!(out, "rerun: {}\n", md_code(&rerun(u)));
    }
    let n = g.results.len();
    let _ = writeln!(
        out,
        "<details><summary>{n} blocked {}</summary>\n",
        if n == 1 { "result" } else { "results" }
    );
    for r in &g.results {
        let _ = writeln!(out, "- {}", md_code(&r.id));
    }
    out.push_str("\n</details>\n\n");
}

fn cell_text(cell: Option<&Cell>) -> String {
    match cell {
        None => String::new(),
        Some(c) => format!("{} {}", mark(c.worst()), c.label()),
    }
}

fn ladder(out: &mut String, report: &Report) {
    let rows = crate::ladder::rows(report);
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "### Quantization ladder\n\nPer rung: what quantizing costs (the rung's oracles against \
         the float32 ones) and what each runtime adds on top (against the rung's oracles).\n\n",
    );
    let header: Vec<String> = crate::ladder::HEADER.iter().map(|h| md_cell(h)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.cells().iter().map(|c| md_cell(&clip(c, 120))).collect();
        let _ = writeln!(out, "| {} | {} |", cells.join(" | "), mark(row.verdict));
    }
    out.push('\n');
}

fn matrix(out: &mut String, report: &Report) {
    let m = Matrix::of(report);
    if m.rows.is_empty() {
        return;
    }
    out.push_str(
        "### Parity matrix\n\nOne cell per model, quantization level (— for model-wide checks) and \
         suite: the worst verdict, and the results that failed over the results there.\n\n",
    );
    out.push_str("| model | quant |");
    for s in &m.suites {
        let _ = write!(out, " {} |", md_cell(s));
    }
    out.push_str("\n|---|---|");
    for _ in &m.suites {
        out.push_str(":---:|");
    }
    out.push('\n');
    for (row, key) in m.rows.iter().enumerate() {
        let _ = write!(out, "| {} | {} |", md_cell(&key.model), md_cell(&key.quant));
        for col in 0..m.suites.len() {
            let _ = write!(out, " {} |", cell_text(m.cell(row, col)));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn suites(out: &mut String, report: &Report) {
    if report.summary.by_suite.is_empty() {
        return;
    }
    out.push_str("<details><summary>Per suite</summary>\n\n");
    out.push_str("| suite | pass | fail | error | skip | xfail | xpass |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (suite, c) in &report.summary.by_suite {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_cell(suite),
            c.pass,
            c.fail,
            c.error,
            c.skip,
            c.xfail,
            c.xpass
        );
    }
    out.push_str("\n</details>\n\n");
}
