//! What a person watching sees: progress and a summary on stderr (stdout stays for data).

use crate::config::Config;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tmgt_report::{Ledger, Report, ReportVerdict, ResultRecord, group};

/// Logs go to stderr, filtered by `TMGT_LOG` (default `warn`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TMGT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .with_target(false)
        .init();
}

/// Colour only for a terminal, and never with NO_COLOR set.
fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn paint(verdict: ReportVerdict) -> String {
    let (text, code) = match verdict {
        ReportVerdict::Pass => ("pass", "32"),
        ReportVerdict::Fail => ("FAIL", "31"),
        ReportVerdict::Skip => ("skip", "33"),
        ReportVerdict::Error => ("ERROR", "35"),
        ReportVerdict::Xfail => ("xfail", "33"),
        ReportVerdict::Xpass => ("XPASS", "34"),
    };
    if colour() {
        format!("\x1b[{code}m{text:<5}\x1b[0m")
    } else {
        format!("{text:<5}")
    }
}

pub fn announce(config: &Config, instances: usize, jobs: usize) {
    let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    eprintln!(
        "tmgt: profile `{}`: {instances} check instances over {} ({} prompts), {jobs} jobs",
        config.profile,
        models.join(", "),
        config.prompts.len()
    );
}

/// What a person watching a run sees while it runs (anchors: cargo-nextest, pytest): a line
/// per failure, error or xpass as it happens, with the verdict the known-issues ledger gives
/// it (so a line says what the summary will count), passes and skips only with `-v`; on a
/// terminal a status line redrawn below them with done/total, elapsed time, an ETA and the
/// apr calls running now; off a terminal (CI logs) the same status as a plain line every
/// 30 s. Lines are cut at the terminal's width; the reports keep the full text.
#[derive(Debug)]
pub struct Progress<'a> {
    total: usize,
    ledger: &'a Ledger,
    verbose: bool,
    terminal: Option<usize>,
    /// Each instance's expected cost, for the ETA.
    cost: &'a [f64],
    started: Instant,
    state: Mutex<Shown>,
}

#[derive(Debug, Default)]
struct Shown {
    done: usize,
    done_cost: f64,
    /// Unavailable artifacts already told: later results they block get no line of their own.
    blocked_told: BTreeSet<String>,
    /// A status line is on screen below the result lines (terminal only).
    status_drawn: bool,
    last_plain_status: Option<Instant>,
}

/// How often the status line is redrawn, and printed plainly off a terminal.
pub const REDRAW: Duration = Duration::from_millis(250);
const PLAIN_STATUS: Duration = Duration::from_secs(30);

impl<'a> Progress<'a> {
    pub fn new(total: usize, ledger: &'a Ledger, cost: &'a [f64], verbose: bool) -> Progress<'a> {
        let terminal = std::io::stderr()
            .is_terminal()
            .then(|| terminal_size::terminal_size_of(std::io::stderr()))
            .map(|size| size.map_or(100, |(w, _)| usize::from(w.0)));
        Progress {
            total,
            ledger,
            verbose,
            terminal,
            cost,
            started: Instant::now(),
            state: Mutex::default(),
        }
    }

    /// Instance `index` outside its entry: counted done, told in the summary.
    pub fn outside_entry(&self, index: usize) {
        drop(self.done(index));
    }

    /// Instance `index` finished with `r`.
    pub fn result(&self, index: usize, r: &ResultRecord) {
        let verdict = self.ledger.judge(r).map_or(r.verdict, |(_, v)| v);
        let mut shown = self.done(index);
        let loud = matches!(
            verdict,
            ReportVerdict::Fail | ReportVerdict::Error | ReportVerdict::Xpass
        );
        let blocker = group::blocker(r).filter(|_| verdict == ReportVerdict::Error);
        let first_of_cause = blocker.is_some_and(|a| shown.blocked_told.insert(a.to_string()));
        if (loud && (blocker.is_none() || first_of_cause)) || self.verbose {
            let width = self.total.to_string().len();
            let mut line = format!(
                "[{:>width$}/{}] {} {}  {}",
                shown.done,
                self.total,
                paint(verdict),
                r.id,
                first_line(&r.message)
            );
            if let Some(artifact) = blocker.filter(|_| first_of_cause && !self.verbose) {
                line.push_str(&format!(
                    "\n      every result that needs {artifact} errors the same way: the summary \
                     tells them once"
                ));
            }
            self.clear_status(&mut shown);
            for part in line.lines() {
                eprintln!("{}", self.cut(part));
            }
        }
    }

    /// Counts instance `index` done, and holds the display for what it shows of it.
    fn done(&self, index: usize) -> std::sync::MutexGuard<'_, Shown> {
        let mut shown = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        shown.done += 1;
        shown.done_cost += self.cost.get(index).copied().unwrap_or(0.0);
        shown
    }

    /// Redraws the status line (a terminal) or prints it when due (a log), with the calls
    /// the engine is running now.
    pub fn tick(&self, running: &[(String, Duration)]) {
        let mut shown = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let line = self.status(&shown, running);
        match self.terminal {
            Some(_) => {
                eprint!("\r\x1b[2K{}", self.cut(&line));
                shown.status_drawn = true;
            }
            None => {
                let due = shown
                    .last_plain_status
                    .is_none_or(|t| t.elapsed() >= PLAIN_STATUS);
                if due && self.started.elapsed() >= PLAIN_STATUS {
                    eprintln!("{line}");
                    shown.last_plain_status = Some(Instant::now());
                }
            }
        }
    }

    /// Takes the status line off the screen (before the summary).
    pub fn finish(&self) {
        let mut shown = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.clear_status(&mut shown);
    }

    fn clear_status(&self, shown: &mut Shown) {
        if shown.status_drawn {
            eprint!("\r\x1b[2K");
            shown.status_drawn = false;
        }
    }

    fn status(&self, shown: &Shown, running: &[(String, Duration)]) -> String {
        let elapsed = self.started.elapsed();
        let total_cost: f64 = self.cost.iter().sum();
        // What is left, at the pace the done part took (by expected cost, not by count: the
        // costliest instances run first).
        let eta = (shown.done_cost > 0.0).then(|| {
            let left = (total_cost - shown.done_cost).max(0.0);
            Duration::from_secs_f64(elapsed.as_secs_f64() * left / shown.done_cost)
        });
        let mut line = format!(
            "[{}/{}] {} elapsed, ETA {}",
            shown.done,
            self.total,
            clock(elapsed),
            eta.map_or_else(|| "--:--".to_string(), clock)
        );
        if !running.is_empty() {
            let calls: Vec<String> = running
                .iter()
                .map(|(label, d)| format!("{label} {}s", d.as_secs()))
                .collect();
            line.push_str(&format!("; running: {}", calls.join(", ")));
        }
        line
    }

    /// The line cut at the terminal's width (off a terminal, whole).
    fn cut(&self, line: &str) -> String {
        let Some(width) = self.terminal else {
            return line.to_string();
        };
        cut_to(line, width)
    }
}

