//! A synthetic run: every verdict, a token divergence seen on two prompts, a tie-flip, a
//! harness error naming the apr call that failed, a global check, and a ledger with an
//! expected failure, a fixed one and a stale entry. Paths are made up.
#![allow(dead_code)]

pub mod browser;

use serde_json::json;
use tmgt_outcome::ErrorClass;
use tmgt_report::{
    AprInfo, CallInput, CallOutput, CallRecord, EvidenceRecord, Ledger, Report, ReportVerdict,
    ResultRecord, SCHEMA, Summary, UsedInvocation,
};

const ROOT: &str = "/srv/tmgt";

/// The words of a fixture's shell line (single quotes only, as the fixtures use).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => out.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            c => word.push(c),
        }
    }
    out.extend((!word.is_empty()).then_some(word));
    out
}

/// A call as the engine records it: the file after `-o` is its output (written as
/// `x.partial-4242.apr` and kept as `x.apr`), every other absolute path an input.
fn call(id: usize, command: &str, exit: Option<i32>, ms: u64) -> CallRecord {
    let command = command.replace("$ROOT", ROOT);
    let argv: Vec<String> = words(&command).into_iter().skip(1).collect();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 && argv[i - 1] == "-o" {
            let kept = arg.replace(".partial-4242", "");
            outputs.push(CallOutput {
                path: arg.clone(),
                kept_as: (kept != *arg).then_some(kept),
            });
        } else if arg.starts_with('/') {
            inputs.push(CallInput {
                path: arg.clone(),
                made_by: None,
            });
        }
    }
    CallRecord {
        id,
        subcommand: argv.first().cloned().unwrap_or_default(),
        command,
        argv,
        workdir: None,
        inputs,
        outputs,
        reuses: 0,
        exit_code: exit,
        termination: if exit.is_some() {
            "exited"
        } else {
            "timed-out"
        }
        .into(),
        duration_ms: ms,
        stdout_bytes: 100,
        stderr_bytes: 0,
    }
}

/// Each input's maker: the last earlier call that wrote it, as the engine records it.
fn link_makers(calls: &mut [CallRecord]) {
    for i in 0..calls.len() {
        let (earlier, rest) = calls.split_at_mut(i);
        for input in &mut rest[0].inputs {
            input.made_by = earlier
                .iter()
                .rev()
                .find(|c| c.outputs.iter().any(|o| o.final_path() == input.path))
                .map(|c| c.id);
        }
    }
}

fn used(c: &CallRecord, reused: bool) -> UsedInvocation {
    UsedInvocation {
        id: c.id,
        reused,
        blocked: false,
    }
}

/// The failed call that left an artifact a result needed unavailable.
fn blocking(c: &CallRecord) -> UsedInvocation {
    UsedInvocation {
        id: c.id,
        reused: true,
        blocked: true,
    }
}

#[allow(clippy::too_many_arguments)]
fn result(
    code: &str,
    check: &str,
    suite: &str,
    model: Option<&str>,
    quant: Option<&str>,
    prompt: Option<&str>,
    verdict: ReportVerdict,
    message: &str,
    calls: Vec<UsedInvocation>,
    details: serde_json::Value,
) -> ResultRecord {
    let mut id = format!("{code}/{check}");
    let mut filter = format!("check={check}");
    for (key, v) in [("model", model), ("quant", quant), ("prompt", prompt)] {
        if let Some(v) = v {
            id.push('/');
            id.push_str(v);
            filter.push_str(&format!(" {key}={v}"));
        }
    }
    ResultRecord {
        id,
        code: code.into(),
        check: check.into(),
        suite: suite.into(),
        scope: if model.is_none() {
            "global"
        } else {
            "instance"
        }
        .into(),
        model: model.map(Into::into),
        quant: quant.map(Into::into),
        prompt: prompt.map(Into::into),
        verdict,
        message: message.into(),
        error_class: (verdict == ReportVerdict::Error).then_some(ErrorClass::ArtifactUnavailable),
        blocked_by: None,
        evidence: EvidenceRecord {
            count: if verdict == ReportVerdict::Error {
                0
            } else {
                32
            },
            unit: "tokens".into(),
        },
        duration_ms: 120,
        invocations: calls,
        requests: Vec::new(),
        rerun_filter: filter,
        details: serde_json::from_value(details).expect("details of a known kind"),
        known_issue: None,
    }
}

