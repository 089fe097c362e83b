//! `tmgt run` and `tmgt prepare`.

use crate::artifacts::Artifacts;
use crate::config::Config;
use crate::engine::Engine;
use crate::execute::{Finished, RunState, run_all};
use crate::report::apr_info;
use crate::scratch::Scratch;
use crate::usage::Sampler;
use crate::{Exit, human, matrix};
use apr_client::Apr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tmgt_check::{ArtifactKind, Registry};
use tmgt_report::{Report, Summary, Tool};
use tmgt_select::Selector;

#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    config: PathBuf,
    /// The profile to run (default: the config's `run.profile`).
    #[arg(long)]
    profile: Option<String>,
    /// Parallel apr calls (default: the config's `run.jobs`, where 0 means one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// The apr binary (default: the config's `apr.binary`, then $TMGT_APR, then PATH).
    #[arg(long, env = "TMGT_APR")]
    apr: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Where reports go (default: the config's `paths.out`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Select instances: `suite=token model=tiny-qwen2 quant=int8|int4 prompt=code`, or a bare
    /// suite/check name. Terms of one filter must all hold; several filters add up.
    #[arg(long = "filter", value_name = "EXPR")]
    filters: Vec<Selector>,
    /// Run every apr call even when an identical one already ran (for benchmarking).
    #[arg(long)]
    no_reuse: bool,
    /// The known-issues ledger (default: known-issues.toml beside the configuration; a
    /// missing file is an empty ledger). A failure it lists is `xfail` and fails no run.
    #[arg(long, value_name = "FILE")]
    known_issues: Option<PathBuf>,
    /// Ignore the known-issues ledger: report apr's raw verdicts.
    #[arg(long, conflicts_with = "known_issues")]
    no_known_issues: bool,
    /// Keep every instance's scratch files (damaged copies, scratch imports) in OUT/scratch
    /// for debugging; by default each goes when its instance ends.
    #[arg(long)]
    keep_scratch: bool,
    /// Print a line for every result as it finishes, passes and skips included.
    #[arg(short, long)]
    verbose: bool,
    /// Run only shard K of N (counted from 1) of the matrix: the same partition on every
    /// machine; `tmgt merge` joins the shards' reports.
    #[arg(long, env = "TMGT_SHARD", value_name = "K/N")]
    shard: Option<crate::shard::Shard>,
    /// A previous run's report.json whose durations order the instances and balance the
    /// shards (default: the out folder's previous report orders; shards use estimates).
    #[arg(long, value_name = "REPORT")]
    durations: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// What both commands set up before any apr work.
struct Setup {
    registry: Registry,
    config: Config,
    apr: Apr,
    jobs: usize,
}

fn setup(common: &CommonArgs) -> Result<Setup, Exit> {
    let (registry, config) = crate::load_config(&common.config, common.profile.as_deref())?;
    fetch_all(&config)?;
    let explicit = common.apr.clone().or_else(|| config.apr.binary.clone());
    let binary = apr_client::resolve_binary(explicit.as_deref()).map_err(|e| {
        eprintln!(
            "error: {e}\nhelp: scripts/install-apr installs the pinned apr {}",
            config.apr.pinned_version
        );
        Exit::Harness
    })?;
    let apr = Apr::open(binary, &config.apr.min_version, config.timeouts.default).map_err(|e| {
        eprintln!("error: {e}");
        Exit::Harness
    })?;
    if apr.version().version != config.apr.pinned_version.to_string() {
        tracing::warn!(
            found = %apr.version().version,
            pinned = %config.apr.pinned_version,
            "apr version differs from the one this configuration was verified against"
        );
    }
    let jobs = match common.jobs.unwrap_or(config.jobs) {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    Ok(Setup {
        registry,
        config,
        apr,
        jobs,
    })
}

/// The call engine over `apr`; a binary that cannot be read to hash it stops the run.
fn engine(
    apr: Apr,
    config: &Config,
    reuse: bool,
    interrupted: Arc<AtomicBool>,
) -> Result<Engine, Exit> {
    let binary = apr.binary().to_path_buf();
    llamacpp_runtime::set_base_limit(config.timeouts.llamacpp);
    apr_serve::configure(&binary, config.timeouts.serve);
    Engine::new(apr, config.timeouts.clone(), reuse, interrupted).map_err(|e| {
        eprintln!(
            "error: cannot read the apr binary {}: {e}",
            binary.display()
        );
        Exit::Harness
    })
}

/// Makes the files the profile's models fetch, then its ladder rungs (made from fetched files
/// too); a no-op once they are verified.
pub(crate) fn fetch_all(config: &Config) -> Result<(), Exit> {
    crate::fetch::ensure_all(&config.fetches, &crate::oracle_env::default_python()).map_err(
        |e| {
            eprintln!("error: {e}\nhelp: {}", e.help());
            Exit::Harness
        },
    )?;
    crate::ladder::ensure_all(&config.rungs).map_err(|e| {
        eprintln!("error: {e}\nhelp: {}", e.help());
        Exit::Harness
    })
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    config: PathBuf,
    /// The profile whose models' files are fetched (default: the config's `run.profile`).
    #[arg(long)]
    profile: Option<String>,
}

/// `tmgt fetch`: fetch and make the profile's files without running anything else.
pub fn fetch(args: &FetchArgs) -> Exit {
    let config = match crate::load_config(&args.config, args.profile.as_deref()) {
        Ok((_, config)) => config,
        Err(exit) => return exit,
    };
    if let Err(exit) = fetch_all(&config) {
        return exit;
    }
    for f in &config.fetches {
        eprintln!(
            "fetch: {} ready ({}, sha256 {})",
            f.target.display(),
            f.model,
            f.sha256
        );
    }
    if config.fetches.is_empty() {
        eprintln!("fetch: profile `{}` fetches nothing", config.profile);
    }
    Exit::Ok
}

/// SIGINT and SIGTERM set the flag: no new work starts, and running apr groups, llama.cpp
/// workers and apr servers are killed.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&flag)) {
            tracing::warn!("cannot watch signal {signal}: {e}");
        }
    }
    llamacpp_runtime::cancel_with(Arc::clone(&flag));
    apr_serve::cancel_with(Arc::clone(&flag));
    flag
}

