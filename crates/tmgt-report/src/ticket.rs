//! `ticket.md` and `tmgt ticket`: one section per distinct failure, ready to paste into an
//! upstream issue.
//!
//! Results are grouped by a fingerprint (check, model, quantization level, error class, first
//! divergence step), so one apr bug seen on several prompts is one section. Each section says
//! which apr it was (version, commit, binary hash), the artifacts it read (with hashes), the
//! exact apr commands that show it (paths replaced by `$ARTIFACTS`, `$MODELS`, ...), the
//! divergence window with the oracle's margins, and the `tmgt run --filter` line that reruns
//! only it.
//!
//! Results an unavailable artifact blocked are not findings of their own: the section of the
//! `prepare` failure that blocked them counts them, and without one in the run they make one
//! section per artifact.

use crate::group::{Blocked, blocker, caused_by, could_not_run, group_of, unavailable};
use crate::ledger::UNFILED;
use crate::paths::Placeholders;
use crate::schema::{CallRecord, Report, ReportVerdict, ResultRecord};
use crate::text::{first_line, md_block, md_cell, md_code, shell_quote};
use std::collections::BTreeSet;
use std::fmt::Write;
use tmgt_outcome::WeightsJudgement;
use tmgt_select::Selector;

/// The suite whose results say where a model's forward pass departs from HF.
const LOCALIZE_SUITE: &str = "localize";

/// What makes two failing results the same finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint {
    pub code: String,
    pub check: String,
    pub model: Option<String>,
    pub quant: Option<String>,
    /// `fail`, or the harness error class.
    pub class: String,
    pub first_divergence: Option<usize>,
}

impl Fingerprint {
    pub fn of(r: &ResultRecord) -> Fingerprint {
        Fingerprint {
            code: r.code.clone(),
            check: r.check.clone(),
            model: r.model.clone(),
            quant: r.quant.clone(),
            class: match (r.verdict, &r.error_class) {
                (ReportVerdict::Error | ReportVerdict::Xfail, Some(class)) => class.to_string(),
                (ReportVerdict::Error, None) => "error".into(),
                (ReportVerdict::Xfail, None) => "fail".into(),
                (v, _) => v.as_str().to_string(),
            },
            first_divergence: first_divergence(r),
        }
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        for part in [&self.model, &self.quant].into_iter().flatten() {
            write!(f, " {part}")?;
        }
        write!(f, " {}", self.class)?;
        if let Some(step) = self.first_divergence {
            write!(f, " @{step}")?;
        }
        Ok(())
    }
}

/// Where a token check's sequences first part.
pub fn first_divergence(r: &ResultRecord) -> Option<usize> {
    r.details.tokens()?.first_divergence()
}

/// One distinct failure and the results that show it, in report order.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub fingerprint: Fingerprint,
    pub results: Vec<&'a ResultRecord>,
    /// The results its failure left unable to run, by artifact: told here, not as findings.
    pub blocks: Vec<Blocked<'a>>,
}

/// Whether a result belongs in the tickets: it failed or errored, or it is a known failure
/// that nobody reported upstream yet (`link = "unfiled"`).
pub fn is_ticketed(r: &ResultRecord) -> bool {
    r.verdict.is_problem()
        || (r.verdict == ReportVerdict::Xfail
            && r.known_issue.as_ref().is_some_and(|k| k.link == UNFILED))
}

