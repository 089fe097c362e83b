//! The operations suites (merge, prune, quantize) through the built `tmgt` against the real
//! apr on the bundled tiny models: what apr 0.72.3 does, and each relation passing on a
//! faithful output and failing on one the test alters.
//!
//! apr 0.72.3 writes no faithful merge and drops the tokenizer from what prune and quantize
//! write, so the faithful outputs come from a wrapper (below) that runs the real apr for every
//! call and replaces only the operation's output file: with what a faithful operation must
//! write (the input itself for a merge of a model with itself or with weights 1 and 0; the
//! int8 import for the int8 quantization; the input carrying apr's own pruned tensors for the
//! pruning) or with that file altered in one tensor.

mod common;
use common::{real_apr, repo_root};

use checks_structure::layout::Layout;
use serde_json::Value;
use std::path::{Path, PathBuf};

const FILTER: &str = "suite=merge|prune|quantize model=tiny-llama";

fn run(dir: &Path, wrapper: Option<&Path>) -> Vec<Value> {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tmgt"));
    cmd.args([
        "run",
        "--out",
        &out_arg,
        "--no-known-issues",
        "--filter",
        FILTER,
    ])
    .current_dir(dir)
    .env("NO_COLOR", "1")
    .env("TMGT_APR", wrapper.map_or_else(real_apr, Path::to_path_buf));
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json"))
            .unwrap_or_else(|e| panic!("no report ({e}): {stderr}")),
    )
    .unwrap();
    assert!(!out.path().join("scratch").exists(), "scratch left");
    report["results"].as_array().unwrap().clone()
}

fn by_code<'a>(results: &'a [Value], code: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no {code}: {results:?}"))
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

#[test]
fn what_apr_0_72_3_does_with_each_operation() {
    let results = run(&repo_root(), None);
    assert_eq!(results.len(), 5, "{results:?}");
    for code in ["MRG001", "MRG002", "MRG003"] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).contains("is not an APR v2 file"), "{r}");
    }
    let q = by_code(&results, "QNT001");
    assert_eq!(q["verdict"], "fail", "{q}");
    assert!(message(q).contains("all 21 tensors byte-identical"), "{q}");
    assert!(message(q).contains("no tokenizer in APR metadata"), "{q}");
    let p = by_code(&results, "PRN001");
    assert_eq!(p["verdict"], "fail", "{p}");
    assert_eq!(p["details"]["counted_zeros"], 168_096, "{p}");
    assert_eq!(p["details"]["reported"]["zero_params"], 168_096, "{p}");
    assert!(
        message(p).starts_with("apr cannot run the pruned model"),
        "{p}"
    );
}

/// The tiny-llama artifacts the wrapper needs: (f32, int8).
fn artifacts() -> (PathBuf, PathBuf) {
    let dir = repo_root().join(".tmgt/artifacts/tiny-llama");
    let find = |kind: &str| {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("tiny-llama-apr-{kind}-")) && name.ends_with(".apr")
            })
            .unwrap_or_else(|| panic!("no {kind} artifact in {}", dir.display()))
    };
    (find("f32"), find("int8"))
}

/// The f32 model with the tensors of apr's own pruning of it, keeping the f32 file's
/// metadata (and so its tokenizer): what a faithful `apr prune` writes.
fn faithful_pruning(f32: &Path, into: &Path) -> PathBuf {
    let pruned = into.join("apr-pruned.apr");
    let status = std::process::Command::new(real_apr())
        .args(["--json", "prune"])
        .arg(f32)
        .args(["--method", "magnitude", "--target-ratio", "0.5", "-o"])
        .arg(&pruned)
        .output()
        .unwrap();
    assert!(status.status.success());
    let (a, b) = (Layout::read(f32).unwrap(), Layout::read(&pruned).unwrap());
    let mut bytes = std::fs::read(f32).unwrap();
    let source = std::fs::read(&pruned).unwrap();
    for t in &a.tensors {
        let p = b.tensors.iter().find(|p| p.name == t.name).unwrap();
        let (s, e) = (t.bytes.start as usize, t.bytes.end as usize);
        bytes[s..e].copy_from_slice(&source[p.bytes.start as usize..p.bytes.end as usize]);
    }
    let faithful = into.join("faithful-pruned.apr");
    std::fs::write(&faithful, bytes).unwrap();
    faithful
}

