//! What a person watching sees: progress and a summary on stderr (stdout stays for data).

use crate::config::Config;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tmgt_report::{Report, ReportVerdict, ResultRecord};

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

/// One line per finished result.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: AtomicUsize,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            done: AtomicUsize::new(0),
        }
    }

    pub fn result(&self, r: &ResultRecord) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let width = self.total.to_string().len();
        eprintln!(
            "[{n:>width$}/{}] {} {}  {}",
            self.total,
            paint(r.verdict),
            r.id,
            first_line(&r.message)
        );
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
    let problems: Vec<&ResultRecord> = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, ReportVerdict::Fail | ReportVerdict::Error))
        .collect();
    if !problems.is_empty() {
        eprintln!();
        for r in problems {
            eprintln!(
                "{} {}\n      {}",
                paint(r.verdict),
                r.id,
                first_line(&r.message)
            );
        }
    }
    eprintln!();
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
}