/// The ticketed results grouped by fingerprint: failures first, then errors, each in the
/// order of their first result. Blocked results go with the failure that blocked them, or
/// else all of an artifact's under the fingerprint of its first.
pub fn findings(report: &Report) -> Vec<Finding<'_>> {
    let groups = report.blocked();
    let mut out: Vec<Finding<'_>> = Vec::new();
    for r in report.results.iter().filter(|r| is_ticketed(r)) {
        let fp = match group_of(&groups, r) {
            // Told in the section of the failure that blocked it.
            Some(g) if g.upstream.is_some_and(is_ticketed) => continue,
            // No ticketed failure tells it: the artifact's results are one finding.
            Some(g) => Fingerprint::of(g.results.first().copied().unwrap_or(r)),
            None => Fingerprint::of(r),
        };
        match out.iter_mut().find(|f| f.fingerprint == fp) {
            Some(f) => f.results.push(r),
            None => out.push(Finding {
                fingerprint: fp,
                results: vec![r],
                blocks: Vec::new(),
            }),
        }
    }
    for f in &mut out {
        f.blocks = f
            .results
            .iter()
            .filter_map(|r| caused_by(&groups, r))
            .cloned()
            .collect();
    }
    out.sort_by_key(|f| f.results[0].error_class.is_some());
    out
}

