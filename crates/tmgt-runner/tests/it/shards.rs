//! `tmgt run --shard K/N` and `tmgt merge` end to end, as `.github/workflows/matrix.yml` runs
//! them: the default profile as three shards in separate processes (the real apr, the bundled
//! models), merged, against one whole run; the refusals; and the workflow's own shape.

use crate::common;
use common::{repo_root, tmgt_at_root as tmgt};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The partition's balance on the default matrix (costliest shard's expected cost over the
/// mean), as the README states it.
const IMBALANCE_BOUND: f64 = 1.10;

struct Runs {
    whole: Value,
    whole_code: Option<i32>,
    shards: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let whole_dir = dir.path().join("whole");
        let out = tmgt(&["run", "--out", whole_dir.to_str().unwrap()]);
        let whole = read(&whole_dir.join("report.json"));
        let shards = (1..=3)
            .map(|k| {
                let out_dir = dir.path().join(format!("shard-{k}"));
                let shard = format!("{k}/3");
                let run = tmgt(&["run", "--shard", &shard, "--out", out_dir.to_str().unwrap()]);
                let stderr = String::from_utf8_lossy(&run.stderr);
                assert!(stderr.contains(&format!("tmgt: shard {k}/3: ")), "{stderr}");
                out_dir.join("report.json")
            })
            .collect();
        Runs {
            whole,
            whole_code: out.status.code(),
            shards,
            _dir: dir,
        }
    })
}

/// What must be equal between the merged and the whole run's result: everything but the
/// figures that change from one run to the next (durations, call numbers, panicking
/// threads' ids, measured throughput, and the byte count of PRE004's differing imports, whose metadata order apr
/// draws anew each time).
fn comparable(r: &Value) -> Value {
    let unstable = ["BEN", "PRE004"]
        .iter()
        .any(|p| r["code"].as_str().unwrap().starts_with(p));
    let mut message = r["message"].as_str().unwrap().to_string();
    // Call numbers, the thread ids apr's panics print and the load times its stderr quotes
    // ("Model ready in 0.01s") differ from run to run too.
    if unstable
        || message.contains("call #")
        || message.contains("panicked")
        || message.contains("apr exited with code")
    {
        // Every number, whatever its digits, reads `#`.
        let mut out = String::new();
        let mut in_number = false;
        for c in message.chars() {
            let digit = c.is_ascii_digit() || (in_number && c == '.');
            if digit && !in_number {
                out.push('#');
            } else if !digit {
                out.push(c);
            }
            in_number = digit;
        }
        message = out;
    }
    let message = without_scratch(&message);
    serde_json::json!({
        "id": r["id"], "verdict": r["verdict"], "message": message,
        "evidence": r["evidence"], "error_class": r["error_class"],
        "blocked_by": r["blocked_by"], "known_issue": r["known_issue"],
    })
}