fn diverging(oracle: &[u32], apr: &[u32], at: usize, kind: &str, margin: f64) -> serde_json::Value {
    let start = at.saturating_sub(3);
    let end = (at + 4).min(oracle.len());
    let margins: Vec<f64> = (start..end)
        .map(|i| {
            if i == at {
                margin
            } else {
                3.0 + i as f64 / 4.0
            }
        })
        .collect();
    json!({
        "comparison": {
            "expected_len": oracle.len(), "actual_len": apr.len(),
            "mismatches": oracle.iter().zip(apr).filter(|(a, b)| a != b).count(),
            "first_divergence": at
        },
        "classification": { "kind": kind, "step": at, "margin": margin },
        "window": {
            "start": start,
            "expected": &oracle[start..end],
            "actual": &apr[start..end.min(apr.len())],
            "margins": margins
        },
        "kind": "tokens",
        "oracle": oracle,
        "runtime": "apr",
        "tokens": apr,
        "text": "def add(a, b):\n    return a - b <|end|>"
    })
}

/// The run as the runner records it, before the ledger.
pub fn raw_report() -> Report {
    let import_llama = call(
        1,
        "apr import $ROOT/models/tiny-llama -o $ROOT/.tmgt/artifacts/tiny-llama/tiny-llama-apr-int4-0123456789abcdef.partial-4242.apr --quantize int4",
        Some(0),
        900,
    );
    let export_llama = call(
        2,
        "apr export $ROOT/.tmgt/artifacts/tiny-llama/tiny-llama-apr-f32-fedcba9876543210.apr --format gguf -o $ROOT/.tmgt/artifacts/tiny-llama/tiny-llama-gguf-f32-00aa00aa00aa00aa.partial-4242.gguf",
        Some(5),
        300,
    );
    let run_llama_code = call(
        3,
        "apr run $ROOT/.tmgt/artifacts/tiny-llama/tiny-llama-apr-int4-0123456789abcdef.apr --prompt 'def add(a, b):' --max-tokens 12 --json",
        Some(0),
        450,
    );
    let run_llama_greeting = call(
        4,
        "apr run $ROOT/.tmgt/artifacts/tiny-llama/tiny-llama-apr-int4-0123456789abcdef.apr --prompt 'Hello, my name is' --max-tokens 12 --json",
        Some(0),
        440,
    );
    let run_qwen = call(
        5,
        "apr run $ROOT/.tmgt/artifacts/tiny-qwen2/tiny-qwen2-apr-int8-1111222233334444.apr --prompt 'def add(a, b):' --max-tokens 12 --json",
        Some(0),
        400,
    );
    let run_qwen4 = call(
        6,
        "apr run $ROOT/.tmgt/artifacts/tiny-qwen2/tiny-qwen2-apr-int4-5555666677778888.apr --prompt 'def add(a, b):' --max-tokens 12 --json",
        Some(0),
        410,
    );
    let inspect = call(
        7,
        "apr inspect $ROOT/.tmgt/artifacts/tiny-qwen2/tiny-qwen2-apr-int8-1111222233334444.apr --json",
        Some(0),
        50,
    );
    let list = call(8, "apr list --json", Some(0), 20);
    let oracle: Vec<u32> = vec![11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22];
    let mut llama = oracle.clone();
    for (i, t) in llama.iter_mut().enumerate().skip(5) {
        *t = 90 + i as u32;
    }
    let mut qwen4 = oracle.clone();
    qwen4[2] = 77;
    qwen4[3] = 78;
    let exact = json!({
        "kind": "tokens",
        "comparison": { "expected_len": 12, "actual_len": 12, "mismatches": 0, "first_divergence": null },
        "oracle": oracle, "runtime": "apr", "tokens": oracle
    });
    let v = ReportVerdict::Pass;
    let results = vec![
        result(
            "PRE001",
            "import-failed",
            "prepare",
            Some("tiny-llama"),
            Some("int4"),
            None,
            v,
            "apr import at int4 wrote tiny-llama-apr-int4-0123456789abcdef.apr (2.1 MB)",
            vec![used(&import_llama, false)],
            serde_json::Value::Null,
        ),
        result(
            "PRE002",
            "gguf-export-failed",
            "prepare",
            Some("tiny-llama"),
            None,
            None,
            ReportVerdict::Fail,
            "`apr export` to GGUF exited 5 (call #2): error: tensor rows not divisible by 256",
            vec![used(&export_llama, false)],
            serde_json::Value::Null,
        ),
        result(
            "TOK001",
            "token-mismatch",
            "token",
            Some("tiny-llama"),
            Some("int4"),
            Some("code"),
            ReportVerdict::Fail,
            "int4 vs oracle: divergence at step 5 (oracle margin 2.100 logits); 6 of 12 positions differ after it, 7 mismatches (allowed 5); steps 2..: oracle [13, 14, 15, 16, 17, 18, 19] / apr [13, 14, 15, 95, 96, 97, 98].",
            vec![used(&import_llama, true), used(&run_llama_code, false)],
            diverging(&oracle, &llama, 5, "divergence", 2.1),
        ),
        result(
            "TOK001",
            "token-mismatch",
            "token",
            Some("tiny-llama"),
            Some("int4"),
            Some("greeting"),
            ReportVerdict::Fail,
            "int4 vs oracle: divergence at step 5 (oracle margin 1.800 logits); 7 mismatches (allowed 5).",
            vec![used(&import_llama, true), used(&run_llama_greeting, false)],
            diverging(&oracle, &llama, 5, "divergence", 1.8),
        ),
        result(
            "TOK001",
            "token-mismatch",
            "token",
            Some("tiny-qwen2"),
            Some("int8"),
            Some("code"),
            v,
            "int8 vs oracle: all 12 tokens equal the oracle's",
            vec![used(&run_qwen, false)],
            exact.clone(),
        ),
        result(
            "TOK001",
            "token-mismatch",
            "token",
            Some("tiny-qwen2"),
            Some("int4"),
            Some("code"),
            ReportVerdict::Fail,
            "int4 vs oracle: divergence at step 2 (oracle margin 0.900 logits); 2 mismatches... (allowed 1).",
            vec![used(&run_qwen4, false)],
            diverging(&oracle, &qwen4, 2, "divergence", 0.9),
        ),
        result(
            "RUN002",
            "gguf-runtime-diverges",
            "runtime",
            Some("tiny-llama"),
            Some("f32"),
            Some("code"),
            ReportVerdict::Error,
            "artifact tiny-llama/gguf-f32 unavailable: `apr export ...` failed (exit 5, call #2): error: tensor rows not divisible by 256",
            vec![blocking(&export_llama)],
            serde_json::Value::Null,
        ),
        result(
            "RUN001",
            "apr-runtime-diverges",
            "runtime",
            Some("tiny-qwen2"),
            Some("f32"),
            Some("code"),
            v,
            "f32 .apr: all 12 tokens equal the oracle's; largest log-prob difference 2e-6",
            vec![used(&run_qwen, true)],
            exact,
        ),
        result(
            "INS001",
            "inspect-metadata-wrong",
            "inspect",
            Some("tiny-qwen2"),
            Some("int8"),
            None,
            ReportVerdict::Skip,
            "apr inspect reports no architecture for this format <skipped>",
            vec![used(&inspect, false)],
            serde_json::Value::Null,
        ),
        result(
            "LST001",
            "list-misses-cache",
            "list",
            None,
            None,
            None,
            v,
            "apr list shows the 0 cached models | nothing to compare",
            vec![used(&list, false)],
            serde_json::Value::Null,
        ),
    ];
    let invocations = vec![
        import_llama,
        export_llama,
        run_llama_code,
        run_llama_greeting,
        run_qwen,
        run_qwen4,
        inspect,
        list,
    ];
    let summary = Summary::of(&results, results.len(), invocations.len());
    // Built from JSON so fields other reports add (all optional) need no change here.
    let mut report: Report = serde_json::from_value(json!({
        "schema": SCHEMA,
        "tool": { "name": "tmgt", "version": "0.1.0" },
        "apr": AprInfo {
            binary: "/usr/local/bin/apr".into(),
            binary_sha256: "ab".repeat(32),
            version: "0.72.3".into(),
            git_sha: "0123abcd4567ef89".into(),
            pinned_version: "0.72.3".into(),
            cuda_feature: false,
            cuda_runtime_available: false,
        },
        "config": {
            "file": "suites.toml",
            "profile": "default",
            "artifacts_dir": format!("{ROOT}/.tmgt/artifacts"),
            "out_dir": format!("{ROOT}/tmgt-out"),
            "eval_text": format!("{ROOT}/prompts/eval-text.txt"),
            "suites": ["prepare", "prompt", "runtime", "token", "inspect", "list"],
            "models": [
                { "name": "tiny-llama", "source": { "kind": "local", "dir": format!("{ROOT}/models/tiny-llama") }, "oracle_dir": format!("{ROOT}/oracle/tiny-llama") },
                { "name": "tiny-qwen2", "source": { "kind": "local", "dir": format!("{ROOT}/models/tiny-qwen2") }, "oracle_dir": format!("{ROOT}/oracle/tiny-qwen2") }
            ]
        },
        "started_at": "2025-01-02T03:04:05.678Z",
        "finished_at": "2025-01-02T03:05:06.789Z",
        "interrupted": false,
        "summary": summary,
        "results": [],
        "invocations": [],
        "out_dir": format!("{ROOT}/tmgt-out"),
    }))
    .unwrap();
    report.results = results;
    report.invocations = invocations;
    link_makers(&mut report.invocations);
    report.artifacts = [
        ("tiny-llama/tiny-llama-apr-int4-0123456789abcdef.apr", "11"),
        ("tiny-qwen2/tiny-qwen2-apr-int8-1111222233334444.apr", "22"),
    ]
    .into_iter()
    .map(|(p, h)| (format!("{ROOT}/.tmgt/artifacts/{p}"), h.repeat(32)))
    .collect();
    report
}

