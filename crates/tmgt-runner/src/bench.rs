//! `tmgt bench-run`: the whole matrix three ways in one process tree, with the figures that
//! say whether the engine earns its keep.
//!
//! Artifacts are prepared first (not timed) so every mode measures the checks alone. Then:
//! `built` (reuse on, the configured jobs), `sequential` (`--jobs 1 --no-reuse`, how the
//! reference ran), and the lower bound: the sum of the distinct apr calls' own times spread
//! over the cores, which no scheduler can beat.

use crate::Exit;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tmgt_report::Report;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    config: PathBuf,
    /// The profile to run.
    #[arg(long)]
    profile: Option<String>,
    /// Where the two runs' reports go.
    #[arg(long, default_value = "tmgt-bench")]
    out: PathBuf,
    /// Measure the run as built only, without the sequential baseline (on a real model the
    /// baseline takes as long as every call summed).
    #[arg(long)]
    built_only: bool,
}

/// One timed `tmgt run`.
struct Measured {
    wall: Duration,
    report: Report,
}

pub fn bench(args: &BenchArgs) -> Exit {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the tmgt binary: {e}");
            return Exit::Harness;
        }
    };
    let mut common = vec!["--config".to_string(), args.config.display().to_string()];
    if let Some(p) = &args.profile {
        common.extend(["--profile".to_string(), p.clone()]);
    }
    eprintln!("bench-run: preparing artifacts (not timed)");
    let prepared = Command::new(&exe).arg("prepare").args(&common).status();
    if !prepared.is_ok_and(|s| s.code().is_some_and(|c| c <= 1)) {
        eprintln!("error: `tmgt prepare` could not run");
        return Exit::Harness;
    }
    let run = |name: &str, extra: &[&str]| -> Result<Measured, String> {
        let out = args.out.join(name);
        eprintln!(
            "bench-run: {name} ({})",
            if extra.is_empty() {
                "as built".to_string()
            } else {
                extra.join(" ")
            }
        );
        let started = Instant::now();
        let status = Command::new(&exe)
            .arg("run")
            .args(&common)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        let wall = started.elapsed();
        if status.code().is_none_or(|c| c > 1) {
            return Err(format!("`tmgt run {}` exited {status}", extra.join(" ")));
        }
        let report = Report::read(&out.join("report.json")).map_err(|e| e.to_string())?;
        Ok(Measured { wall, report })
    };
    let built = match run("built", &[]) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Harness;
        }
    };
    let sequential = if args.built_only {
        None
    } else {
        match run("sequential", &["--jobs", "1", "--no-reuse"]) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Harness;
            }
        }
    };
    println!("{}", table(&built, sequential.as_ref()));
    Exit::Ok
}

fn call_ms(report: &Report) -> u64 {
    report.invocations.iter().map(|c| c.duration_ms).sum()
}

fn table(built: &Measured, sequential: Option<&Measured>) -> String {
    let secs = |d: Duration| d.as_secs_f64();
    let report = &built.report;
    let usage = report.harness.unwrap_or_default();
    let bound = report.lower_bound();
    let mut out = String::new();
    let mut row = |name: &str, b: String, s: Option<String>| {
        out.push_str(&format!(
            "{name:<34} {b:>12} {:>12}\n",
            s.unwrap_or_default()
        ));
    };
    row(
        "",
        "built".into(),
        sequential.map(|_| "sequential".to_string()),
    );
    row(
        "wall time (s)",
        format!("{:.2}", secs(built.wall)),
        sequential.map(|m| format!("{:.2}", secs(m.wall))),
    );
    row(
        "apr calls",
        report.invocations.len().to_string(),
        sequential.map(|m| m.report.invocations.len().to_string()),
    );
    row(
        "check results",
        report.results.len().to_string(),
        sequential.map(|m| m.report.results.len().to_string()),
    );
    row(
        "sum of apr call times (s)",
        format!("{:.2}", call_ms(report) as f64 / 1000.0),
        sequential.map(|m| format!("{:.2}", call_ms(&m.report) as f64 / 1000.0)),
    );
    out.push('\n');
    if let Some(b) = bound {
        out.push_str(&format!(
            "lower bound: {:.2} s = max({:.2} s of distinct apr calls and llama.cpp workers \
             / {} jobs, the longest call {:.2} s)\n",
            b.bound_ms as f64 / 1000.0,
            b.work_ms as f64 / 1000.0,
            usage.jobs,
            b.longest_call_ms as f64 / 1000.0
        ));
        out.push_str(&format!(
            "built / lower bound: {:.2}x\n",
            secs(built.wall) / (b.bound_ms as f64 / 1000.0).max(1e-9)
        ));
    }
    if let Some(seq) = sequential {
        out.push_str(&format!(
            "speed-up over sequential without reuse: {:.2}x\n",
            secs(seq.wall) / secs(built.wall)
        ));
    }
    let tmgt_cpu = (usage.cpu_user_ms + usage.cpu_system_ms) as f64 / 1000.0;
    out.push_str(&format!(
        "tmgt's own CPU: {tmgt_cpu:.2} s ({:.1}% of wall); its llama.cpp workers beside it: \
         {:.2} s ({} workers, {} faults)\n",
        100.0 * tmgt_cpu / secs(built.wall),
        usage.runtime_cpu_ms as f64 / 1000.0,
        usage.runtime_workers,
        usage.runtime_faults
    ));
    out.push_str(&format!(
        "tmgt peak RSS: {:.1} MB; while checking: {:.1} MB; the largest llama.cpp worker: \
         {:.1} MB\n",
        usage.peak_rss_kb as f64 / 1024.0,
        usage.peak_harness_rss_kb as f64 / 1024.0,
        usage.peak_runtime_kb as f64 / 1024.0
    ));
    out.push_str(&format!(
        "scratch: peak {:.1} MB (bound (jobs + 1) x largest input {:.1} MB = {:.1} MB), \
         {} bytes left\n",
        usage.peak_scratch_bytes as f64 / 1e6,
        usage.largest_input_bytes as f64 / 1e6,
        (usage.jobs + 1) as f64 * usage.largest_input_bytes as f64 / 1e6,
        usage.scratch_left_bytes
    ));
    out
}
