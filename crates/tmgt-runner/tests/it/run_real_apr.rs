//! `tmgt run` and `tmgt prepare` end to end: the built binary, the real apr (from TMGT_APR or
//! PATH; the tests fail when it is missing) and the bundled tiny models.

use crate::common;
use common::{repo_root, tmgt_at_root as tmgt};

use serde_json::Value;
use std::process::Command;

fn run_report(extra: &[&str]) -> (i32, Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    // apr's raw verdicts: the known-issues ledger would turn the failures below into xfail.
    let mut args = vec!["run", "--out", &out_arg, "--no-known-issues"];
    args.extend_from_slice(extra);
    let out = tmgt(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read(out_dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}"));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&report).unwrap(),
        stderr,
    )
}

fn results_of<'a>(report: &'a Value, check: &str, model: &str) -> Vec<&'a Value> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == check && r["model"] == model)
        .collect()
}

#[test]
fn full_run_reports_every_instance_with_evidence_and_finds_known_apr_bugs() {
    let (code, report, stderr) = run_report(&[]);
    assert_eq!(
        code, 1,
        "apr 0.72.3 has known bugs, so the run must fail\n{stderr}"
    );
    assert_eq!(report["schema"], tmgt_report::SCHEMA);
    assert_eq!(report["apr"]["version"], "0.72.3");
    assert!(report["apr"]["binary_sha256"].as_str().unwrap().len() == 64);
    assert_eq!(report["interrupted"], false);
    let results = report["results"].as_array().unwrap();
    assert!(results.len() > 100, "only {} results", results.len());
    let summary = &report["summary"];
    let counted: u64 = ["pass", "fail", "skip", "error"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, results.len());
    for r in results {
        let verdict = r["verdict"].as_str().unwrap();
        assert!(["pass", "fail", "skip", "error"].contains(&verdict), "{r}");
        let evidence = r["evidence"]["count"].as_u64().unwrap();
        if verdict == "pass" {
            assert!(evidence > 0, "a pass with no evidence: {r}");
        }
        assert!(!r["message"].as_str().unwrap().is_empty(), "{r}");
        assert!(
            r["rerun_filter"].as_str().unwrap().starts_with("check="),
            "{r}"
        );
    }
    // Identical apr calls ran once and were shared (the GGUF log-prob run feeds four checks).
    let reused = results
        .iter()
        .flat_map(|r| r["invocations"].as_array().unwrap())
        .filter(|i| i["reused"] == true)
        .count();
    assert!(reused > 0, "no apr call was reused");
    let calls = report["invocations"].as_array().unwrap().len();
    assert_eq!(summary["apr_calls"].as_u64().unwrap() as usize, calls);
    // Each call records its files; where one read a file another call of the run wrote (a
    // conversion then run), it names that call, and that call's record lists the file.
    let table = report["invocations"].as_array().unwrap();
    let mut made = 0;
    for c in table {
        for input in c["inputs"].as_array().unwrap() {
            let Some(maker) = input.get("made_by") else {
                continue;
            };
            let maker = &table[maker.as_u64().unwrap() as usize - 1];
            let outputs = maker["outputs"].as_array().unwrap();
            assert!(
                outputs
                    .iter()
                    .any(|o| o.get("kept_as").unwrap_or(&o["path"]) == &input["path"]),
                "{c} names {maker} as its input's maker"
            );
            made += 1;
        }
    }
    assert!(made > 0, "no call read a file another call made");
    assert!(
        table.iter().any(|c| c["reuses"].as_u64().unwrap() > 0),
        "no call was shared"
    );

    // Known behaviour of apr 0.72.3 on these models, checked by hand.
    for r in results_of(&report, "TOK001", "tiny-qwen2")
        .iter()
        .filter(|r| r["quant"] == "int8")
    {
        assert_eq!(r["verdict"], "pass", "Qwen2 Int8 is token-exact: {r}");
    }
    for r in results_of(&report, "PRM002", "tiny-qwen2") {
        assert_eq!(r["verdict"], "fail", "the GGUF path prepends BOS: {r}");
    }
    let llama = results_of(&report, "RUN001", "tiny-llama");
    assert!(
        llama.iter().any(|r| r["verdict"] == "fail"
            && r["message"]
                .as_str()
                .unwrap()
                .contains("divergence at step")),
        "{llama:?}"
    );
    let gpt2_export = results_of(&report, "PRE002", "tiny-gpt2");
    assert_eq!(gpt2_export[0]["verdict"], "fail", "{:?}", gpt2_export);
    assert!(
        gpt2_export[0]["message"]
            .as_str()
            .unwrap()
            .contains("exited 5"),
        "{:?}",
        gpt2_export
    );
    // Qwen2's GGUF is exact against the BOS-prefixed oracle, log-probs and perplexity included.
    for r in results_of(&report, "RUN002", "tiny-qwen2") {
        assert_eq!(r["verdict"], "pass", "{r}");
        assert!(
            r["message"].as_str().unwrap().contains("BOS-prefixed"),
            "{r}"
        );
    }
    for r in results_of(&report, "LPB001", "tiny-qwen2") {
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    assert_eq!(
        results_of(&report, "PPL003", "tiny-qwen2")[0]["verdict"],
        "pass"
    );
    // Llama's GGUF falls back to greedy longest-match tokenization: apr scores other ids than
    // the oracle, which is a tokenizer fault and says so.
    let llama_ppl = results_of(&report, "PPL003", "tiny-llama");
    assert!(
        llama_ppl[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("a tokenizer fault, not a perplexity one: apr's encoder (greedy-fallback"),
        "{llama_ppl:?}"
    );
    // The Llama divergences happen where the oracle was confident: real divergences.
    let classified: Vec<&str> = results_of(&report, "RUN001", "tiny-llama")
        .iter()
        .filter_map(|r| r["details"]["classification"]["kind"].as_str())
        .collect();
    assert!(classified.contains(&"divergence"), "{classified:?}");
    // Checks that needed the missing GGUF say so instead of failing on their own.
    for r in results_of(&report, "RUN002", "tiny-gpt2") {
        assert_eq!(r["verdict"], "error");
        assert_eq!(r["error_class"], "artifact-unavailable");
        assert_eq!(r["blocked_by"], "tiny-gpt2/gguf-f32", "{r}");
    }
    // The refused export is told once, where a person reads it, with what it blocked.
    let export = &results_of(&report, "PRE002", "tiny-gpt2")[0];
    assert_eq!(export["verdict"], "fail", "{export}");
    assert_eq!(
        export["details"]["artifact"], "tiny-gpt2/gguf-f32",
        "{export}"
    );
    let blocked = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["blocked_by"] == "tiny-gpt2/gguf-f32")
        .count();
    assert!(blocked > 5, "{blocked}");
    let told = format!("{blocked} results could not run");
    assert!(
        stderr.contains(&format!(
            "PRE002/gguf-export-fails/tiny-gpt2 failed: {told}"
        )),
        "{stderr}"
    );
}

#[test]
fn a_filter_narrows_the_run_and_a_clean_selection_exits_zero() {
    let (code, report, stderr) =
        run_report(&["--filter", "suite=token model=tiny-qwen2 quant=int8"]);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{stderr}");
    assert!(
        results.iter().all(|r| r["verdict"] == "pass"),
        "{results:?}"
    );
    assert_eq!(code, 0);
}

#[test]
fn a_filter_that_selects_nothing_is_a_usage_error() {
    let out = tmgt(&["run", "--filter", "model=no-such-model"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("select no check instance"));
}

#[test]
fn a_second_prepare_does_no_apr_work() {
    let first = tmgt(&["prepare"]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("artifacts"), "{stderr}");
    let second = tmgt(&["prepare"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(" 0 apr calls"),
        "the cache was not reused:\n{stderr}"
    );
    assert!(!stderr.contains(" built "), "{stderr}");
    // GPT-2's GGUF export fails in apr 0.72.3: prepare reports it and exits 1.
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED  tiny-gpt2/gguf-f32"), "{stderr}");
}

/// A project linking the repository's `linked` folders and holding its own copy of the folder
/// `copied` (relative to the repository) for the test to alter.
fn project_with_copy(linked: [&str; 2], copied: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for link in linked.iter().chain(&["native"]) {
        std::os::unix::fs::symlink(root.join(link), dir.path().join(link)).unwrap();
    }
    let copy = dir.path().join(copied);
    copy_tree(&root.join(copied), &copy);
    (dir, copy)
}

/// Copies the folder `from` to `to`, subfolders included.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `tmgt run --filter suite=token` in `dir`: its exit code and stderr.
fn run_token_suite(dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(["run", "--config", "suites.toml", "--filter", "suite=token"])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_oracle_made_for_another_prompt_text_stops_the_run_before_any_apr_call() {
    let (dir, prompts) = project_with_copy(["oracle", "models"], "prompts");
    std::fs::write(prompts.join("code.txt"), "def sub(a, b):").unwrap();
    std::fs::copy(
        repo_root().join("suites.toml"),
        dir.path().join("suites.toml"),
    )
    .unwrap();
    let (code, stderr) = run_token_suite(dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("was made for the prompt \"def fibonacci(n):\", but the configured prompt is \"def sub(a, b):\""),
        "{stderr}"
    );
    assert!(stderr.contains("oracle/tiny-llama/code.json"), "{stderr}");
    assert!(
        !dir.path().join("tmgt-out/report.json").exists(),
        "{stderr}"
    );
}

#[test]
fn an_oracle_made_from_another_model_stops_the_run() {
    let (dir, model) = project_with_copy(["oracle", "prompts"], "models/tiny-qwen2");
    let root = repo_root();
    let weights = model.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&weights, bytes).unwrap();
    let config = common::default_profile_models(
        &std::fs::read_to_string(root.join("suites.toml")).unwrap(),
        &["tiny-qwen2"],
    );
    let config = common::without_ladders(&config);
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    let (code, stderr) = run_token_suite(dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("was made from a different model.safetensors"),
        "{stderr}"
    );
    assert!(
        stderr.contains("oracle/tiny-qwen2/")
            && stderr.contains("models/tiny-qwen2/model.safetensors"),
        "{stderr}"
    );
}

#[test]
fn two_imports_of_one_source_differ_in_their_metadata_order() {
    // apr 0.72.3 writes the `.apr` metadata from a hash map: each process orders it anew.
    let (code, report, stderr) = run_report(&["--filter", "check=PRE004"]);
    assert_eq!(code, 1, "{stderr}");
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        let r = results_of(&report, "PRE004", model);
        assert_eq!(r[0]["verdict"], "fail", "{:?}", r);
        assert!(
            r[0]["evidence"]["count"].as_u64().unwrap() > 1_000_000,
            "{r:?}"
        );
        let message = r[0]["message"].as_str().unwrap();
        assert!(
            message.contains("metadata: the same JSON document with its keys in another order"),
            "{message}"
        );
        assert!(!message.contains("tensor data"), "{message}");
        // Each import is its own call: nothing to reuse between them.
        let calls = r[0]["invocations"].as_array().unwrap();
        assert_eq!(calls.len(), 2, "{r:?}");
        assert!(calls.iter().all(|c| c["reused"] == false), "{r:?}");
    }
}

#[test]
fn a_relative_out_folder_is_made_absolute_before_apr_sees_a_path() {
    // Damaged copies live under the output folder; apr refuses relative paths.
    let rel = format!("target/tmgt-relative-out-{}", std::process::id());
    let out = tmgt(&[
        "run",
        "--out",
        &rel,
        "--no-known-issues",
        "--filter",
        "suite=corruption model=tiny-qwen2 quant=f32",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let dir = repo_root().join(&rel);
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let results = report["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{stderr}");
    for r in results {
        assert_ne!(r["verdict"], "error", "{r}\n{stderr}");
    }
    assert_eq!(report["out_dir"], dir.display().to_string());
}

/// `[  3/12] xfail PRM002/...  message` as the progress display prints a result.
fn streamed(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('[')?.split_once("] ")?.1;
            let mut words = rest.split_whitespace();
            let verdict = words.next()?.to_lowercase();
            let id = words.next()?.to_string();
            ["pass", "fail", "skip", "error", "xfail", "xpass"]
                .contains(&verdict.as_str())
                .then_some((id, verdict))
        })
        .collect()
}

#[test]
fn a_streamed_line_shows_the_verdict_the_summary_counts() {
    // The prompt suite holds known failures (ledger entries): streamed, they must read xfail.
    let filter = ["--filter", "suite=prompt|runtime"];
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let mut args = vec!["run", "-v", "--out", &out_arg];
    args.extend_from_slice(&filter);
    let out = tmgt(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("report.json")).unwrap())
            .unwrap();
    let mut lines = streamed(&stderr);
    let mut counted: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        counted.iter().any(|(_, v)| v == "xfail"),
        "the selection has no known failure to prove the point: {counted:?}"
    );
    lines.sort();
    counted.sort();
    assert_eq!(lines, counted, "{stderr}");

    // Without -v only what needs a person's eye is streamed: no known failure, no pass.
    let (_, _, quiet) = run_report_with_ledger(&filter);
    let quiet_lines = streamed(&quiet);
    assert!(
        quiet_lines
            .iter()
            .all(|(_, v)| ["fail", "error", "xpass"].contains(&v.as_str())),
        "{quiet}"
    );
    assert!(quiet.contains("results:"), "the summary line: {quiet}");
}

fn run_report_with_ledger(extra: &[&str]) -> (i32, Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let mut args = vec!["run", "--out", &out_arg];
    args.extend_from_slice(extra);
    let out = tmgt(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read(out_dir.path().join("report.json")).unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&report).unwrap(),
        stderr,
    )
}