pub const LEDGER: &str = r#"
[[issue]]
select = "check=token-mismatch model=tiny-qwen2 quant=int4"
link = "https://github.com/example/apr/issues/1"
reason = "Int4 on Qwen2 drifts at step 2"

[[issue]]
select = "check=RUN001 model=tiny-qwen2"
link = "https://github.com/example/apr/issues/2"
reason = "f32 runtime diverged in 0.72.2"

[[issue]]
select = "check=token-mismatch model=tiny-llama prompt=greeting"
link = "unfiled"
reason = "Int4 LLaMA diverges at step 5; not reported yet"

[[issue]]
select = "check=no-such-check"
link = "https://github.com/example/apr/issues/3"
reason = "renamed since"
"#;

/// The run after the ledger: two xfail (one unfiled), one xpass, one stale entry.
pub fn report() -> Report {
    let mut r = raw_report();
    r.apply_ledger(&Ledger::parse(LEDGER).unwrap(), true);
    r
}

/// The artifact the blocked run fails to import.
pub const BLOCKED_ARTIFACT: &str = "m/apr-int8";

/// A result that could not run because `artifact` was unavailable, as the runner records it.
fn blocked(
    code: &str,
    check: &str,
    suite: &str,
    prompt: Option<&str>,
    artifact: &str,
) -> ResultRecord {
    let mut r = result(
        code,
        check,
        suite,
        Some("m"),
        Some("int8"),
        prompt,
        ReportVerdict::Error,
        &format!(
            "artifact {artifact} unavailable: `apr import ...` failed (exit 1, call #1): error: unsupported tensor dtype BF16"
        ),
        vec![],
        serde_json::Value::Null,
    );
    r.blocked_by = Some(artifact.into());
    r
}