/// `line` in at most `width` columns, ending in `…` when cut (ANSI colour codes take none).
fn cut_to(line: &str, width: usize) -> String {
    let mut out = String::new();
    let mut columns = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for d in chars.by_ref() {
                out.push(d);
                if d == 'm' {
                    break;
                }
            }
            continue;
        }
        if columns + 1 >= width && chars.peek().is_some() {
            out.push('…');
            break;
        }
        out.push(c);
        columns += 1;
    }
    out
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

pub fn summary(report: &Report, path: &Path) {
    let s = &report.summary;
    eprintln!();
    let width = s.by_suite.keys().map(String::len).max().unwrap_or(5).max(5);
    eprintln!(
        "{:<width$} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "suite", "pass", "fail", "skip", "error", "xfail", "xpass"
    );
    for (suite, c) in &s.by_suite {
        eprintln!(
            "{suite:<width$} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
            c.pass, c.fail, c.skip, c.error, c.xfail, c.xpass
        );
    }
    // A result that only repeats an upstream failure is told once, under that failure.
    let groups = report.blocked();
    let problems: Vec<&ResultRecord> = report
        .results
        .iter()
        .filter(|r| r.verdict.is_problem() && !group::is_blocked(r))
        .collect();
    if !problems.is_empty() || !groups.is_empty() {
        eprintln!();
        for r in problems {
            eprintln!(
                "{} {}\n      {}",
                paint(r.verdict),
                r.id,
                first_line(&r.message)
            );
        }
        for g in &groups {
            eprintln!(
                "{} {}\n      {}",
                paint(ReportVerdict::Error),
                g.headline(str::to_string),
                first_line(g.reason())
            );
        }
    }
    eprintln!();
    if let (Some(usage), Some(bound)) = (report.harness, report.lower_bound()) {
        eprintln!(
            "wall {:.1} s; lower bound {:.1} s ({:.1} s of apr calls and llama.cpp workers \
             over {} jobs, longest call {:.1} s); tmgt peak RSS {:.0} MB ({:.0} MB while \
             checking); llama.cpp workers: {}, the largest {:.0} MB, {} faults; scratch peak \
             {:.0} MB, {} B left",
            usage.wall_ms as f64 / 1000.0,
            bound.bound_ms as f64 / 1000.0,
            bound.work_ms as f64 / 1000.0,
            usage.jobs,
            bound.longest_call_ms as f64 / 1000.0,
            usage.peak_rss_kb as f64 / 1024.0,
            usage.peak_harness_rss_kb as f64 / 1024.0,
            usage.runtime_workers,
            usage.peak_runtime_kb as f64 / 1024.0,
            usage.runtime_faults,
            usage.peak_scratch_bytes as f64 / 1e6,
            usage.scratch_left_bytes
        );
    }
    eprintln!(
        "{} results: {} pass, {} fail, {} skip, {} error{}; {} apr calls; report: {}",
        s.total,
        s.pass,
        s.fail,
        s.skip,
        s.error,
        if s.not_run > 0 {
            format!(", {} not run", s.not_run)
        } else {
            String::new()
        },
        s.apr_calls,
        path.display()
    );
    let outside = group::outside_entry(report);
    if !outside.is_empty() {
        eprintln!(
            "not judged: {} instances ask for what their model's entry does not have:",
            report.outside_entry.len()
        );
        for line in outside {
            eprintln!("  {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_the_width_and_colour_codes_take_no_columns() {
        assert_eq!(cut_to("abcdef", 10), "abcdef");
        assert_eq!(cut_to("abcdefghijkl", 6), "abcde…");
        assert_eq!(
            cut_to("\x1b[31mFAIL\x1b[0m xyz", 6),
            "\x1b[31mFAIL\x1b[0m …"
        );
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(clock(Duration::from_secs(65)), "01:05");
    }
}
