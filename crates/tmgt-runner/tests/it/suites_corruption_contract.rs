//! The `corruption` and `contract` suites through the built `tmgt`, against the real apr (from
//! TMGT_APR or PATH; the tests fail when it is missing) on the bundled tiny models.
//!
//! The first two tests pin what apr 0.72.3 does on the repository's configuration, as
//! observed by hand. The others show every check failing: on files broken on purpose (a
//! `.apr` with NaN weights, a GGUF with a flipped header byte), and, for the checks real apr
//! passes, through a wrapper that runs the real apr but prints a log line on stdout and drops
//! its exit status, the two faults these suites exist to catch.

use crate::common;
use common::{link_repository_data, real_apr, repo_root, run_report, tmgt_in as tmgt};

use checks_structure::layout::Layout;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `tmgt run` in `dir` with apr's raw verdicts; returns the exit code, the report's results
/// and how long it took.
fn run(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>, Duration) {
    let started = Instant::now();
    let (code, report) = run_report(dir, extra);
    (
        code,
        report["results"].as_array().unwrap().clone(),
        started.elapsed(),
    )
}

#[test]
fn tmgt_damage_remakes_each_copy_a_result_names_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let output = tmgt(
        &repo_root(),
        &[
            "run",
            "--out",
            &out_arg,
            "--no-known-issues",
            "--keep-scratch",
            "--filter",
            "check=COR001|COR004|COR007|COR104 model=tiny-llama",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(results.len() >= 4, "{stderr}");
    let mut remade = 0;
    for r in results {
        for c in r["details"]["corruptions"].as_array().unwrap() {
            let command = c["remake"].as_str().unwrap();
            let path = PathBuf::from(command.rsplit(' ').next().unwrap());
            let kept = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::fs::remove_file(&path).unwrap();
            let args: Vec<&str> = command.split(' ').skip(1).collect();
            let status = Command::new(env!("CARGO_BIN_EXE_tmgt"))
                .args(&args)
                .status()
                .unwrap();
            assert!(status.success(), "{command}");
            assert_eq!(std::fs::read(&path).unwrap(), kept, "{command}");
            remade += 1;
        }
    }
    // COR001 5 cuts, COR004 up to 9 flips, COR007 2 fills, on three levels and the GGUF.
    assert!(remade > 30, "only {remade} copies");
    assert!(report["harness"]["scratch_left_bytes"].as_u64().unwrap() > 0);
    let refused_to = out.path().join("never-written.apr");
    let bad = Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(["damage", "/nonexistent.apr", "x", "--out"])
        .arg(&refused_to)
        .output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0));
    assert!(!refused_to.exists());
}

fn of<'a>(results: &'a [Value], code: &str) -> Vec<&'a Value> {
    results.iter().filter(|r| r["code"] == code).collect()
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