/// A run where apr refused one import: the `prepare` failure, five results it blocked, an
/// unrelated error and a pass. No ledger.
pub fn blocked_report() -> Report {
    let import = call(
        1,
        "apr import $ROOT/models/m -o $ROOT/.tmgt/artifacts/m/m-apr-int8-0123456789abcdef.partial-4242.apr --quantize int8",
        Some(1),
        700,
    );
    let mut unrelated = result(
        "INS001",
        "inspect-metadata-wrong",
        "inspect",
        Some("m"),
        Some("f32"),
        None,
        ReportVerdict::Error,
        "apr inspect timed out after 30 s",
        vec![],
        serde_json::Value::Null,
    );
    unrelated.error_class = Some(ErrorClass::Timeout);
    let results = vec![
        result(
            "PRE001",
            "import-fails",
            "prepare",
            Some("m"),
            Some("f32"),
            None,
            ReportVerdict::Pass,
            "apr-f32: m-apr-f32.apr (4096 bytes)",
            vec![],
            json!({ "kind": "artifact", "artifact": "m/apr-f32" }),
        ),
        blocked(
            "TOK001",
            "token-mismatch",
            "token",
            Some("code"),
            BLOCKED_ARTIFACT,
        ),
        result(
            "PRE001",
            "import-fails",
            "prepare",
            Some("m"),
            Some("int8"),
            None,
            ReportVerdict::Fail,
            "`apr import` exited 1 (call #1): error: unsupported tensor dtype BF16",
            vec![used(&import, false)],
            json!({ "kind": "artifact", "artifact": BLOCKED_ARTIFACT }),
        ),
        blocked(
            "TOK001",
            "token-mismatch",
            "token",
            Some("greeting"),
            BLOCKED_ARTIFACT,
        ),
        unrelated,
        blocked(
            "RUN001",
            "apr-runtime-diverges",
            "runtime",
            Some("code"),
            BLOCKED_ARTIFACT,
        ),
        blocked(
            "INS002",
            "inspect-quant-wrong",
            "inspect",
            None,
            BLOCKED_ARTIFACT,
        ),
        blocked(
            "VAL001",
            "validate-fails",
            "validate",
            None,
            BLOCKED_ARTIFACT,
        ),
    ];
    let mut report = raw_report();
    report.summary = Summary::of(&results, results.len(), 1);
    report.results = results;
    report.invocations = vec![import];
    report.artifacts.clear();
    report
}