pub fn run(args: &RunArgs) -> Exit {
    let Setup {
        registry,
        config,
        apr,
        jobs,
    } = match setup(&args.common) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    // Made absolute once: apr takes absolute paths only, and every damaged copy and scratch
    // import lives under this folder.
    let out_dir = args
        .out
        .as_deref()
        .map(crate::absolute)
        .unwrap_or_else(|| config.out_dir.clone());
    let instances = matrix::build(&config, &registry, &args.filters);
    if instances.is_empty() {
        eprintln!(
            "error: the filters select no check instance; `tmgt list-checks` lists the checks"
        );
        return Exit::Usage;
    }
    let durations = match args.durations.as_deref().map(crate::absolute) {
        Some(path) => match Report::read(&path) {
            Ok(r) => Some((path, r)),
            Err(e) => {
                eprintln!("error: --durations: {e}");
                return Exit::Usage;
            }
        },
        None => None,
    };
    let mut matrix_record = tmgt_report::MatrixRecord {
        config_sha256: config_fingerprint(&args.common.config, &config, &args.filters),
        registry_sha256: registry_fingerprint(&registry),
        filtered: !args.filters.is_empty(),
        instances: instances.iter().map(|i| i.id(&config)).collect(),
        shard: None,
    };
    let instances = match args.shard {
        None => instances,
        Some(shard) => {
            let partition = crate::shard::partition(
                &config,
                &instances,
                durations.as_ref().map(|(_, r)| r),
                shard.count,
            );
            matrix_record.shard = Some(tmgt_report::ShardRecord {
                index: shard.index,
                count: shard.count,
                balanced_by: durations
                    .as_ref()
                    .map_or_else(|| "estimate".into(), |(p, _)| p.display().to_string()),
                imbalance: partition.imbalance(),
            });
            let mine: Vec<matrix::Instance> = instances
                .into_iter()
                .zip(&partition.shard_of)
                .filter(|(_, s)| **s + 1 == shard.index)
                .map(|(i, _)| i)
                .collect();
            eprintln!(
                "tmgt: shard {shard}: {} of {} instances (partition imbalance {:.2}: the \
                 costliest shard's expected cost over the mean)",
                mine.len(),
                matrix_record.instances.len(),
                partition.imbalance()
            );
            mine
        }
    };
    if instances.is_empty() {
        eprintln!("tmgt: shard has no instance of this matrix; writing an empty report");
    }
    let ledger_path = crate::ticket_cmd::ledger_path(
        args.known_issues.as_deref(),
        &crate::absolute(&args.common.config),
    );
    let ledger = if args.no_known_issues {
        Ok(tmgt_report::Ledger::default())
    } else {
        tmgt_report::Ledger::load(&ledger_path)
    };
    let ledger = match ledger {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: the known-issues ledger: {e}");
            return Exit::Usage;
        }
    };
    let oracles = crate::oracles::Oracles::default();
    if let Err(problems) = oracles.preflight(&config, &instances) {
        for p in problems {
            eprintln!("error: {p}");
        }
        return Exit::Harness;
    }
    let scratch_root = out_dir.join("scratch");
    let need = crate::disk::estimate(&config, jobs);
    if let Err(e) = crate::disk::check(
        &need,
        &config.artifacts_dir,
        &scratch_root,
        jobs,
        crate::disk::free_space,
    ) {
        eprintln!("error: {e}");
        return Exit::Harness;
    }
    let started_at = jiff::Timestamp::now();
    let started = std::time::Instant::now();
    let interrupted = interrupt_flag();
    let engine = match engine(apr, &config, !args.no_reuse, Arc::clone(&interrupted)) {
        Ok(engine) => engine,
        Err(exit) => return exit,
    };
    let apr_info = apr_info(
        engine.apr().binary(),
        engine.apr_sha256(),
        engine.apr().version(),
        &config.apr.pinned_version,
    );
    let artifacts = Artifacts::new(config.artifacts_dir.clone());
    let scratch = Scratch::new(scratch_root, args.keep_scratch);
    let sampler = Sampler::start(scratch.root().to_path_buf());
    let state = RunState::new(config, engine, artifacts, scratch, oracles);
    let previous = match durations {
        Some((_, r)) => Some(r),
        None => Report::read(&out_dir.join("report.json")).ok(),
    };
    let plan = crate::schedule::plan(&state.config, &instances, previous.as_ref());
    human::announce(&state.config, instances.len(), jobs);
    let progress = human::Progress::new(instances.len(), &ledger, &plan.cost, args.verbose);
    let finished = AtomicBool::new(false);
    let slots = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                progress.tick(&state.engine.running());
                std::thread::sleep(human::REDRAW);
            }
        });
        let slots = run_all(&state, &instances, &plan.order, jobs, &|i, f| match f {
            Finished::Result(r) => progress.result(i, r),
            Finished::OutsideEntry(_) => progress.outside_entry(i),
        });
        finished.store(true, Ordering::Relaxed);
        slots
    });
    progress.finish();
    let peaks = sampler.finish();
    let scratch_left = state.scratch.finish();
    let was_interrupted = state.engine.interrupted();
    let (mut results, mut outside_entry) = (Vec::new(), Vec::new());
    for finished in slots.into_iter().flatten() {
        match finished {
            Finished::Result(r) => results.push(*r),
            Finished::OutsideEntry(o) => outside_entry.push(o),
        }
    }
    let calls = state.engine.records();
    let mut report = Report {
        schema: tmgt_report::SCHEMA.into(),
        tool: Tool {
            name: "tmgt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        apr: apr_info,
        config: serde_json::to_value(&state.config).unwrap_or_default(),
        started_at: started_at.to_string(),
        finished_at: jiff::Timestamp::now().to_string(),
        interrupted: was_interrupted,
        summary: Summary::of(&results, instances.len() - outside_entry.len(), calls.len()),
        results,
        outside_entry,
        invocations: calls,
        harness: None,
        out_dir: Some(out_dir.display().to_string()),
        known_issues: Vec::new(),
        artifacts: std::collections::BTreeMap::new(),
        matrix: Some(matrix_record),
    };
    // A filtered, interrupted or sharded run cannot call an entry stale: it saw a part.
    report.apply_ledger(
        &ledger,
        args.filters.is_empty() && !was_interrupted && args.shard.is_none(),
    );
    report.artifacts = crate::ticket_cmd::hash_artifacts(&report);
    report.harness = Some(crate::usage::harness_usage(
        started.elapsed(),
        jobs,
        state.engine.largest_input(),
        peaks,
        scratch_left,
    ));
    let path = out_dir.join("report.json");
    let written = tmgt_report::write_reports(&report, &out_dir);
    human::summary(&report, &path);
    if report.summary.xfail + report.summary.xpass > 0 {
        eprintln!(
            "known issues ({}): {} xfail, {} xpass",
            ledger_path.display(),
            report.summary.xfail,
            report.summary.xpass
        );
    }
    for note in report.ledger_notes() {
        eprintln!("{note}");
    }
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the reports into {}: {e}",
            out_dir.display()
        );
        return Exit::Harness;
    }
    if was_interrupted {
        eprintln!(
            "interrupted: {} of {} results written to {}",
            report.results.len(),
            instances.len(),
            path.display()
        );
        return Exit::Harness;
    }
    // `xfail` and `xpass` fail no run; `fail` and `error` do.
    if report.failed() {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    }
}