/// The (corruption, subcommand) cases of a corruption result that apr did not handle.
fn failed_cases(r: &Value) -> Vec<(String, String, String)> {
    r["details"]["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases: {r}"))
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            (
                c["corruption"].as_str().unwrap().to_string(),
                c["subcommand"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has_case(r: &Value, corruption: &str, subcommand: &str, outcome: &str) -> bool {
    failed_cases(r)
        .iter()
        .any(|(c, s, o)| c == corruption && s == subcommand && o.contains(outcome))
}

/// The case crashed apr: an abort or a panic. Which of the two depends on the bytes the
/// damaged count makes apr read past the header (the GGUF's metadata), so both count.
fn crashed(r: &Value, corruption: &str, subcommand: &str) -> bool {
    has_case(r, corruption, subcommand, "killed by SIGABRT")
        || has_case(r, corruption, subcommand, "panicked")
}

/// Every result is accounted for: a pass or a fail with evidence, a skip with its reason.
fn assert_well_formed(results: &[Value]) {
    for r in results {
        let verdict = r["verdict"].as_str().unwrap();
        assert!(!message(r).is_empty(), "{r}");
        if verdict == "pass" || verdict == "fail" {
            assert!(
                r["evidence"]["count"].as_u64().unwrap() > 0,
                "no evidence: {r}"
            );
        }
    }
}

#[test]
fn corruption_suite_on_every_artifact_finds_what_apr_accepts_and_where_it_crashes() {
    let (code, results, took) = run(&repo_root(), &["--filter", "suite=corruption"]);
    // About 25 s for 1,010 apr calls with 2 jobs on a 2-core machine; the bound only guards
    // against a hang eating the timeouts.
    assert!(took < Duration::from_secs(120), "took {took:?}");
    assert_eq!(code, 1, "apr 0.72.3 mishandles several corruptions");
    // 8 families: on 9 `.apr` (3 models x 3 levels) and on 3 GGUF (tiny-gpt2 has none).
    assert_eq!(results.len(), 8 * 9 + 8 * 3);
    assert_well_formed(&results);
    for r in &results {
        if r["model"] == "tiny-gpt2" && r["code"].as_str().unwrap().starts_with("COR1") {
            assert_eq!(r["verdict"], "error", "{r}");
            assert_eq!(r["error_class"], "artifact-unavailable", "{r}");
        } else {
            assert_ne!(r["verdict"], "error", "{r}");
        }
    }
    let evidence = [
        ("COR001", 25),
        ("COR002", 5),
        ("COR003", 10),
        ("COR004", 45),
        ("COR005", 5),
        ("COR006", 5),
        ("COR007", 10),
        ("COR008", 5),
        ("COR101", 25),
        ("COR102", 5),
        ("COR103", 10),
        ("COR104", 15),
        ("COR105", 5),
        ("COR106", 5),
        ("COR107", 10),
        ("COR108", 5),
    ];
    for (check, cases) in evidence {
        for r in of(&results, check)
            .iter()
            .filter(|r| r["verdict"] != "error")
        {
            assert_eq!(r["evidence"]["count"], cases, "{r}");
        }
    }
    // Rejected everywhere: a wrong magic, an empty file, a GGUF cut short; NaN/Inf weights
    // are flagged by validate and crash nothing.
    for check in [
        "COR002", "COR005", "COR007", "COR101", "COR102", "COR105", "COR107", "COR108",
    ] {
        for r in of(&results, check)
            .iter()
            .filter(|r| r["verdict"] != "error")
        {
            assert_eq!(r["verdict"], "pass", "{r}");
        }
    }
    // A .apr tensor of an undefined dtype code: validate refuses without naming it, and the
    // f32 level runs as if the code were F32.
    for r in of(&results, "COR008") {
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(
            has_case(
                r,
                "tensor-type-unknown",
                "validate",
                "without naming type 200"
            ),
            "{r}"
        );
        if r["quant"] == "f32" {
            assert!(
                has_case(r, "tensor-type-unknown", "run", "accepted it (exit 0)"),
                "{r}"
            );
        }
    }
    // inspect and debug read a .apr cut inside its tensor data as if it were whole.
    for r in of(&results, "COR001") {
        assert_eq!(r["verdict"], "fail", "{r}");
        for sub in ["inspect", "debug"] {
            assert!(
                has_case(r, "truncated-in-tensor-data", sub, "accepted it (exit 0)"),
                "{r}"
            );
        }
        assert!(
            !failed_cases(r)
                .iter()
                .any(|(_, s, _)| s == "validate" || s == "tensors")
        );
    }
    // inspect reads a .apr whose metadata length is halved (checksum recomputed).
    for r in of(&results, "COR003") {
        assert!(
            has_case(r, "metadata-size-halved", "inspect", "accepted it"),
            "{r}"
        );
    }
    // inspect never verifies the .apr header checksum; run ignores it on a flipped checksum.
    for r in of(&results, "COR004") {
        assert!(
            has_case(r, "flipped-checksum", "inspect", "accepted it"),
            "{r}"
        );
        assert!(!has_case(r, "flipped-checksum", "validate", ""), "{r}");
    }
    // Every command but run reads an intact file named for the other format.
    for r in of(&results, "COR006")
        .into_iter()
        .chain(of(&results, "COR106"))
        .filter(|r| r["verdict"] != "error")
    {
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(
            has_case(r, "intact-wrong-extension", "validate", "exit 0"),
            "{r}"
        );
    }
    for model in ["tiny-llama", "tiny-qwen2"] {
        let at = |check: &str| {
            of(&results, check)
                .into_iter()
                .find(|r| r["model"] == model)
                .unwrap()
                .clone()
        };
        // One key more than the GGUF holds: apr run allocates without bound and crashes.
        let r = at("COR103");
        assert!(crashed(&r, "kv-count-one-too-many", "run"), "{r}");
        // A flipped tensor count does the same; a flipped version passes all but run.
        let r = at("COR104");
        assert!(crashed(&r, "flipped-tensor-count", "run"), "{r}");
        assert!(
            has_case(&r, "flipped-version", "validate", "accepted it"),
            "{r}"
        );
    }
}

#[test]
fn contract_suite_finds_the_gguf_hex_header_and_the_quantized_panics() {
    let (code, results, _) = run(&repo_root(), &["--filter", "suite=contract"]);
    assert_eq!(code, 1);
    // 17 checks per model, and `list` once.
    assert_eq!(results.len(), 17 * 3 + 1);
    assert_well_formed(&results);
    for r in &results {
        let check = r["code"].as_str().unwrap();
        let expected = match (check, r["model"].as_str()) {
            // A human summary precedes the JSON array on a GGUF (tiny-gpt2 has no GGUF).
            ("CTR009", Some("tiny-llama" | "tiny-qwen2")) => "fail",
            // bench and eval panic (exit 101) on every int8/int4 .apr.
            ("CTR011" | "CTR015", _) => "fail",
            _ => "pass",
        };
        assert_eq!(r["verdict"], expected, "{r}");
    }
    for r in of(&results, "CTR009")
        .into_iter()
        .filter(|r| r["verdict"] == "fail")
    {
        assert!(
            message(r).contains("gguf-f32: stdout is not exactly one JSON document"),
            "{r}"
        );
    }
    for r in of(&results, "CTR011")
        .into_iter()
        .chain(of(&results, "CTR015"))
    {
        assert!(message(r).contains("apr-int8: panicked (exit 101)"), "{r}");
        assert!(message(r).contains("apr-int4: panicked (exit 101)"), "{r}");
    }
    for r in of(&results, "CTR005") {
        assert!(message(r).contains("exits 0 by design"), "{r}");
    }
    // GPT-2's GGUF export fails: no document, the reason on stderr, which the contract allows.
    let gpt2_export = of(&results, "CTR018")
        .into_iter()
        .find(|r| r["model"] == "tiny-gpt2")
        .unwrap();
    assert!(
        message(gpt2_export).contains("exit 5, no document"),
        "{gpt2_export}"
    );
}

/// A project folder that shares the repository's models, oracles and prompts, with the
/// repository's configuration narrowed to tiny-qwen2 plus `extra` models and profile.
fn project(extra: &str, profile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let config = common::default_profile_models(
        &std::fs::read_to_string(repo_root().join("suites.toml")).unwrap(),
        &["tiny-qwen2"],
    )
    .replace("profile = \"default\"", &format!("profile = \"{profile}\""));
    std::fs::write(dir.path().join("suites.toml"), format!("{config}\n{extra}")).unwrap();
    dir
}

/// The path `tmgt prepare` reports for one of tiny-qwen2's artifacts.
fn prepared(dir: &Path, artifact: &str) -> PathBuf {
    let out = tmgt(dir, &["prepare"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains(&format!("tiny-qwen2/{artifact} ")))
        .unwrap_or_else(|| panic!("{stderr}"));
    PathBuf::from(line.split_whitespace().last().unwrap())
}

#[test]
fn contract_checks_fail_on_files_that_make_apr_break_its_contract() {
    let dir = project("", "default");
    let scratch = tempfile::tempdir().unwrap();
    // Its largest float32 tensor all NaN: validate exits 5 while its document says VALID.
    let apr = prepared(dir.path(), "apr-f32");
    let nan = scratch.path().join("given-nan.apr");
    let mut bytes = std::fs::read(&apr).unwrap();
    let layout = Layout::read(&apr).unwrap();
    let tensor = layout.largest_f32().unwrap();
    let range = tensor.bytes.start as usize..tensor.bytes.end as usize;
    for chunk in bytes[range].chunks_exact_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    std::fs::write(&nan, bytes).unwrap();
    // Its tensor count 27 -> 151 (byte 8 XOR 0x8c): apr run reads tensor entries out of the
    // metadata and allocates without bound (an abort or a panic, by what the bytes say).
    let gguf = prepared(dir.path(), "gguf-f32");
    let flipped = scratch.path().join("given-flipped.gguf");
    let mut bytes = std::fs::read(&gguf).unwrap();
    bytes[8] ^= 0x8c;
    std::fs::write(&flipped, bytes).unwrap();
    let models = format!(
        "[models.nan]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\nquants = [\"f32\"]\nppl_ceiling = 450.0\nartifact = \"{}\"\n\
         [models.flipped]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\nquants = []\nppl_ceiling = 450.0\nartifact = \"{}\"\n\
         [profiles.given]\nmodels = [\"nan\", \"flipped\"]\n",
        nan.display(),
        flipped.display()
    );
    let dir = project(&models, "given");
    let (code, report) = run_report(dir.path(), &["--filter", "suite=contract"]);
    let results = report["results"].as_array().unwrap().clone();
    assert_eq!(code, 1);
    assert_well_formed(&results);
    let at = |check: &str, model: &str| {
        of(&results, check)
            .into_iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("no {check} for {model}"))
            .clone()
    };
    let r = at("CTR002", "nan");
    assert_eq!(r["verdict"], "fail", "{r}");
    assert!(
        message(&r).contains("exit 5 contradicts verdict=\"VALID\""),
        "{r}"
    );
    let r = at("CTR014", "flipped");
    assert_eq!(r["verdict"], "fail", "{r}");
    assert!(
        message(&r).contains("gguf-f32: killed by signal 6")
            || message(&r).contains("gguf-f32: panicked"),
        "{r}"
    );
    // The other commands refuse the flipped GGUF cleanly: an error on stderr, no document.
    let r = at("CTR001", "flipped");
    assert_eq!(r["verdict"], "pass", "{r}");
    assert!(
        message(&r).contains("no document, the reason on stderr"),
        "{r}"
    );
    // Checks that need artifacts a given file does not provide are no results; the report
    // lists them with why.
    for (check, model, why) in [
        ("CTR006", "nan", "nan lists no int8 level in its entry"),
        ("CTR018", "flipped", "is checked as given"),
    ] {
        assert!(
            !results
                .iter()
                .any(|r| r["code"] == check && r["model"] == model),
            "{check} {model}"
        );
        let outside = report["outside_entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| {
                let id = o["id"].as_str().unwrap();
                id.starts_with(&format!("{check}/")) && id.ends_with(&format!("/{model}"))
            })
            .unwrap_or_else(|| panic!("{check} {model} is not outside its entry"));
        assert!(
            outside["reason"].as_str().unwrap().contains(why),
            "{outside}"
        );
    }
}

#[test]
fn every_check_of_both_suites_fails_when_apr_hides_its_verdict_behind_log_lines_and_exit_0() {
    let dir = project("", "default");
    let wrapper = dir.path().join("apr-log-line-exit-0");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# The real apr, with a log line before its output and its exit status dropped.\n\
             echo 'INFO loading model'\n{} \"$@\"\nexit 0\n",
            real_apr().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let apr_arg = wrapper.display().to_string();
    let (code, results, _) = run(
        dir.path(),
        &[
            "--apr",
            &apr_arg,
            "--filter",
            "suite=corruption",
            "--filter",
            "suite=contract",
        ],
    );
    assert_eq!(code, 1);
    // tiny-qwen2 alone: 8 families on 3 `.apr` and 1 GGUF; 17 contract checks and `list`.
    assert_eq!(results.len(), 8 * 3 + 8 + 17 + 1);
    assert_well_formed(&results);
    for r in &results {
        assert_eq!(r["verdict"], "fail", "{r}");
        let expected = if r["code"].as_str().unwrap().starts_with("COR") {
            // NaN/Inf data need not be rejected by inspect/tensors/debug/run, only by validate.
            "validate on"
        } else {
            "stdout is not exactly one JSON document"
        };
        assert!(message(r).contains(expected), "{r}");
    }
}
