//! No file takes tmgt down: GGUFs that make llama.cpp abort, refuse or misread, and that
//! tmgt's own readers must survive, handed to a run as models' ready-made artifacts. Each
//! run must write its report with every instance of the matrix in it, each a verdict or an
//! error that names its fault, and leave no process behind.

use crate::common::{
    interrupt_once_running, link_repository_data, processes_named, real_apr, repo_root,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmgt_gguf::{GgmlType, GgufFile, TensorInfo, Value as G};

/// The suites that read a ready-made GGUF with llama.cpp (cross-runtime, tokenizer,
/// metadata) or with tmgt's own readers (metadata, tensors, inspect), beside apr.
const SUITES: &str = "suite=cross-runtime|tokenizer|metadata";
const READER_SUITES: &str = "suite=cross-runtime|tokenizer|metadata|tensors|inspect";

fn entry(name: &str, artifact: &Path) -> String {
    format!(
        "\n[models.{name}]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/tiny-qwen2\"\n\
         quants = [\"f32\"]\nppl_ceiling = 450.0\nartifact = \"{}\"\n",
        artifact.display()
    )
}

/// A project folder whose `faults` profile runs `files` (name, path) as models. (A damaged
/// HF source folder never reaches a reader: the oracles' recorded hashes refuse it before
/// the run starts.)
fn project(files: &[(String, PathBuf)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    for (name, path) in files {
        config += &entry(name, path);
    }
    let names: Vec<String> = files.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    config += &format!("\n[profiles.faults]\nmodels = [{}]\n", names.join(", "));
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    dir
}

/// Runs the `faults` profile in `dir` with every process tmgt starts tagged, and returns
/// the exit code, the report and the tagged processes still alive afterwards.
fn run_tagged(dir: &Path, filter: &str) -> (i32, Value, Vec<String>) {
    let tag = format!("tmgt-fault-run-{}", std::process::id());
    let out = dir.join("out");
    let out_arg = out.display().to_string();
    let output = tmgt_in_tagged(
        dir,
        &tag,
        &[
            "run",
            "--out",
            &out_arg,
            "--no-known-issues",
            "--profile",
            "faults",
            "--filter",
            filter,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.join("report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        report,
        processes_tagged(&tag),
    )
}

fn tmgt_in_tagged(dir: &Path, tag: &str, args: &[&str]) -> std::process::Output {
    // The tag travels in the environment every process tmgt starts inherits.
    Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(args)
        .current_dir(dir)
        .env("TMGT_APR", real_apr())
        .env("NO_COLOR", "1")
        .env("TMGT_FAULT_RUN_TAG", tag)
        .output()
        .unwrap()
}

/// Live processes whose environment carries `tag`, as `pid command`.
fn processes_tagged(tag: &str) -> Vec<String> {
    let needle = format!("TMGT_FAULT_RUN_TAG={tag}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .filter(|pid| {
            // A zombie has ended.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
                == Some(true)
        })
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!("{pid} {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect()
}

/// Every instance the matrix planned is in the report, each with a verdict or an error
/// that says something.
fn assert_complete(report: &Value) {
    assert_eq!(report["interrupted"], false);
    let results = report["results"].as_array().unwrap();
    let summary = &report["summary"];
    assert_eq!(
        summary["not_run"], 0,
        "every instance has its result: {summary}"
    );
    assert!(!results.is_empty());
    for r in results {
        let verdict = r["verdict"].as_str().unwrap_or_default();
        assert!(
            ["pass", "fail", "skip", "error"].contains(&verdict),
            "no verdict or error: {r}"
        );
        assert!(
            !r["message"].as_str().unwrap_or_default().trim().is_empty(),
            "a result that says nothing: {r}"
        );
    }
}

fn native(model: &str) -> GgufFile {
    GgufFile::open(&repo_root().join("native").join(model).join("f32.gguf")).unwrap()
}

/// Sets `key` to `value`, adding it where the file leaves it to llama.cpp's default.
fn set(metadata: &mut Vec<(String, G)>, key: &str, value: G) {
    metadata.retain(|(k, _)| k != key);
    metadata.push((key.to_string(), value));
}

#[test]
fn a_file_that_makes_llama_cpp_abort_costs_only_the_results_that_needed_it() {
    let files = tempfile::tempdir().unwrap();
    let faithful = files.path().join("faithful.gguf");
    std::fs::copy(native("tiny-qwen2").path(), &faithful).unwrap();
    let rope = files.path().join("rope-dimension-8.gguf");
    tmgt_gguf::copy_with_metadata(&native("tiny-qwen2"), &rope, |m| {
        set(m, "qwen2.rope.dimension_count", G::U32(8));
    })
    .unwrap();
    let dir = project(&[
        ("qwen2-faithful".into(), faithful),
        ("qwen2-rope8".into(), rope.clone()),
    ]);
    let (code, report, left) = run_tagged(dir.path(), SUITES);
    assert!(left.is_empty(), "processes outlived tmgt: {left:?}");
    assert_complete(&report);
    assert_eq!(code, 1, "the abort's results are errors");
    let results = report["results"].as_array().unwrap();
    let aborted: Vec<&Value> = results
        .iter()
        .filter(|r| r["error_class"] == "runtime-fault")
        .collect();
    assert!(!aborted.is_empty(), "no result names llama.cpp's abort");
    for r in &aborted {
        assert_eq!(r["model"], "qwen2-rope8", "{r}");
        let message = r["message"].as_str().unwrap();
        assert!(
            message.contains("GGML_ASSERT(n_embd_head == n_rot) failed"),
            "{message}"
        );
        assert!(message.contains(&rope.display().to_string()), "{message}");
        assert!(message.contains("reproduce with: printf"), "{message}");
    }
    // The faithful file's results are all verdicts: the abort cost nothing beside its own.
    let faithful_errors: Vec<&Value> = results
        .iter()
        .filter(|r| r["model"] == "qwen2-faithful" && r["verdict"] == "error")
        .collect();
    assert!(faithful_errors.is_empty(), "{faithful_errors:?}");
    assert!(report["harness"]["runtime_faults"].as_u64().unwrap() >= 1);
}

/// The damaged files: the corruption suite's copies of a native GGUF, and copies whose
/// metadata or tensor index contradicts the tensors.
fn damaged_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for model in ["tiny-qwen2", "tiny-llama"] {
        let original = native(model);
        for label in checks_structure::damaged_copy_labels(original.path()).unwrap() {
            let out = dir.join(format!("{model}-{label}.gguf"));
            checks_structure::remake_damaged_copy(original.path(), &label, &out).unwrap();
            files.push((format!("{model}-{label}"), out));
        }
    }
    let arch = |m: &str| if m == "tiny-qwen2" { "qwen2" } else { "llama" };
    type MetaEdit = (&'static str, &'static str, G);
    let metadata_edits: Vec<MetaEdit> = vec![
        ("rope-dim-0", "rope.dimension_count", G::U32(0)),
        ("rope-dim-8", "rope.dimension_count", G::U32(8)),
        ("rope-dim-4096", "rope.dimension_count", G::U32(4096)),
        ("heads-0", "attention.head_count", G::U32(0)),
        ("heads-3", "attention.head_count", G::U32(3)),
        ("heads-64", "attention.head_count", G::U32(64)),
        ("kv-heads-0", "attention.head_count_kv", G::U32(0)),
        ("kv-heads-3", "attention.head_count_kv", G::U32(3)),
        ("context-0", "context_length", G::U32(0)),
        ("context-1", "context_length", G::U32(1)),
        ("embedding-32", "embedding_length", G::U32(32)),
        ("embedding-0", "embedding_length", G::U32(0)),
        ("blocks-0", "block_count", G::U32(0)),
        ("blocks-3", "block_count", G::U32(3)),
        ("blocks-1000", "block_count", G::U32(1000)),
        ("ffn-1", "feed_forward_length", G::U32(1)),
        (
            "eps-string",
            "attention.layer_norm_rms_epsilon",
            G::String("x".into()),
        ),
    ];
    for model in ["tiny-qwen2", "tiny-llama"] {
        let original = native(model);
        for (label, key, value) in &metadata_edits {
            let out = dir.join(format!("{model}-{label}.gguf"));
            let key = format!("{}.{key}", arch(model));
            tmgt_gguf::copy_with_metadata(&original, &out, |m| set(m, &key, value.clone()))
                .unwrap();
            files.push((format!("{model}-{label}"), out));
        }
    }
    type IndexEdit = (
        &'static str,
        fn(&mut Vec<(String, G)>, &mut Vec<TensorInfo>),
    );
    let index_edits: [IndexEdit; 14] = [
        ("vocab-100", |m, _| {
            if let Some((_, G::Array(tokens))) =
                m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens")
            {
                tokens.truncate(100);
            }
        }),
        ("vocab-empty", |m, _| {
            if let Some((_, G::Array(tokens))) =
                m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens")
            {
                tokens.clear();
            }
        }),
        ("token-types-short", |m, _| {
            if let Some((_, G::Array(types))) =
                m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.token_type")
            {
                types.truncate(7);
            }
        }),
        ("bos-out-of-vocab", |m, _| {
            m.push(("tokenizer.ggml.bos_token_id".into(), G::U32(1_000_000)));
            m.push(("tokenizer.ggml.add_bos_token".into(), G::Bool(true)));
        }),
        ("eos-out-of-vocab", |m, _| {
            m.retain(|(k, _)| k != "tokenizer.ggml.eos_token_id");
            m.push(("tokenizer.ggml.eos_token_id".into(), G::U32(u32::MAX)));
        }),
        ("tokenizer-model-unknown", |m, _| {
            set(
                m,
                "tokenizer.ggml.model",
                G::String("no-such-tokenizer".into()),
            );
        }),
        ("embedding-rows-halved", |_, t| {
            let e = t
                .iter_mut()
                .find(|t| t.name == "token_embd.weight")
                .unwrap();
            e.dims[1] /= 2;
        }),
        ("output-norm-wide", |_, t| {
            let e = t
                .iter_mut()
                .find(|t| t.name == "output_norm.weight")
                .unwrap();
            e.dims[0] *= 4;
        }),
        ("attn-q-transposed", |_, t| {
            let e = t
                .iter_mut()
                .find(|t| t.name == "blk.0.attn_q.weight")
                .unwrap();
            e.dims.swap(0, 1);
            e.dims[0] += 1;
        }),
        ("type-f16", |_, t| {
            let e = t
                .iter_mut()
                .find(|t| t.name == "blk.0.ffn_up.weight")
                .unwrap();
            e.kind = GgmlType::F16;
        }),
        ("type-q8-0", |_, t| {
            let e = t
                .iter_mut()
                .find(|t| t.name == "blk.1.ffn_down.weight")
                .unwrap();
            e.kind = GgmlType::Q8_0;
        }),
        ("offset-past-end", |_, t| {
            let last = t.iter_mut().max_by_key(|t| t.offset).unwrap();
            last.offset += 1 << 30;
        }),
        ("offset-misaligned", |_, t| {
            t[1].offset += 1;
        }),
        ("tensor-missing", |_, t| {
            t.retain(|t| t.name != "blk.1.attn_v.weight");
        }),
    ];
    for model in ["tiny-qwen2", "tiny-llama"] {
        let original = native(model);
        for (label, edit) in &index_edits {
            let out = dir.join(format!("{model}-{label}.gguf"));
            tmgt_gguf::copy_with_index(&original, &out, edit).unwrap();
            files.push((format!("{model}-{label}"), out));
        }
    }
    files
}

/// apr's f32 `.apr` of `model`, made (or found) by a run at the repository root.
fn apr_f32(model: &str) -> PathBuf {
    let (_, made) = crate::common::run_report(
        &repo_root(),
        &["--filter", &format!("MET001 model={model}")],
    );
    let files = made["results"][0]["details"]["files"].as_array().unwrap();
    files
        .iter()
        .filter_map(Value::as_str)
        .find(|f| f.ends_with(".apr"))
        .map(PathBuf::from)
        .unwrap()
}

/// The corruption suite's damaged copies of apr's f32 `.apr`, for tmgt's `.apr` reader.
fn damaged_apr_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let original = apr_f32("tiny-qwen2");
    checks_structure::damaged_copy_labels(&original)
        .unwrap()
        .into_iter()
        .map(|label| {
            let out = dir.join(format!("apr-{label}.apr"));
            checks_structure::remake_damaged_copy(&original, &label, &out).unwrap();
            (format!("apr-{label}"), out)
        })
        .collect()
}

#[test]
fn no_damaged_file_takes_the_run_down() {
    let files = tempfile::tempdir().unwrap();
    let mut damaged = damaged_files(files.path());
    let gguf_count = damaged.len();
    damaged.extend(damaged_apr_files(files.path()));
    assert!(gguf_count >= 50, "{gguf_count} damaged GGUFs");
    let dir = project(&damaged);
    let (code, report, left) = run_tagged(dir.path(), READER_SUITES);
    assert!(left.is_empty(), "processes outlived tmgt: {left:?}");
    assert_complete(&report);
    assert!(code == 0 || code == 1, "exit {code}");
    let results = report["results"].as_array().unwrap();
    for (name, _) in &damaged {
        assert!(
            results.iter().any(|r| r["model"] == name.as_str()),
            "no result for {name}"
        );
    }
    for r in results.iter().filter(|r| r["verdict"] == "error") {
        assert_ne!(r["error_class"], "harness-panic", "a reader panicked: {r}");
    }
    // llama.cpp aborted on some of them, and those results say so.
    let aborted = results
        .iter()
        .filter(|r| r["error_class"] == "runtime-fault")
        .count();
    assert!(aborted > 0, "no damaged file made llama.cpp fail");
    assert!(report["harness"]["runtime_faults"].as_u64().unwrap() > 0);
}

/// A project running the repository's configuration with `[timeouts] llamacpp` set, whose
/// llama.cpp worker is the scripted fake misbehaving as `fault`.
fn fake_worker_run(fault: &str, llamacpp_timeout_s: u64) -> (tempfile::TempDir, Command, String) {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let config = std::fs::read_to_string(repo_root().join("suites.toml"))
        .unwrap()
        .replace("llamacpp = 60", &format!("llamacpp = {llamacpp_timeout_s}"));
    // No ladder: its rungs are made by the worker before anything runs.
    let config = crate::common::without_ladders(&config);
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    let marker = format!("tmgt-fake-llama-{fault}-{}", std::process::id());
    let out = dir.path().join("out").display().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tmgt"));
    cmd.args(["run", "--out", &out, "--no-known-issues", "--filter"])
        .arg("suite=cross-runtime model=tiny-qwen2")
        .current_dir(dir.path())
        .env("TMGT_APR", real_apr())
        .env("NO_COLOR", "1")
        .env("TMGT_LLAMA_WORKER", fake_worker())
        .env("FAKE_LLAMA_FAULT", fault)
        .env("FAKE_LLAMA_MARKER", &marker);
    (dir, cmd, marker)
}

/// FAULT INJECTION ONLY: a stand-in worker that greets, then hangs, aborts or answers garbage.
fn fake_worker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault-injection/llama-worker")
}

fn report_in(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).expect("report.json"))
        .unwrap()
}