/// The whole `ticket.md`.
pub fn render(report: &Report) -> String {
    let places = Placeholders::of(report);
    let findings = findings(report);
    let mut s = String::new();
    let apr = &report.apr;
    let _ = writeln!(s, "# tmgt findings: apr {}\n", apr.version);
    let blocked: usize = findings
        .iter()
        .flat_map(|f| &f.blocks)
        .map(|b| b.results.len())
        .sum();
    let failing = blocked + findings.iter().map(|f| f.results.len()).sum::<usize>();
    let _ = writeln!(
        s,
        "{} distinct {} from {failing} failing {} ({} fail, {} error{}{}) of {} results; apr {} \
         (commit {}, binary sha256 {}); tmgt {}; run started {}.{}\n",
        findings.len(),
        plural(findings.len(), "finding", "findings"),
        plural(failing, "result", "results"),
        report.summary.fail,
        report.summary.error,
        match failing.saturating_sub(report.summary.fail + report.summary.error) {
            0 => String::new(),
            n => format!(", {n} known but not reported upstream"),
        },
        match blocked {
            0 => String::new(),
            n => format!(", {} because of a finding below", could_not_run(n)),
        },
        report.summary.total,
        apr.version,
        md_code(&apr.git_sha),
        md_code(&apr.binary_sha256),
        report.tool.version,
        report.started_at,
        if report.interrupted {
            " The run was interrupted: some results are missing."
        } else {
            ""
        }
    );
    if findings.is_empty() {
        s.push_str("No check failed and none errored.\n");
    }
    let mut sections = String::new();
    let failed_calls: Vec<Vec<usize>> = findings
        .iter()
        .map(|f| failed_calls(report, f.results[0]))
        .collect();
    for (n, f) in findings.iter().enumerate() {
        // An earlier finding whose failing apr call this one also names: its consequence.
        let cause = (0..n).find(|&earlier| {
            failed_calls[n]
                .iter()
                .any(|id| failed_calls[earlier].contains(id))
        });
        section(
            &mut sections,
            report,
            &places,
            n + 1,
            f,
            cause.map(|c| c + 1),
        );
    }
    let legend = places.legend(&sections);
    if !legend.is_empty() {
        s.push_str("Paths in commands:\n\n");
        for (name, meaning) in legend {
            let _ = writeln!(s, "- `{name}`: {meaning}");
        }
        s.push('\n');
    }
    s.push_str(&sections);
    known_issues(&mut s, report);
    s
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The ids of the apr calls that show a result and did not exit 0.
fn failed_calls(report: &Report, r: &ResultRecord) -> Vec<usize> {
    reproduction(report, r)
        .into_iter()
        .filter(|(c, _)| c.exit_code != Some(0))
        .map(|(c, _)| c.id)
        .collect()
}

fn section(
    s: &mut String,
    report: &Report,
    places: &Placeholders,
    n: usize,
    f: &Finding<'_>,
    cause: Option<usize>,
) {
    let first = f.results[0];
    let fp = &f.fingerprint;
    let _ = writeln!(s, "## {n}. {}\n", title(f));
    let mut prompts: Vec<&str> = Vec::new();
    for p in f.results.iter().filter_map(|r| r.prompt.as_deref()) {
        if !prompts.contains(&p) {
            prompts.push(p);
        }
    }
    let _ = writeln!(
        s,
        "- verdict: **{}**{}; fingerprint {}",
        first.verdict,
        first
            .error_class
            .map(|c| format!(" (`{c}`)"))
            .unwrap_or_default(),
        md_code(&fp.to_string())
    );
    let _ = writeln!(
        s,
        "- seen in {} {}{}",
        f.results.len(),
        plural(f.results.len(), "result", "results"),
        if prompts.is_empty() {
            String::new()
        } else {
            format!(" (prompts: {})", prompts.join(", "))
        }
    );
    for b in &f.blocks {
        let _ = writeln!(
            s,
            "- {} because of this ({}), not repeated as findings",
            could_not_run(b.results.len()),
            unavailable(b.artifact, md_code)
        );
    }
    let mut unfiled: Vec<&crate::schema::KnownIssueRef> = Vec::new();
    for k in f.results.iter().filter_map(|r| r.known_issue.as_ref()) {
        if k.link == UNFILED && !unfiled.iter().any(|u| u.select == k.select) {
            unfiled.push(k);
        }
    }
    for k in unfiled {
        let _ = writeln!(
            s,
            "- known, not reported upstream yet (ledger entry {}: {}): file this section, then \
             put the issue's URL in the entry's `link`",
            md_code(&k.select),
            k.reason
        );
    }
    if let Some(c) = cause {
        let _ = writeln!(
            s,
            "- a consequence of finding {c}: the same apr call failed there"
        );
    }
    if let Some(loc) = localization_of(report, first) {
        let _ = writeln!(
            s,
            "- localized by {} ({}): {}",
            md_code(&loc.id),
            loc.verdict,
            first_line(&loc.message)
        );
    }
    let calls = reproduction(report, first);
    for (w, judgement) in weights_of(report, first, &calls) {
        let file = md_code(&places.redact(&judgement.file));
        let _ = if judgement.faithful {
            writeln!(
                s,
                "- the weights do not explain this: every tensor of {file} agrees with the \
                 source ({}), so the runtime departs, not the file",
                md_code(&w.id)
            )
        } else {
            writeln!(
                s,
                "- the weights explain this: {} finds the file {file} wrong: {}",
                md_code(&w.id),
                judgement.summary
            )
        };
    }
    let apr = &report.apr;
    let _ = writeln!(
        s,
        "- apr {} (commit `{}`), binary sha256 `{}`{}",
        apr.version,
        apr.git_sha,
        apr.binary_sha256,
        if apr.version == apr.pinned_version {
            String::new()
        } else {
            format!(" (tmgt pins {})", apr.pinned_version)
        }
    );
    for (path, sha) in &artifact_hashes(report, &calls) {
        let _ = writeln!(s, "- artifact `{}` sha256 `{sha}`", places.redact(path));
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "{}\n",
        quote(&clean_partial(&places.redact(&first.message)))
    );
    if f.results.len() > 1 {
        s.push_str("| result | message |\n|---|---|\n");
        for r in &f.results {
            let _ = writeln!(
                s,
                "| {} | {} |",
                md_code(&r.id),
                md_cell(&clean_partial(&places.redact(first_line(&r.message))))
            );
        }
        s.push('\n');
    }
    if !calls.is_empty() {
        let _ = writeln!(s, "The apr calls of {}:\n", md_code(&first.id));
        let mut script = String::new();
        for (call, role) in &calls {
            let end = match (call.exit_code, call.termination.as_str()) {
                (Some(code), _) => format!("exit {code}"),
                (None, how) => how.to_string(),
            };
            let _ = writeln!(
                script,
                "# {role} (call #{}, {end}, {} ms)",
                call.id, call.duration_ms
            );
            let _ = writeln!(script, "{}", places.redact(&call.reproduction()));
        }
        s.push_str(&md_block("sh", &script));
        s.push('\n');
        let cached = cached_inputs(&calls);
        if !cached.is_empty() {
            let names: Vec<String> = cached.iter().map(|p| md_code(&places.redact(p))).collect();
            let _ = writeln!(
                s,
                "{} came from the artifact cache (made by an earlier run): `tmgt prepare` makes \
                 {} from the model folder.\n",
                names.join(", "),
                if cached.len() == 1 { "it" } else { "them" }
            );
        }
    }
    if !first.requests.is_empty() {
        let _ = writeln!(s, "The apr serve requests of {}:\n", md_code(&first.id));
        let script = crate::text::requests_script(&first.requests);
        s.push_str(&md_block("sh", &places.redact(&script)));
        s.push('\n');
    }
    window(s, first);
    let _ = writeln!(s, "Rerun only this:\n");
    let filters: Vec<&str> = f.results.iter().map(|r| r.rerun_filter.as_str()).collect();
    s.push_str(&md_block("sh", &rerun_line(&filters)));
    s.push('\n');
}

/// What failed and how, or for the results of an artifact no ticketed failure explains, that
/// artifact.
/// The localize suite's result for the model of an f32 (or model-wide) finding, when one
/// traced it: where apr's forward pass departs from HF is the next thing its reader asks.
fn localization_of<'a>(report: &'a Report, r: &ResultRecord) -> Option<&'a ResultRecord> {
    if r.suite == LOCALIZE_SUITE || !matches!(r.quant.as_deref(), None | Some("f32")) {
        return None;
    }
    report.results.iter().find(|l| {
        l.suite == LOCALIZE_SUITE
            && l.model.is_some()
            && l.model == r.model
            && l.details.localization().is_some()
    })
}

