//! `report.html`: one self-contained page (inline CSS and JS, system fonts, no network) with
//! the parity matrix (model × quantization level × suite, coloured by the worst verdict) and
//! every result; token checks show the oracle's and apr's token streams side by side with the
//! first divergence and the oracle's margins marked. Results an unavailable artifact blocked
//! are folded into one group after the `prepare` result that failed, so the cause stays in
//! sight.
//!
//! The page is rendered here, complete without JS; the script only filters the result list
//! (click a cell or a total) and, once it ran, sets `data-tmgt-ready` on `<html>` to the
//! number of matrix cells it wired up, which the headless-browser test reads.

use crate::group::{Blocked, blocker, caused_by, group_of, is_blocked};
use crate::matrix::Matrix;
use crate::schema::{Report, ReportVerdict, ResultRecord};
use crate::text::{first_line, html, shell_quote};
use std::fmt::Write;
use tmgt_outcome::TokenComparison;

const STYLE: &str = r#"
:root { --pass:#1a7f37; --fail:#cf222e; --error:#8250df; --skip:#6e7781; --xfail:#bf8700; --xpass:#0969da;
  --bg:#ffffff; --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.2rem 1.6rem 3rem; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; margin: .4rem 0; }
.meta { color: var(--muted); margin: 0; } .meta code { color: var(--fg); }
.totals { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0 .4rem; }
.chip { border: 1px solid var(--line); background: var(--soft); border-radius: 999px; padding: .25rem .8rem;
  font: inherit; cursor: pointer; } .chip b { margin-left: .3rem; }
.chip.v-pass { border-color: var(--pass); } .chip.v-fail { border-color: var(--fail); }
.chip.v-error { border-color: var(--error); } .chip.v-skip { border-color: var(--skip); }
.chip.v-xfail { border-color: var(--xfail); } .chip.v-xpass { border-color: var(--xpass); }
.notes { border-left: 4px solid var(--xpass); background: var(--soft); padding: .4rem .8rem; margin: .8rem 0; }
.notes p { margin: .2rem 0; }
.matrix-wrap { overflow-x: auto; }
table.matrix { border-collapse: collapse; }
table.matrix th, table.matrix td { border: 1px solid var(--line); padding: 0; text-align: center; }
table.matrix thead th.suite { height: 7.5rem; vertical-align: bottom; padding: .3rem .15rem; font-weight: 600; }
table.matrix thead th.suite span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
table.matrix tbody th { padding: .2rem .6rem; text-align: left; font-weight: 600; white-space: nowrap; }
table.matrix tbody th.quant { font-weight: 400; color: var(--muted); }
table.matrix td { min-width: 2.6rem; height: 1.9rem; }
table.matrix td button { width: 100%; height: 100%; border: 0; background: none; color: #fff; font: 600 12px/1 system-ui, sans-serif;
  cursor: pointer; padding: .35rem .2rem; }
td.cell.v-pass { background: var(--pass); } td.cell.v-fail { background: var(--fail); }
td.cell.v-error { background: var(--error); } td.cell.v-skip { background: var(--skip); }
td.cell.v-xfail { background: var(--xfail); } td.cell.v-xpass { background: var(--xpass); }
td.cell.selected { outline: 3px solid var(--fg); outline-offset: -3px; }
.chip i, .legend i { display: inline-block; width: .8rem; height: .8rem; border-radius: 3px; vertical-align: -1px; margin-right: .35rem; }
.legend { display: flex; flex-wrap: wrap; gap: 1rem; color: var(--muted); margin: .5rem 0; }
.toolbar { display: flex; gap: .8rem; align-items: center; color: var(--muted); margin-bottom: .5rem; }
.toolbar button { font: inherit; border: 1px solid var(--line); background: var(--soft); border-radius: 6px; padding: .15rem .6rem; cursor: pointer; }
.result { border: 1px solid var(--line); border-left: 5px solid var(--skip); border-radius: 6px; margin: .35rem 0; }
.result.v-pass { border-left-color: var(--pass); } .result.v-fail { border-left-color: var(--fail); }
.result.v-error { border-left-color: var(--error); } .result.v-xfail { border-left-color: var(--xfail); }
.result.v-xpass { border-left-color: var(--xpass); }
.result summary { cursor: pointer; padding: .35rem .6rem; list-style-position: inside; }
.result summary .id { font-weight: 600; }
.blocked { border: 1px dashed var(--error); border-radius: 6px; margin: .35rem 0; }
.blocked > details > summary { cursor: pointer; padding: .35rem .6rem; list-style-position: inside; }
.result summary .msg { color: var(--muted); margin-left: .5rem; }
.badge { display: inline-block; min-width: 3.4rem; text-align: center; border-radius: 4px; color: #fff; font: 600 11px/1.6 system-ui, sans-serif;
  text-transform: uppercase; margin-right: .5rem; }
.badge.v-pass { background: var(--pass); } .badge.v-fail { background: var(--fail); } .badge.v-error { background: var(--error); }
.badge.v-skip { background: var(--skip); } .badge.v-xfail { background: var(--xfail); } .badge.v-xpass { background: var(--xpass); }
.body { padding: .2rem .9rem .7rem; border-top: 1px solid var(--line); }
.body dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; margin: .5rem 0; }
.body dt { color: var(--muted); } .body dd { margin: 0; }
.tokens { overflow-x: auto; margin: .5rem 0; }
table.stream { border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
table.stream th { text-align: right; padding: .1rem .5rem .1rem 0; color: var(--muted); font-weight: 600; position: sticky; left: 0; background: var(--bg); }
table.stream td { text-align: center; padding: .1rem .3rem; border: 1px solid var(--line); min-width: 2.8rem; }
table.stream tr.step td { border: 0; color: var(--muted); font-size: 10.5px; }
table.stream tr.margin td { color: var(--muted); font-size: 10.5px; }
table.stream td.diff { background: #fff1e5; }
table.stream td.first { background: #ffebe9; outline: 2px solid var(--fail); outline-offset: -2px; font-weight: 700; }
table.stream td.after { color: var(--muted); }
table.stream td.tie { color: var(--xfail); font-weight: 700; }
table.stream td.missing { background: var(--soft); color: var(--muted); }
.divergence { margin: .3rem 0; }
figure.localization { margin: .6rem 0; } figure.localization svg { width: 100%; max-width: 720px; height: auto; }
figure.localization .axis { font-size: 9px; fill: var(--muted); }
figure.localization .tolerance { stroke: var(--muted); stroke-dasharray: 4 3; }
figure.localization .errors { fill: none; stroke: var(--xpass); stroke-width: 1.2; }
figure.localization .agrees { fill: var(--pass); } figure.localization .departs { fill: var(--fail); }
figure.localization .first { font-size: 10px; fill: var(--fail); }
figure.localization figcaption { color: var(--muted); font-size: 12px; }
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var results = Array.prototype.slice.call(document.querySelectorAll(".result"));
  var groups = Array.prototype.slice.call(document.querySelectorAll(".blocked"));
  var cells = Array.prototype.slice.call(document.querySelectorAll("td.cell[data-cell]"));
  var label = document.getElementById("active-filter");
  function show(pred, text) {
    var n = 0;
    results.forEach(function (r) {
      var on = pred(r);
      r.hidden = !on;
      if (on) { n += 1; }
    });
    groups.forEach(function (g) {
      g.hidden = g.querySelector(".result:not([hidden])") === null;
    });
    label.textContent = text + " (" + n + " of " + results.length + ")";
  }
  function select(td) {
    cells.forEach(function (c) { c.classList.toggle("selected", c === td); });
  }
  cells.forEach(function (td) {
    td.addEventListener("click", function () {
      var key = td.getAttribute("data-cell");
      select(td);
      show(function (r) { return r.getAttribute("data-cell") === key; }, key.split("|").join(" · "));
      document.getElementById("results").scrollIntoView({ behavior: "smooth" });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), function (b) {
    b.addEventListener("click", function () {
      var v = b.getAttribute("data-filter");
      select(null);
      show(function (r) { return r.getAttribute("data-verdict") === v; }, v);
    });
  });
  document.getElementById("clear").addEventListener("click", function () {
    select(null);
    show(function () { return true; }, "all");
  });
  show(function () { return true; }, "all");
  document.documentElement.setAttribute("data-tmgt-ready", String(cells.length));
})();
"#;

pub fn render(report: &Report) -> String {
    let matrix = Matrix::of(report);
    let s = &report.summary;
    let mut out = String::new();
    let headline = if report.failed() {
        format!("{} failed, {} errored", s.fail, s.error)
    } else {
        "passed".to_string()
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>tmgt: apr {} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        html(&report.apr.version),
        html(&headline)
    );
    let apr = &report.apr;
    let _ = write!(
        out,
        "<header>\n<h1>tmgt: apr {} — {}</h1>\n<p class=\"meta\">apr commit <code>{}</code> · binary sha256 \
         <code>{}</code> · tmgt {} · started {} · finished {}{}</p>\n</header>\n",
        html(&apr.version),
        html(&headline),
        html(&apr.git_sha),
        html(&apr.binary_sha256),
        html(&report.tool.version),
        html(&report.started_at),
        html(&report.finished_at),
        if report.interrupted {
            " · <strong>interrupted</strong>"
        } else {
            ""
        }
    );
    out.push_str("<section class=\"totals\" aria-label=\"totals\">\n");
    let _ = writeln!(
        out,
        "<span class=\"chip\">results <b>{}</b></span>",
        s.total
    );
    for v in ReportVerdict::ALL {
        let _ = writeln!(
            out,
            "<button type=\"button\" class=\"chip v-{v}\" data-filter=\"{v}\"><i style=\"background:var(--{v})\"></i>{v} <b>{}</b></button>",
            s.count(v)
        );
    }
    if s.not_run > 0 {
        let _ = writeln!(
            out,
            "<span class=\"chip\">not run <b>{}</b></span>",
            s.not_run
        );
    }
    let _ = writeln!(
        out,
        "<span class=\"chip\">apr calls <b>{}</b></span>\n</section>",
        s.apr_calls
    );
    let notes = report.ledger_notes();
    if !notes.is_empty() {
        out.push_str("<section class=\"notes\" id=\"ledger\">\n");
        for n in notes {
            let _ = writeln!(out, "<p>{}</p>", html(&n));
        }
        out.push_str("</section>\n");
    }
    matrix_table(&mut out, &matrix);
    ladder_table(&mut out, report);
    results(&mut out, report, &matrix);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

fn ladder_table(out: &mut String, report: &Report) {
    let rows = crate::ladder::rows(report);
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"ladder\">\n<h2>Quantization ladder</h2>\n<p>Per rung: what quantizing \
         costs (the rung's oracles against the float32 ones) and what each runtime adds on top \
         (against the rung's oracles).</p>\n<table>\n<thead><tr>",
    );
    for h in crate::ladder::HEADER {
        let _ = write!(out, "<th>{}</th>", html(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row.cells() {
            let _ = write!(out, "<td>{}</td>", html(&cell));
        }
        let _ = writeln!(out, "<td class=\"v-{0}\">{0}</td></tr>", row.verdict);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn matrix_table(out: &mut String, m: &Matrix) {
    out.push_str("<section id=\"matrix\">\n<h2>Parity matrix</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} cells: one per model, quantization level (— for model-wide checks) and \
         suite, coloured by its worst verdict; the number is the results that failed over the \
         results there (just the count when none failed). Click a cell to list its results.</p>",
        m.cells.len()
    );
    out.push_str(
        "<div class=\"matrix-wrap\">\n<table class=\"matrix\">\n<thead><tr><th>model</th><th>quant</th>",
    );
    for s in &m.suites {
        let _ = write!(out, "<th class=\"suite\"><span>{}</span></th>", html(s));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (row, key) in m.rows.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><th>{}</th><th class=\"quant\">{}</th>",
            html(&key.model),
            html(&key.quant)
        );
        for col in 0..m.suites.len() {
            match m.cell(row, col) {
                None => out.push_str("<td></td>"),
                Some(c) => {
                    let _ = write!(
                        out,
                        "<td class=\"cell v-{}\" data-cell=\"{}\" title=\"{} · {} · {}: {}\"><button type=\"button\">{}</button></td>",
                        c.worst(),
                        html(&m.cell_key(row, col)),
                        html(&key.model),
                        html(&key.quant),
                        html(&m.suites[col]),
                        html(&c.describe()),
                        html(&c.label())
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n<div class=\"legend\">");
    for v in ReportVerdict::ALL {
        let _ = write!(
            out,
            "<span><i style=\"background:var(--{v})\"></i>{v}</span>"
        );
    }
    out.push_str("</div>\n</section>\n");
}

fn results(out: &mut String, report: &Report, m: &Matrix) {
    let mut order: Vec<usize> = (0..report.results.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(report.results[i].verdict.severity()));
    let mut cell_of = vec![String::new(); report.results.len()];
    for (&(row, col), cell) in &m.cells {
        for &i in &cell.results {
            cell_of[i] = m.cell_key(row, col);
        }
    }
    out.push_str(
        "<section id=\"results\">\n<h2>Results</h2>\n<div class=\"toolbar\"><span>showing \
         <span id=\"active-filter\">all</span></span><button type=\"button\" id=\"clear\">show all</button></div>\n",
    );
    let groups = report.blocked();
    for i in order {
        let r = &report.results[i];
        match group_of(&groups, r) {
            // Folded: the group shows once, after its upstream or else at its first result.
            Some(g) => {
                if g.upstream.is_none() && g.results.first().is_some_and(|f| std::ptr::eq(*f, r)) {
                    blocked(out, g, report, &cell_of);
                }
            }
            None => {
                result(out, report, r, i, &cell_of[i]);
                if let Some(g) = caused_by(&groups, r) {
                    blocked(out, g, report, &cell_of);
                }
            }
        }
    }
    out.push_str("</section>\n");
}

/// One unavailable artifact's group, closed: its headline and reason, then each blocked
/// result's own record.
fn blocked(out: &mut String, g: &Blocked<'_>, report: &Report, cell_of: &[String]) {
    let _ = write!(
        out,
        "<div class=\"blocked\" data-artifact=\"{}\"><details><summary><span class=\"badge v-error\">\
         blocked</span>{}</summary>\n<div class=\"body\">\n<pre>{}</pre>\n",
        html(g.artifact),
        g.headline(|s| format!("<code>{}</code>", html(s))),
        html(g.reason())
    );
    for (i, r) in report.results.iter().enumerate() {
        if blocker(r) == Some(g.artifact) {
            result(out, report, r, i, &cell_of[i]);
        }
    }
    out.push_str("</div></details></div>\n");
}

fn result(out: &mut String, report: &Report, r: &ResultRecord, index: usize, cell: &str) {
    let v = r.verdict;
    let _ = write!(
        out,
        "<div class=\"result v-{v}\" id=\"r{index}\" data-verdict=\"{v}\" data-cell=\"{}\">\
         <details{}><summary><span class=\"badge v-{v}\">{v}</span><span class=\"id\">{}</span>\
         <span class=\"msg\">{}</span></summary>\n<div class=\"body\">\n",
        html(cell),
        // Blocked results start closed: alike, open they would make their group a wall.
        if (v.is_problem() && !is_blocked(r)) || v == ReportVerdict::Xpass {
            " open"
        } else {
            ""
        },
        html(&r.id),
        html(first_line(&r.message))
    );
    let _ = writeln!(out, "<pre>{}</pre>", html(&r.message));
    out.push_str("<dl>\n");
    let _ = writeln!(
        out,
        "<dt>check</dt><dd>{} <code>{}</code> (suite {})</dd>",
        html(&r.code),
        html(&r.check),
        html(&r.suite)
    );
    if let Some(class) = &r.error_class {
        let _ = writeln!(
            out,
            "<dt>error class</dt><dd><code>{}</code></dd>",
            html(class.as_str())
        );
    }
    let _ = writeln!(
        out,
        "<dt>evidence</dt><dd>{} {} · {} ms</dd>",
        r.evidence.count,
        html(&r.evidence.unit),
        r.duration_ms
    );
    if let Some(k) = &r.known_issue {
        let link = if k.link.starts_with("https://") || k.link.starts_with("http://") {
            format!("<a href=\"{0}\">{0}</a>", html(&k.link))
        } else {
            html(&k.link)
        };
        let _ = writeln!(
            out,
            "<dt>known issue</dt><dd>{link}: {} (expected {}, ledger <code>{}</code>)</dd>",
            html(&k.reason),
            k.expected,
            html(&k.select)
        );
    }
    let _ = writeln!(
        out,
        "<dt>rerun</dt><dd><code>tmgt run --filter {}</code></dd>",
        html(&shell_quote(&r.rerun_filter))
    );
    out.push_str("</dl>\n");
    tokens(out, r);
    if let Some(chart) = crate::localization::chart(&r.details) {
        out.push_str(&chart);
    }
    if !r.invocations.is_empty() {
        let mut calls = String::new();
        for i in &r.invocations {
            let Some(call) = report.call(i.id) else {
                continue;
            };
            let end = call.exit_text();
            let _ = writeln!(
                calls,
                "# call #{}{}, {end}, {} ms\n{}",
                i.id,
                match (i.blocked, i.reused) {
                    (true, _) => " (failed making an artifact this result needed)",
                    (false, true) => " (shared)",
                    (false, false) => "",
                },
                call.duration_ms,
                call.reproduction()
            );
        }
        let _ = writeln!(out, "<pre>{}</pre>", html(calls.trim_end()));
    }
    if !r.requests.is_empty() {
        let _ = writeln!(
            out,
            "<pre>{}</pre>",
            html(crate::text::requests_script(&r.requests).trim_end())
        );
    }
    out.push_str("</div></details></div>\n");
}

/// The oracle's and the runtime's token streams, aligned by step.
fn tokens(out: &mut String, r: &ResultRecord) {
    let Some(d) = r.details.tokens() else {
        return;
    };
    let (oracle, apr, runtime) = (&d.oracle, &d.tokens, d.runtime.as_str());
    let first = d
        .first_divergence()
        .or_else(|| TokenComparison::new(oracle, apr).first_divergence);
    let (start, margins) = d
        .window
        .as_ref()
        .map_or((0, &[][..]), |w| (w.start, w.margins.as_slice()));
    let margin_at = |i: usize| {
        i.checked_sub(start)
            .and_then(|k| margins.get(k).copied().flatten())
    };
    let tie = d.is_tie_flip();
    let len = oracle.len().max(apr.len());
    out.push_str(
        "<div class=\"tokens\"><table class=\"stream\">\n<tr class=\"step\"><th>step</th>",
    );
    for i in 0..len {
        let _ = write!(out, "<td>{i}</td>");
    }
    out.push_str("</tr>\n<tr class=\"oracle\"><th>oracle</th>");
    for i in 0..len {
        token_cell(out, oracle.get(i), apr.get(i), i, first);
    }
    let _ = write!(out, "</tr>\n<tr class=\"apr\"><th>{}</th>", html(runtime));
    for i in 0..len {
        token_cell(out, apr.get(i), oracle.get(i), i, first);
    }
    out.push_str("</tr>\n");
    if !margins.is_empty() {
        out.push_str("<tr class=\"margin\"><th>oracle margin</th>");
        for i in 0..len {
            match margin_at(i) {
                Some(m) => {
                    let class = if Some(i) == first && tie {
                        " class=\"tie\""
                    } else {
                        ""
                    };
                    let _ = write!(
                        out,
                        "<td{class} title=\"top-1 minus top-2 logit\">{m:.3}</td>"
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    let summary = match first {
        None => format!("all {} tokens equal", oracle.len()),
        Some(at) => {
            let kind = d.class_name();
            let margin = margin_at(at)
                .map_or_else(String::new, |m| format!("; oracle margin {m:.3} logits"));
            format!(
                "first divergence at step {at} ({kind}): oracle {}, {runtime} {}{margin}; steps after it are consequences",
                oracle.get(at).map_or("(ended)".into(), u32::to_string),
                apr.get(at).map_or("(ended)".into(), u32::to_string),
            )
        }
    };
    let _ = writeln!(out, "<p class=\"divergence\">{}</p>", html(&summary));
    if let Some(text) = &d.text {
        let _ = writeln!(
            out,
            "<p>{} text:</p><pre>{}</pre>",
            html(runtime),
            html(text)
        );
    }
}

fn token_cell(
    out: &mut String,
    this: Option<&u32>,
    other: Option<&u32>,
    i: usize,
    first: Option<usize>,
) {
    let Some(t) = this else {
        out.push_str("<td class=\"missing\">·</td>");
        return;
    };
    let class = match first {
        Some(f) if i == f => "first",
        Some(f) if i > f => {
            if Some(t) == other {
                "after"
            } else {
                "after diff"
            }
        }
        _ => "",
    };
    if class.is_empty() {
        let _ = write!(out, "<td>{t}</td>");
    } else {
        let _ = write!(out, "<td class=\"{class}\">{t}</td>");
    }
}