/// What makes two runs' matrices the same: the configuration file's bytes, the profile and
/// the filters.
fn config_fingerprint(file: &std::path::Path, config: &Config, filters: &[Selector]) -> String {
    let mut text = std::fs::read(file).unwrap_or_default();
    text.extend_from_slice(format!("\nprofile={}", config.profile).as_bytes());
    for f in filters {
        text.extend_from_slice(format!("\nfilter={f}").as_bytes());
    }
    tmgt_oracle::sha256_hex(&text)
}

/// What makes two tmgt builds' checks the same: every check's code, name, suite, scope and
/// cost.
fn registry_fingerprint(registry: &Registry) -> String {
    let text: String = registry
        .checks()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {}\n",
                c.meta.code,
                c.meta.name,
                c.meta.suite,
                c.meta.scope.as_str(),
                c.meta.cost
            )
        })
        .collect();
    tmgt_oracle::sha256_hex(text.as_bytes())
}

pub fn prepare(args: &PrepareArgs) -> Exit {
    let Setup {
        config, apr, jobs, ..
    } = match setup(&args.common) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let interrupted = interrupt_flag();
    let engine = match engine(apr, &config, true, interrupted) {
        Ok(engine) => engine,
        Err(exit) => return exit,
    };
    let artifacts = Artifacts::new(config.artifacts_dir.clone());
    let mut wanted = Vec::new();
    for model in &config.models {
        // A model given as a file is checked as it is: there is nothing to make.
        if let Some(file) = &model.provided {
            eprintln!("{:>8}  {}  {}", "given", model.name, file.display());
            continue;
        }
        for q in &model.quants {
            wanted.push((model, ArtifactKind::Apr(*q)));
        }
        wanted.push((model, ArtifactKind::Gguf));
        wanted.push((model, ArtifactKind::RoundTrip));
    }
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let order: Vec<usize> = (0..wanted.len()).collect();
    crate::pool::for_each(&order, jobs, |i| {
        let (model, kind) = wanted[i];
        match artifacts.get(&engine, model, kind) {
            Ok((p, _)) => eprintln!(
                "{:>8}  {}/{kind}  {}",
                if p.cached { "cached" } else { "built" },
                model.name,
                p.path.display()
            ),
            Err(e) => {
                failures.fetch_add(1, Ordering::SeqCst);
                eprintln!("{:>8}  {}/{kind}  {e}", "FAILED", model.name);
            }
        }
        true
    });
    let calls = engine.records().len();
    eprintln!(
        "{} artifacts, {} failed, {calls} apr calls, {:.1}s",
        wanted.len(),
        failures.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    if failures.into_inner() > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    }
}