/// The `weights` results of the files `r`'s apr calls read: whether a file's tensors depart
/// from the source tells a conversion bug from a runtime bug.
fn weights_of<'a>(
    report: &'a Report,
    r: &ResultRecord,
    calls: &[(&CallRecord, &'static str)],
) -> Vec<(&'a ResultRecord, &'a WeightsJudgement)> {
    let read: BTreeSet<&str> = calls
        .iter()
        .flat_map(|(call, _)| call.inputs.iter().map(|i| i.path.as_str()))
        .collect();
    report
        .results
        .iter()
        .filter(|w| w.id != r.id)
        .filter_map(|w| Some((w, w.details.weights()?)))
        .filter(|(_, j)| read.contains(j.file.as_str()))
        .collect()
}

fn title(f: &Finding<'_>) -> String {
    let first = f.results[0];
    if let Some(artifact) = blocker(first) {
        return format!(
            "{}: {}",
            unavailable(artifact, md_code),
            could_not_run(f.results.len())
        );
    }
    let fp = &f.fingerprint;
    let mut subject = Vec::new();
    subject.extend(first.model.as_deref());
    subject.extend(first.quant.as_deref());
    let what = match (first.error_class.is_some(), fp.first_divergence) {
        (true, _) => format!("error ({})", fp.class),
        (_, Some(step)) => format!("diverges at step {step}"),
        _ => "fails".to_string(),
    };
    format!(
        "{} `{}`{}: {what}",
        first.code,
        first.check,
        if subject.is_empty() {
            String::new()
        } else {
            format!(" on {}", subject.join(" "))
        }
    )
}

/// The message as a Markdown quote.
fn quote(message: &str) -> String {
    message
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The divergence window of a token check, with the oracle's top-1/top-2 margins.
fn window(s: &mut String, r: &ResultRecord) {
    let Some(details) = r.details.tokens() else {
        return;
    };
    let Some(w) = &details.window else {
        return;
    };
    let (start, expected, actual) = (w.start, &w.expected, &w.actual);
    let at = details.first_divergence();
    let kind = details.class_name();
    let _ = writeln!(
        s,
        "Divergence window ({kind}; margin = the oracle's top-1 minus top-2 logit, small means a near tie):\n"
    );
    let runtime = &details.runtime;
    let _ = writeln!(
        s,
        "| step | oracle | {runtime} | oracle margin | |\n|---:|---:|---:|---:|---|"
    );
    let len = expected.len().max(actual.len());
    for i in 0..len {
        let step = start + i;
        let cell = |v: Option<&u32>| v.map_or_else(|| "—".to_string(), u32::to_string);
        let margin = w
            .margins
            .get(i)
            .copied()
            .flatten()
            .map_or_else(|| "—".to_string(), |m| format!("{m:.3}"));
        let mark = match at {
            Some(a) if a == step => "← first divergence",
            Some(a) if step > a => "(consequence)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| {step} | {} | {} | {margin} | {mark} |",
            cell(expected.get(i)),
            cell(actual.get(i)),
        );
    }
    s.push('\n');
}

/// The calls of the run that made `call`'s inputs, other than itself.
fn makers_of<'a>(report: &'a Report, call: &CallRecord) -> Vec<&'a CallRecord> {
    call.inputs
        .iter()
        .filter_map(|i| i.made_by)
        .filter(|&id| id != call.id)
        .filter_map(|id| report.call(id))
        .collect()
}