#[test]
fn a_hanging_llama_cpp_is_killed_at_its_limit_and_each_result_that_needed_it_says_so() {
    let (dir, mut cmd, marker) = fake_worker_run("hang", 2);
    let started = Instant::now();
    let output = cmd.output().unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        processes_named(&marker).is_empty(),
        "a hung worker outlived tmgt"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(120), "took {took:?}\n{stderr}");
    let report = report_in(dir.path());
    assert_complete(&report);
    let timed_out: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error_class"] == "timeout")
        .collect();
    assert!(!timed_out.is_empty(), "{stderr}");
    for r in timed_out {
        let message = r["message"].as_str().unwrap();
        assert!(message.contains("did not finish"), "{message}");
        assert!(message.contains("[timeouts].llamacpp"), "{message}");
    }
}

#[test]
fn a_worker_that_answers_garbage_is_a_runtime_fault_not_a_crash_of_tmgt() {
    let (dir, mut cmd, _) = fake_worker_run("garbage", 60);
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = report_in(dir.path());
    assert_complete(&report);
    let garbled = report["results"].as_array().unwrap().iter().any(|r| {
        r["error_class"] == "runtime-fault"
            && r["message"]
                .as_str()
                .unwrap()
                .contains("broke the protocol")
    });
    assert!(garbled, "{stderr}");
}

#[test]
fn sigint_ends_a_busy_llama_worker_with_tmgt() {
    let (dir, mut cmd, marker) = fake_worker_run("hang", 300);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, took) = interrupt_once_running(&mut child, &marker);
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert_eq!(status.code(), Some(3), "an interrupted run exits 3");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        processes_named(&marker).is_empty(),
        "the worker outlived the interruption"
    );
    assert_eq!(report_in(dir.path())["interrupted"], true);
}
