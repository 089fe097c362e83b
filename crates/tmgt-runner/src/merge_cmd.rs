//! `tmgt merge OUT SHARD_REPORT...`: one report, and every reporter, from the shards of one
//! matrix. Shards of another configuration, check registry, apr binary or tmgt version are
//! refused, as are missing, duplicated and interrupted shards and instances reported twice.
//! Each shard applied the known-issues ledger to its part alone; the merge takes that back
//! and applies it once to the whole, so a stale entry is stale over the whole matrix.

use crate::Exit;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmgt_report::{HarnessUsage, Ledger, Report, ResultRecord};

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Where the merged reports go.
    out: PathBuf,
    /// Every shard's report.json.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// The configuration the shards ran (its folder holds the default ledger).
    #[arg(long, default_value_os_t = crate::default_config())]
    config: PathBuf,
    /// The known-issues ledger applied to the whole (default: known-issues.toml beside the
    /// configuration).
    #[arg(long, value_name = "FILE")]
    known_issues: Option<PathBuf>,
    /// Report apr's raw verdicts.
    #[arg(long, conflicts_with = "known_issues")]
    no_known_issues: bool,
}

/// Why shard reports cannot be merged; each names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Unreadable(#[from] tmgt_report::ReportFileError),
    #[error(
        "{path} is not a shard's report (it has no `matrix.shard`): run `tmgt run --shard K/N`"
    )]
    NotAShard { path: PathBuf },
    #[error(
        "{path} was made with another {what} ({theirs}) than {first} ({ours}): merge only \
         shards of one run"
    )]
    Differs {
        path: PathBuf,
        first: PathBuf,
        what: &'static str,
        theirs: String,
        ours: String,
    },
    #[error("{path} and {other} are both shard {shard}: pass each shard's report once")]
    DuplicateShard {
        path: PathBuf,
        other: PathBuf,
        shard: String,
    },
    #[error("shard {missing} of {count} is missing: pass every shard's report")]
    MissingShards { missing: String, count: usize },
    #[error("{path} (shard {shard}) was interrupted: {done} of its results finished; rerun it")]
    Interrupted {
        path: PathBuf,
        shard: String,
        done: usize,
    },
    #[error("`{id}` is reported by both {path} and {other}: the shards overlap")]
    DuplicateInstance {
        id: String,
        path: PathBuf,
        other: PathBuf,
    },
    #[error("{count} instances of the matrix are in no shard's report (the first: `{first}`)")]
    Unreported { count: usize, first: String },
}

pub fn merge(args: &MergeArgs) -> Exit {
    let out = crate::absolute(&args.out);
    let paths: Vec<PathBuf> = args.reports.iter().map(|p| crate::absolute(p)).collect();
    let ledger_path = crate::ticket_cmd::ledger_path(
        args.known_issues.as_deref(),
        &crate::absolute(&args.config),
    );
    let ledger = if args.no_known_issues {
        Ok(Ledger::default())
    } else {
        Ledger::load(&ledger_path)
    };
    let ledger = match ledger {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: the known-issues ledger: {e}");
            return Exit::Usage;
        }
    };
    let mut report = match read_all(&paths).and_then(|shards| merged(&shards)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let complete = report.matrix.as_ref().is_some_and(|m| !m.filtered);
    report.out_dir = Some(out.display().to_string());
    report.apply_ledger(&ledger, complete);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot make {}: {e}", out.display());
        return Exit::Harness;
    }
    let written = tmgt_report::write_reports(&report, &out);
    crate::human::summary(&report, &out.join("report.json"));
    for note in report.ledger_notes() {
        eprintln!("{note}");
    }
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the reports into {}: {e}",
            out.display()
        );
        return Exit::Harness;
    }
    eprintln!("merge: {} shards into {}", paths.len(), out.display());
    if report.failed() {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Report)>, MergeError> {
    paths
        .iter()
        .map(|path| {
            let report = Report::read(path)?;
            Ok((path.clone(), report))
        })
        .collect()
}