/// The calls that show a result: the calls that made the artifacts it read (recursively,
/// inputs first), the failed call that left an artifact it needed unavailable, and its own
/// calls.
fn reproduction<'a>(report: &'a Report, r: &ResultRecord) -> Vec<(&'a CallRecord, &'static str)> {
    let calls = |blocked: bool| -> Vec<&'a CallRecord> {
        let used = r.invocations.iter().filter(|i| i.blocked == blocked);
        used.filter_map(|i| report.call(i.id)).collect()
    };
    let (blocking, own) = (calls(true), calls(false));
    // Among the result's own calls, those that made another's input are preparation.
    let input_makers: BTreeSet<usize> = own
        .iter()
        .flat_map(|o| makers_of(report, o))
        .map(|m| m.id)
        .collect();
    let makes_input = |c: &CallRecord| input_makers.contains(&c.id);
    let shows = own.iter().rev().find(|c| !makes_input(c)).map(|c| c.id);
    let mut out: Vec<(&CallRecord, &'static str)> = Vec::new();
    let mut seen = BTreeSet::new();
    for call in blocking {
        add_with_makers(
            report,
            call,
            "the failing call its message names",
            &mut out,
            &mut seen,
            0,
        );
    }
    for &call in &own {
        let role = if Some(call.id) == shows {
            "the call that shows it"
        } else if makes_input(call) {
            "makes its input"
        } else {
            "an earlier call of the check"
        };
        add_with_makers(report, call, role, &mut out, &mut seen, 0);
    }
    out
}

fn add_with_makers<'a>(
    report: &'a Report,
    call: &'a CallRecord,
    role: &'static str,
    out: &mut Vec<(&'a CallRecord, &'static str)>,
    seen: &mut BTreeSet<usize>,
    depth: usize,
) {
    if depth > 8 || seen.contains(&call.id) {
        return;
    }
    seen.insert(call.id);
    for maker in makers_of(report, call) {
        add_with_makers(report, maker, "makes its input", out, seen, depth + 1);
    }
    out.push((call, role));
}

