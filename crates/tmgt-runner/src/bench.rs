//! `tmgt bench-run`: the whole matrix three ways in one process tree, with the figures that
//! say whether the engine earns its keep.
//!
//! Artifacts are prepared first (not timed) so every mode measures the checks alone. Then:
//! `built` (reuse on, the configured jobs), `sequential` (`--jobs 1 --no-reuse`, how the
//! reference ran), and the lower bound: the sum of the distinct apr calls' own times spread
//! over the cores, which no scheduler can beat.

use crate::Exit;
use std::path::{Path, PathBuf};
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
        let report = read_report(&out.join("report.json"))?;
        Ok(Measured { wall, report })
    };
    let measured = run("built", &[])
        .and_then(|built| Ok((built, run("sequential", &["--jobs", "1", "--no-reuse"])?)));
    let (built, sequential) = match measured {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Harness;
        }
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("{}", table(&built, &sequential, cores));
    Exit::Ok
}

fn read_report(path: &Path) -> Result<Report, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Report::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn call_ms(report: &Report) -> u64 {
    report.invocations.iter().map(|c| c.duration_ms).sum()
}

fn table(built: &Measured, sequential: &Measured, cores: usize) -> String {
    let secs = |d: Duration| d.as_secs_f64();
    let unique = built.report.invocations.len();
    let lower_bound = call_ms(&built.report) as f64 / 1000.0 / cores as f64;
    let usage = built.report.harness.unwrap_or_default();
    let tmgt_cpu = (usage.cpu_user_ms + usage.cpu_system_ms) as f64 / 1000.0;
    let runtime_cpu = usage.runtime_cpu_ms as f64 / 1000.0;
    let harness_cpu = usage.harness_cpu_ms() as f64 / 1000.0;
    let mut out = String::new();
    out.push_str(&format!(
        "{:<34} {:>12} {:>12}\n",
        "", "built", "sequential"
    ));
    out.push_str(&format!(
        "{:<34} {:>12.2} {:>12.2}\n",
        "wall time (s)",
        secs(built.wall),
        secs(sequential.wall)
    ));
    out.push_str(&format!(
        "{:<34} {:>12} {:>12}\n",
        "apr calls",
        built.report.invocations.len(),
        sequential.report.invocations.len()
    ));
    out.push_str(&format!(
        "{:<34} {:>12} {:>12}\n",
        "check results",
        built.report.results.len(),
        sequential.report.results.len()
    ));
    out.push_str(&format!(
        "{:<34} {:>12.2} {:>12.2}\n",
        "sum of apr call times (s)",
        call_ms(&built.report) as f64 / 1000.0,
        call_ms(&sequential.report) as f64 / 1000.0
    ));
    out.push('\n');
    out.push_str(&format!("unique apr calls: {unique}\n"));
    out.push_str(&format!(
        "lower bound (unique call time / {cores} cores): {lower_bound:.2} s\n"
    ));
    out.push_str(&format!(
        "speed-up over sequential without reuse: {:.2}x\n",
        secs(sequential.wall) / secs(built.wall)
    ));
    out.push_str(&format!(
        "built / lower bound: {:.2}x\n",
        secs(built.wall) / lower_bound.max(1e-9)
    ));
    out.push_str(&format!(
        "tmgt's own CPU: {tmgt_cpu:.2} s ({:.1}% of wall), peak RSS {:.1} MB\n",
        100.0 * tmgt_cpu / secs(built.wall),
        usage.peak_rss_kb as f64 / 1024.0
    ));
    out.push_str(&format!(
        "  of which llama.cpp decoding in-process: {runtime_cpu:.2} s; the harness itself: \
         {harness_cpu:.2} s ({:.1}% of wall)\n",
        100.0 * harness_cpu / secs(built.wall)
    ));
    out
}