/// `message` with each run's own scratch folder (`OUT/shard-3/scratch/00006/`), which apr
/// quotes back in some messages, written `$SCRATCH/`.
fn without_scratch(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("/scratch/") {
        let start = rest[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let after = &rest[at + "/scratch/".len()..];
        let end = after.find('/').map_or(after.len(), |i| i + 1);
        out.push_str(&rest[..start]);
        out.push_str("$SCRATCH/");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn merge(out: &Path, reports: &[&Path]) -> (Option<i32>, String) {
    let mut args = vec!["merge".to_string(), out.display().to_string()];
    args.extend(reports.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = tmgt(&args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn three_shards_merged_equal_one_whole_run() {
    let runs = runs();
    let shard_reports: Vec<Value> = runs.shards.iter().map(|p| read(p)).collect();
    let mut ids = std::collections::BTreeSet::new();
    for (k, r) in shard_reports.iter().enumerate() {
        let shard = &r["matrix"]["shard"];
        assert_eq!(shard["index"], k + 1, "{shard}");
        assert_eq!(shard["count"], 3);
        let imbalance = shard["imbalance"].as_f64().unwrap();
        assert!(imbalance <= IMBALANCE_BOUND, "imbalance {imbalance}");
        for result in r["results"].as_array().unwrap() {
            assert!(
                ids.insert(result["id"].as_str().unwrap().to_string()),
                "{} in two shards",
                result["id"]
            );
        }
        // Each shard runs a third of the matrix, give or take the balance: its results and
        // the instances it found outside their entry.
        let n = (r["results"].as_array().unwrap().len()
            + r["outside_entry"].as_array().map_or(0, Vec::len)) as f64;
        let all = r["matrix"]["instances"].as_array().unwrap().len() as f64;
        assert!(n > all / 3.0 / 2.0 && n < all / 3.0 * 2.0, "{n} of {all}");
    }
    let out = tempfile::tempdir().unwrap();
    let paths: Vec<&Path> = runs.shards.iter().map(PathBuf::as_path).collect();
    let (code, stderr) = merge(out.path(), &paths);
    assert_eq!(code, runs.whole_code, "{stderr}");
    let merged = read(&out.path().join("report.json"));
    let whole: Vec<Value> = runs.whole["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(comparable)
        .collect();
    let joined: Vec<Value> = merged["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(comparable)
        .collect();
    assert_eq!(joined.len(), whole.len());
    for (a, b) in joined.iter().zip(&whole) {
        assert_eq!(a, b);
    }
    assert_eq!(merged["summary"]["total"], runs.whole["summary"]["total"]);
    assert_eq!(merged["summary"]["xfail"], runs.whole["summary"]["xfail"]);
    assert_eq!(
        merged["summary"]["stale_known_issues"],
        runs.whole["summary"]["stale_known_issues"]
    );
    assert_eq!(merged["known_issues"], runs.whole["known_issues"]);
    assert!(merged["matrix"]["shard"].is_null());
    // Every call a result names is in the merged call table, under its new number, and every
    // input's maker is renumbered with it: the call it names wrote that very file.
    let calls = merged["invocations"].as_array().unwrap();
    let call = |id: &Value| &calls[id.as_u64().unwrap() as usize - 1];
    for r in merged["results"].as_array().unwrap() {
        for used in r["invocations"].as_array().unwrap() {
            assert_eq!(call(&used["id"])["id"], used["id"]);
        }
    }
    let mut made = 0;
    for c in calls {
        for input in c["inputs"].as_array().unwrap() {
            let Some(maker) = input.get("made_by") else {
                continue;
            };
            let writes = call(maker)["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o.get("kept_as").unwrap_or(&o["path"]) == &input["path"]);
            assert!(
                writes,
                "call {} names call {maker} as the maker of {input}",
                c["id"]
            );
            made += 1;
        }
    }
    assert!(made > 0, "no call read a file another call of the run made");
    for file in tmgt_report::REPORT_FILES {
        assert!(out.path().join(file).is_file(), "{file}");
    }
}

#[test]
fn merge_refuses_missing_repeated_interrupted_and_foreign_shards() {
    let runs = runs();
    let [one, two, three] = [&runs.shards[0], &runs.shards[1], &runs.shards[2]];
    let out = tempfile::tempdir().unwrap();
    let refused = |reports: &[&Path], expect: &str| {
        let (code, stderr) = merge(&out.path().join("m"), reports);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(expect), "wanted {expect:?} in:\n{stderr}");
    };
    refused(&[one, two], "shard 3 of 3 is missing");
    refused(&[one, two, three, one], "are both shard 1/3");
    let forge = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut r = read(three);
        edit(&mut r);
        let path = out.path().join(name);
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        path
    };
    let other_apr = forge("other-apr.json", &|r| {
        r["apr"]["binary_sha256"] = "0".repeat(64).into();
    });
    refused(&[one, two, &other_apr], "another apr binary (sha256)");
    let other_config = forge("other-config.json", &|r| {
        r["matrix"]["config_sha256"] = "f".repeat(64).into();
    });
    refused(&[one, two, &other_config], "another configuration");
    let interrupted = forge("interrupted.json", &|r| r["interrupted"] = true.into());
    refused(&[one, two, &interrupted], "was interrupted");
    let overlapping = forge("overlap.json", &|r| {
        let first = read(one)["results"][0].clone();
        r["results"].as_array_mut().unwrap().push(first);
    });
    refused(&[one, two, &overlapping], "the shards overlap");
    let whole = out.path().join("whole.json");
    std::fs::write(&whole, serde_json::to_vec(&runs.whole).unwrap()).unwrap();
    refused(&[&whole], "is not a shard's report");
    refused(&[&out.path().join("nothing.json")], "cannot read");
    assert!(!out.path().join("m/report.json").exists());
}

#[test]
fn the_workflow_runs_shards_of_the_real_profile_and_merges_them() {
    use yaml_rust2::{Yaml, YamlLoader};
    let path = repo_root().join(".github/workflows/matrix.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = &YamlLoader::load_from_str(&text).expect("valid YAML")[0];
    let jobs = &doc["jobs"];
    let shards: Vec<i64> = jobs["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("a shard matrix")
        .iter()
        .filter_map(Yaml::as_i64)
        .collect();
    assert_eq!(shards, [1, 2, 3]);
    assert_eq!(doc["env"]["SHARDS"].as_i64(), Some(3));
    let runs_of = |job: &str| -> String {
        jobs[job]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let uses_of = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|s| s["uses"].as_str().map(str::to_string))
            .collect()
    };
    let shard = runs_of("shard");
    assert!(shard.contains("scripts/setup"), "{shard}");
    assert!(
        shard.contains("-- run --profile \"$PROFILE\"")
            && shard.contains("--shard ${{ matrix.shard }}/${{ env.SHARDS }}"),
        "{shard}"
    );
    assert!(
        uses_of("shard")
            .iter()
            .any(|u| u.starts_with("actions/upload-artifact"))
    );
    assert_eq!(jobs["merge"]["needs"].as_str(), Some("shard"));
    let merge = runs_of("merge");
    assert!(
        merge.contains("-- merge merged shards/shard-*/report.json"),
        "{merge}"
    );
    assert!(merge.contains("merged/summary.md >> \"$GITHUB_STEP_SUMMARY\""));
    let merge_uses = uses_of("merge");
    assert!(
        merge_uses
            .iter()
            .any(|u| u.starts_with("actions/download-artifact"))
    );
    assert!(
        merge_uses
            .iter()
            .any(|u| u.starts_with("mikepenz/action-junit-report"))
    );
    // The flags the workflow passes exist.
    let run_help = String::from_utf8_lossy(&tmgt(&["run", "--help"]).stdout).into_owned();
    for flag in ["--shard", "--profile", "--out", "--durations"] {
        assert!(run_help.contains(flag), "{flag}");
    }
    assert!(tmgt(&["merge", "--help"]).status.success());
}

#[test]
fn scratch_paths_apr_quotes_back_compare_equal_across_runs() {
    let a = "use: apr convert x -o /runs/a/shard-3/scratch/00006/converted.apr\nOr not";
    let b = "use: apr convert x -o /runs/b/whole/scratch/00021/converted.apr\nOr not";
    assert_eq!(without_scratch(a), without_scratch(b));
    assert_eq!(
        without_scratch(a),
        "use: apr convert x -o $SCRATCH/converted.apr\nOr not"
    );
    assert_eq!(without_scratch("no path here"), "no path here");
}