/// Artifacts (`.apr`, `.gguf`) the calls read that no call of this run made.
fn cached_inputs(calls: &[(&CallRecord, &'static str)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (call, _) in calls {
        for input in &call.inputs {
            let artifact = input.path.ends_with(".apr") || input.path.ends_with(".gguf");
            if artifact && input.made_by.is_none() && !out.contains(&input.path) {
                out.push(input.path.clone());
            }
        }
    }
    out
}

/// The files the tickets' reproductions read or write, under the names they have once made:
/// what the runner hashes into `Report::artifacts`.
pub fn ticketed_files(report: &Report) -> BTreeSet<String> {
    report
        .results
        .iter()
        .filter(|r| is_ticketed(r))
        .flat_map(|r| reproduction(report, r))
        .flat_map(|(call, _)| call.files().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// `dir/.partial-123/x.apr` (the runner's artifacts) or `x.partial-123.apr` → the name the
/// file has once made: `dir/x.apr`, `x.apr`. For messages only, whose text names the
/// folder a failed call wrote into; calls carry their files' final names themselves.
fn clean_partial(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(".partial-") {
        out.push_str(&rest[..at]);
        let after = &rest[at + ".partial-".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            rest = &after[digits..];
            // A folder of its own (`dir/.partial-123/x`): the folder goes with its slash.
            if out.ends_with('/') {
                rest = rest.strip_prefix('/').unwrap_or(rest);
            }
        } else {
            out.push_str(".partial-");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The sha256 of each file the calls read or wrote that the report has a hash for.
fn artifact_hashes(
    report: &Report,
    calls: &[(&CallRecord, &'static str)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for path in calls.iter().flat_map(|(call, _)| call.files()) {
        if let Some(sha) = report.artifacts.get(path) {
            if !out.iter().any(|(p, _)| p == path) {
                out.push((path.to_string(), sha.clone()));
            }
        }
    }
    out
}

/// One `tmgt run` line that reruns these results: their filters merged into one where they
/// differ in a single term (`prompt=code|greeting`), else one `--filter` each.
pub fn rerun_line(filters: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for f in filters {
        if !unique.contains(f) {
            unique.push(f);
        }
    }
    let parsed: Option<Vec<Selector>> = unique.iter().map(|f| f.parse().ok()).collect();
    let parts: Vec<String> = match parsed.as_deref().and_then(Selector::merge) {
        Some(m) => vec![m.to_string()],
        None => unique.iter().map(|f| (*f).to_string()).collect(),
    };
    let mut line = "tmgt run".to_string();
    for p in parts {
        let _ = write!(line, " --filter {}", shell_quote(&p));
    }
    line
}

/// Results the ledger already knows about (reported upstream), and its call-outs.
fn known_issues(s: &mut String, report: &Report) {
    let notes = report.ledger_notes();
    let filed: Vec<_> = report
        .known_issues
        .iter()
        .filter(|k| k.xfail > 0 && k.entry.link != UNFILED)
        .collect();
    if filed.is_empty() && notes.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Known issues\n");
    if !filed.is_empty() {
        let n: usize = filed.iter().map(|k| k.xfail).sum();
        let _ = writeln!(
            s,
            "{n} known {} (xfail), reported upstream, not repeated above:\n",
            plural(n, "failure", "failures")
        );
        s.push_str("| ledger entry | issue | xfail | reason |\n|---|---|---:|---|\n");
        for k in filed {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md_code(&k.entry.select).replace('|', "\\|"),
                md_cell(&k.entry.link),
                k.xfail,
                md_cell(&k.entry.reason)
            );
        }
        s.push('\n');
    }
    for note in notes {
        let _ = writeln!(s, "- {note}");
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_filters_that_differ_in_one_term() {
        assert_eq!(
            rerun_line(&[
                "check=a model=m quant=int4 prompt=code",
                "check=a model=m quant=int4 prompt=greeting",
                "check=a model=m quant=int4 prompt=code",
            ]),
            "tmgt run --filter 'check=a model=m quant=int4 prompt=code|greeting'"
        );
        assert_eq!(
            rerun_line(&["check=a model=m", "check=b model=n"]),
            "tmgt run --filter 'check=a model=m' --filter 'check=b model=n'"
        );
    }

    #[test]
    fn cleans_partial_names_in_messages() {
        assert_eq!(
            clean_partial("/a/x-key.partial-4242.apr y"),
            "/a/x-key.apr y"
        );
        assert_eq!(
            clean_partial("-o /a/.partial-4242/x-key.gguf"),
            "-o /a/x-key.gguf"
        );
        assert_eq!(clean_partial("a.partial-b"), "a.partial-b");
    }
}