/// A copy of `from` with one byte of its largest tensor changed.
fn altered(from: &Path, to: &Path) -> PathBuf {
    let layout = Layout::read(from).unwrap();
    let largest = layout
        .tensors
        .iter()
        .max_by_key(|t| t.bytes.end - t.bytes.start)
        .unwrap();
    let mut bytes = std::fs::read(from).unwrap();
    let at = (largest.bytes.start + 5) as usize;
    bytes[at] ^= 0x40;
    std::fs::write(to, bytes).unwrap();
    to.to_path_buf()
}

/// A wrapper around the real apr that replaces a merge's, quantization's or pruning's output
/// file with the file named for it, after the real apr ran (so the reply stays apr's own).
fn wrapper(dir: &Path, merge: &Path, quantize: &Path, prune: &Path) -> PathBuf {
    let script = dir.join("apr");
    std::fs::write(
        &script,
        format!(
            r#"#!/usr/bin/env bash
# FAITHFUL OR ALTERED OUTPUTS ONLY: runs the real apr, then puts the file the test chose at an
# operation's -o path.
out="" prev="" sub=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out="$a"
  case "$a" in --*|-o) ;; *) [ -z "$sub" ] && [ "$prev" != "-o" ] && sub="$a" ;; esac
  prev="$a"
done
"{apr}" "$@"
code=$?
case "$sub" in
  merge) cp "{merge}" "$out" ;;
  quantize) cp "{quantize}" "$out" ;;
  prune) [ -n "$out" ] && cp "{prune}" "$out" ;;
esac
exit $code
"#,
            apr = real_apr().display(),
            merge = merge.display(),
            quantize = quantize.display(),
            prune = prune.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn each_relation_passes_on_a_faithful_output_and_fails_on_an_altered_one() {
    // The artifacts exist once the first run has prepared them.
    run(&repo_root(), None);
    let (f32, int8) = artifacts();
    let tmp = tempfile::tempdir().unwrap();
    let pruned = faithful_pruning(&f32, tmp.path());

    let faithful = wrapper(tmp.path(), &f32, &int8, &pruned);
    let results = run(&repo_root(), Some(&faithful));
    for r in &results {
        assert_eq!(r["verdict"], "pass", "{r}");
        assert!(r["evidence"]["count"].as_u64().unwrap() > 0, "{r}");
    }
    assert_eq!(results.len(), 5);

    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let wrong = wrapper(
        &bad,
        &altered(&f32, &bad.join("merge.apr")),
        &altered(&int8, &bad.join("quantize.apr")),
        &altered_sparsity(&pruned, &bad.join("prune.apr")),
    );
    let results = run(&repo_root(), Some(&wrong));
    for code in ["MRG001", "MRG002", "MRG003", "QNT001"] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).contains("1 of "), "{r}");
        assert!(message(r).contains("first differing byte"), "{r}");
    }
    let p = by_code(&results, "PRN001");
    assert_eq!(p["verdict"], "fail", "{p}");
    assert!(message(p).contains("float32 values are zero"), "{p}");
}

/// The faithful pruning with a thousand of its zeros made 1.0: a sparsity short of the claim.
fn altered_sparsity(from: &Path, to: &Path) -> PathBuf {
    let layout = Layout::read(from).unwrap();
    let mut bytes = std::fs::read(from).unwrap();
    let mut left = 1000;
    for t in layout.tensors.iter().filter(|t| t.is_f32) {
        for at in (t.bytes.start as usize..t.bytes.end as usize).step_by(4) {
            if left > 0 && bytes[at..at + 4] == [0, 0, 0, 0] {
                bytes[at..at + 4].copy_from_slice(&1.0f32.to_le_bytes());
                left -= 1;
            }
        }
    }
    std::fs::write(to, bytes).unwrap();
    to.to_path_buf()
}