/// The shards checked against the first and each other, then joined in matrix order with
/// the ledger taken back.
fn merged(shards: &[(PathBuf, Report)]) -> Result<Report, MergeError> {
    let shard_of = |path: &Path, r: &Report| {
        r.matrix
            .as_ref()
            .and_then(|m| m.shard.clone().map(|s| (m.clone(), s)))
            .ok_or_else(|| MergeError::NotAShard {
                path: path.to_path_buf(),
            })
    };
    let (first_path, first) = &shards[0];
    let (matrix, first_shard) = shard_of(first_path, first)?;
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for (path, r) in shards {
        let (m, shard) = shard_of(path, r)?;
        let differs = |what: &'static str, theirs: &str, ours: &str| {
            (theirs != ours).then(|| MergeError::Differs {
                path: path.clone(),
                first: first_path.clone(),
                what,
                theirs: theirs.to_string(),
                ours: ours.to_string(),
            })
        };
        let checks = [
            differs("tmgt version", &r.tool.version, &first.tool.version),
            differs(
                "apr binary (sha256)",
                &r.apr.binary_sha256,
                &first.apr.binary_sha256,
            ),
            differs(
                "configuration (sha256 of the file, profile and filters)",
                &m.config_sha256,
                &matrix.config_sha256,
            ),
            differs(
                "check registry (sha256)",
                &m.registry_sha256,
                &matrix.registry_sha256,
            ),
            differs(
                "shard count",
                &shard.count.to_string(),
                &first_shard.count.to_string(),
            ),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
        if let Some(other) = seen.insert(shard.index, path) {
            return Err(MergeError::DuplicateShard {
                path: path.clone(),
                other: other.to_path_buf(),
                shard: format!("{}/{}", shard.index, shard.count),
            });
        }
        if r.interrupted {
            return Err(MergeError::Interrupted {
                path: path.clone(),
                shard: format!("{}/{}", shard.index, shard.count),
                done: r.results.len(),
            });
        }
    }
    let missing: Vec<String> = (1..=first_shard.count)
        .filter(|k| !seen.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards {
            missing: missing.join(", "),
            count: first_shard.count,
        });
    }
    let mut by_id: BTreeMap<String, (ResultRecord, &Path)> = BTreeMap::new();
    let mut outside: BTreeMap<String, tmgt_report::OutsideEntry> = BTreeMap::new();
    let mut invocations = Vec::new();
    let mut artifacts = BTreeMap::new();
    for (path, r) in shards {
        let offset = invocations.len();
        let mut r = r.clone();
        r.unapply_ledger();
        outside.extend(r.outside_entry.drain(..).map(|o| (o.id.clone(), o)));
        for mut call in r.invocations {
            call.id += offset;
            for maker in call.inputs.iter_mut().filter_map(|i| i.made_by.as_mut()) {
                *maker += offset;
            }
            invocations.push(call);
        }
        for mut result in r.results {
            for used in &mut result.invocations {
                used.id += offset;
            }
            result.message = renumber_calls(&result.message, offset);
            if let Some((_, other)) = by_id.get(&result.id) {
                return Err(MergeError::DuplicateInstance {
                    id: result.id.clone(),
                    path: path.clone(),
                    other: other.to_path_buf(),
                });
            }
            by_id.insert(result.id.clone(), (result, path));
        }
        artifacts.extend(r.artifacts);
    }
    let unreported: Vec<&String> = matrix
        .instances
        .iter()
        .filter(|id| !by_id.contains_key(*id) && !outside.contains_key(*id))
        .collect();
    if let Some(first) = unreported.first() {
        return Err(MergeError::Unreported {
            count: unreported.len(),
            first: (*first).clone(),
        });
    }
    let results: Vec<ResultRecord> = matrix
        .instances
        .iter()
        .filter_map(|id| by_id.remove(id).map(|(r, _)| r))
        .collect();
    let outside_entry: Vec<tmgt_report::OutsideEntry> = matrix
        .instances
        .iter()
        .filter_map(|id| outside.remove(id))
        .collect();
    let reports: Vec<&Report> = shards.iter().map(|(_, r)| r).collect();
    Ok(Report {
        summary: tmgt_report::Summary::of(
            &results,
            matrix.instances.len() - outside_entry.len(),
            invocations.len(),
        ),
        results,
        outside_entry,
        invocations,
        artifacts,
        started_at: reports
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: reports
            .iter()
            .map(|r| r.finished_at.clone())
            .max()
            .unwrap_or_default(),
        harness: Some(combined_usage(&reports)),
        known_issues: Vec::new(),
        matrix: Some(tmgt_report::MatrixRecord {
            shard: None,
            ..matrix
        }),
        ..first.clone()
    })
}

/// The shards' figures together: CPU summed, peaks and wall the largest (they ran apart).
fn combined_usage(reports: &[&Report]) -> HarnessUsage {
    let all: Vec<HarnessUsage> = reports.iter().filter_map(|r| r.harness).collect();
    let sum = |f: fn(&HarnessUsage) -> u64| all.iter().map(f).sum();
    let max = |f: fn(&HarnessUsage) -> u64| all.iter().map(f).max().unwrap_or(0);
    HarnessUsage {
        wall_ms: max(|u| u.wall_ms),
        cpu_user_ms: sum(|u| u.cpu_user_ms),
        cpu_system_ms: sum(|u| u.cpu_system_ms),
        runtime_cpu_ms: sum(|u| u.runtime_cpu_ms),
        peak_rss_kb: max(|u| u.peak_rss_kb),
        peak_harness_rss_kb: max(|u| u.peak_harness_rss_kb),
        peak_runtime_kb: max(|u| u.peak_runtime_kb),
        runtime_workers: sum(|u| u.runtime_workers),
        runtime_faults: sum(|u| u.runtime_faults),
        peak_scratch_bytes: max(|u| u.peak_scratch_bytes),
        scratch_left_bytes: sum(|u| u.scratch_left_bytes),
        jobs: sum(|u| u.jobs),
        largest_input_bytes: max(|u| u.largest_input_bytes),
    }
}

/// `call #12` in a shard's message is `call #12 + offset` in the merged report.
fn renumber_calls(message: &str, offset: usize) -> String {
    if offset == 0 || !message.contains("call #") {
        return message.to_string();
    }
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("call #") {
        let (before, after) = rest.split_at(at + "call #".len());
        out.push_str(before);
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::renumber_calls;

    #[test]
    fn call_numbers_move_by_the_offset() {
        assert_eq!(
            renumber_calls("failed (exit 1, call #7): no; call #12", 100),
            "failed (exit 1, call #107): no; call #112"
        );
        assert_eq!(renumber_calls("call #", 3), "call #");
        assert_eq!(renumber_calls("nothing", 3), "nothing");
    }
}
