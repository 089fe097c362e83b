//! The operations suites (merge, prune, quantize, convert, finetune, distill) through the built
//! `tmgt` against the real apr on the bundled tiny models: what apr 0.72.3 does, and each
//! relation passing on a faithful output and failing on one the test alters.
//!
//! apr 0.72.3 writes no faithful merge, drops the tokenizer from what prune and quantize write,
//! misreports a finetune plan and a distillation, and writes a LoRA adapter into its working
//! directory instead of at `-o`, so the faithful cases come from a wrapper (below) that runs the
//! real apr for every call and then replaces only the operation's output file or one figure of
//! its reply: with what a faithful operation must give (the input itself for a merge of a model
//! with itself or with weights 1 and 0; the int8 import for the int8 quantization; the input
//! carrying apr's own pruned tensors for the pruning; the figures the files hold; apr's own
//! adapter copied to where `-o` asked), or with that output altered (one tensor byte, a value
//! beyond half-precision rounding, a thousand zeros undone, a wrong plan figure, an empty file
//! accepted, an adapter with a transposed matrix). No stand-in writes a compressed file, so the
//! codec checks are shown failing only, on apr's own output.

use crate::common;
use common::{real_apr, repo_root};

use checks_structure::layout::Layout;
use serde_json::Value;
use std::path::{Path, PathBuf};

const FILTER: &str = "suite=merge|prune|quantize|convert|finetune|distill model=tiny-llama";

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
    assert_eq!(results.len(), 22, "{results:?}");
    for code in ["MRG001", "MRG002", "MRG003", "MRG004", "MRG005"] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).contains("is not an APR v2 file"), "{r}");
    }
    for code in ["QNT001", "QNT005"] {
        let q = by_code(&results, code);
        assert_eq!(q["verdict"], "fail", "{q}");
        assert!(message(q).contains("all 21 tensors byte-identical"), "{q}");
        assert!(message(q).contains("no tokenizer in APR metadata"), "{q}");
    }
    let p = by_code(&results, "PRN001");
    assert_eq!(p["verdict"], "fail", "{p}");
    assert_eq!(p["details"]["counted_zeros"], 168_096, "{p}");
    assert_eq!(p["details"]["reported"]["zero_params"], 168_096, "{p}");
    assert!(
        message(p).starts_with("apr cannot run the pruned model"),
        "{p}"
    );
    for code in ["CNV001", "CNV002"] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).ends_with("nothing was compressed"), "{r}");
    }
    let f = by_code(&results, "FTN001");
    assert!(message(f).contains("25165824 trainable parameters"), "{f}");
    let o = by_code(&results, "FTN004");
    assert_eq!(o["verdict"], "fail", "{o}");
    assert!(
        message(o).contains("/finetune/checkpoints/best/model.safetensors"),
        "{o}"
    );
    assert!(message(by_code(&results, "FTN003")).starts_with("4 rank-4 pairs"));
    let d = by_code(&results, "DST001");
    assert!(message(d).contains("executed student_size 1344768"), "{d}");
    // What apr 0.72.3 gets right.
    for code in [
        "MRG006", "MRG007", "PRN002", "QNT002", "QNT003", "QNT004", "CNV003", "FTN002", "FTN003",
    ] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    assert!(message(by_code(&results, "QNT002")).contains("336192 values"));
}

/// The tiny-llama artifacts the wrapper needs: (f32, int8, int4).
fn artifacts() -> (PathBuf, PathBuf, PathBuf) {
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
    (find("f32"), find("int8"), find("int4"))
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

/// What the wrapper does after the real apr answered a call.
#[derive(Default)]
struct Stand {
    /// Files put at the `-o` path of a merge, an int8 and an fp16 quantization, a pruning.
    merge: Option<PathBuf>,
    int8: Option<PathBuf>,
    int4: Option<PathBuf>,
    fp16: Option<PathBuf>,
    prune: Option<PathBuf>,
    /// `sed` expressions applied to the stdout of these subcommands.
    sed: Vec<(&'static str, &'static str)>,
    /// Answer exit 0 when given one of the bad-input checks' empty files.
    accept_empty: bool,
    /// The file put at the `-o` path of `finetune --merge`.
    fold: Option<PathBuf>,
    /// After a LoRA training at learning rate 2e-4 (FTN003's), this file replaces the adapter
    /// apr wrote to `checkpoints/best/`.
    adapter: Option<PathBuf>,
    /// After a training, copy apr's adapter to `-o DIR/model.safetensors`, where it belongs.
    adapter_at_out: bool,
}

/// A wrapper around the real apr that runs every call for real and then does what `stand`
/// says to the operation's output file or reply.
fn wrapper(dir: &Path, stand: &Stand) -> PathBuf {
    let copy = |sub: &str, cond: &str, file: &Option<PathBuf>| {
        file.as_ref().map_or(String::new(), |f| {
            format!(
                "[ $code -eq 0 ] && [ \"$sub\" = {sub} ] {cond} && [ -n \"$out\" ] && cp \"{}\" \"$out\"\n",
                f.display()
            )
        })
    };
    let mut after = String::new();
    after += &copy("merge", "", &stand.merge);
    after += &copy("quantize", "&& [ \"$scheme\" = int8 ]", &stand.int8);
    after += &copy("quantize", "&& [ \"$scheme\" = int4 ]", &stand.int4);
    after += &copy("quantize", "&& [ \"$scheme\" = fp16 ]", &stand.fp16);
    after += &copy("prune", "", &stand.prune);
    after += &copy("finetune", "&& [ -n \"$merge\" ]", &stand.fold);
    let training = "[ $code -eq 0 ] && [ \"$sub\" = finetune ] && [ -z \"$merge\" ]";
    if let Some(adapter) = &stand.adapter {
        after += &format!(
            "{training} && [ \"$rate\" = 0.0002 ] && cp \"{}\" checkpoints/best/model.safetensors\n",
            adapter.display()
        );
    }
    if stand.adapter_at_out {
        after += &format!(
            "{training} && mkdir -p \"$out\" && cp checkpoints/best/model.safetensors \"$out/\"\n"
        );
    }
    let mut seds = String::new();
    for (sub, expr) in &stand.sed {
        seds += &format!("[ \"$sub\" = {sub} ] && sed -i -e '{expr}' \"$reply\"\n");
    }
    let accept = if stand.accept_empty {
        "case \" $* \" in *'/empty.apr '*) echo '{}'; exit 0 ;; esac\n"
    } else {
        ""
    };
    let script = dir.join("apr");
    std::fs::write(
        &script,
        format!(
            r#"#!/usr/bin/env bash
# STAND-INS FOR THE OPERATIONS TESTS ONLY: runs the real apr, then replaces the output file or
# edits the reply as the test chose.
out="" prev="" sub="" scheme="" rate="" merge=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out="$a"
  [ "$prev" = "--scheme" ] && scheme="$a"
  [ "$prev" = "--learning-rate" ] && rate="$a"
  [ "$a" = "--merge" ] && merge=1
  case "$a" in -*) ;; *) [ -z "$sub" ] && sub="$a" ;; esac
  prev="$a"
done
{accept}reply=$(mktemp)
"{apr}" "$@" >"$reply"
code=$?
{after}{seds}cat "$reply"
rm -f "$reply"
exit $code
"#,
            apr = real_apr().display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn each_relation_passes_on_a_faithful_output_and_fails_on_an_altered_one() {
    // The artifacts exist once a first run has prepared them.
    run(&repo_root(), None);
    let (f32, int8, int4) = artifacts();
    let tmp = tempfile::tempdir().unwrap();
    let pruned = faithful_pruning(&f32, tmp.path());
    let fp16 = apr_fp16(&f32, tmp.path());

    let faithful = wrapper(
        tmp.path(),
        &Stand {
            merge: Some(f32.clone()),
            int8: Some(int8.clone()),
            int4: Some(int4.clone()),
            prune: Some(pruned.clone()),
            sed: vec![
                (
                    "finetune",
                    r#"s/"trainable_params": [0-9]*/"trainable_params": 1024/"#,
                ),
                (
                    "distill",
                    r#"s/"student_size": 1344768/"student_size": 1381124/"#,
                ),
            ],
            adapter_at_out: true,
            ..Stand::default()
        },
    );
    let results = run(&repo_root(), Some(&faithful));
    for r in &results {
        let code = r["code"].as_str().unwrap();
        // No stand-in writes a compressed file: the codecs stay apr's.
        if code.starts_with("CNV00") && code != "CNV003" {
            continue;
        }
        assert_eq!(r["verdict"], "pass", "{r}");
        assert!(r["evidence"]["count"].as_u64().unwrap() > 0, "{r}");
    }

    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let wrong = wrapper(
        &bad,
        &Stand {
            merge: Some(altered(&f32, &bad.join("merge.apr"))),
            int8: Some(altered(&int8, &bad.join("int8.apr"))),
            int4: Some(altered(&int4, &bad.join("int4.apr"))),
            fp16: Some(altered_beyond_rounding(&fp16, &bad.join("fp16.apr"))),
            prune: Some(altered_sparsity(&pruned, &bad.join("prune.apr"))),
            sed: vec![
                ("merge", r#"s/"model_count": 2/"model_count": 3/"#),
                (
                    "quantize",
                    r#"s/"estimated_output_size": [0-9]*/"estimated_output_size": 9/"#,
                ),
            ],
            accept_empty: true,
            fold: Some(altered(&f32, &bad.join("folded.apr"))),
            adapter: Some(transposed_adapter(&bad.join("adapter.safetensors"))),
            ..Stand::default()
        },
    );
    let results = run(&repo_root(), Some(&wrong));
    for code in [
        "MRG001", "MRG002", "MRG003", "MRG004", "MRG005", "QNT001", "QNT005", "FTN002",
    ] {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).contains("1 of "), "{r}");
        assert!(message(r).contains("first differing byte"), "{r}");
    }
    let expect = [
        ("PRN001", "float32 values are zero"),
        ("QNT002", "beyond rounding"),
        ("MRG006", "model_count 3 for two inputs"),
        ("QNT003", "estimated_output_size 9"),
        ("MRG007", "empty: accepted it (exit 0)"),
        ("PRN002", "empty: accepted it (exit 0)"),
        ("QNT004", "empty: accepted it (exit 0)"),
        ("CNV003", "empty: accepted it (exit 0)"),
        ("FTN003", "`lora.0.v_proj.lora_b` is [4, 32] where"),
    ];
    for (code, words) in expect {
        let r = by_code(&results, code);
        assert_eq!(r["verdict"], "fail", "{r}");
        assert!(message(r).contains(words), "{code}: {r}");
    }
}

/// apr's own fp16 quantization of `f32` (its values are right; the test alters a copy).
fn apr_fp16(f32: &Path, into: &Path) -> PathBuf {
    let out = into.join("apr-fp16.apr");
    let status = std::process::Command::new(real_apr())
        .args(["--json", "quantize"])
        .arg(f32)
        .args(["--scheme", "fp16", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success());
    out
}

/// A copy of an fp16 file with one half value's top mantissa bit flipped: an error of a
/// quarter of its magnitude, far beyond rounding.
fn altered_beyond_rounding(from: &Path, to: &Path) -> PathBuf {
    let layout = Layout::read(from).unwrap();
    let t = layout.tensors.iter().find(|t| t.dtype == "F16").unwrap();
    let mut bytes = std::fs::read(from).unwrap();
    let at = t.bytes.start as usize + 2;
    bytes[at + 1] ^= 0x02;
    std::fs::write(to, bytes).unwrap();
    to.to_path_buf()
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

/// A rank-4 adapter for tiny-llama's layer-0 projections with its v_proj B matrix transposed
/// ([4, 32] where [32, 4] is right), written as safetensors by hand.
fn transposed_adapter(to: &Path) -> PathBuf {
    let tensors = [
        ("lora.0.q_proj.lora_a", [4, 64]),
        ("lora.0.q_proj.lora_b", [64, 4]),
        ("lora.0.v_proj.lora_a", [4, 64]),
        ("lora.0.v_proj.lora_b", [4, 32]),
    ];
    let mut header = serde_json::Map::new();
    let mut at = 0;
    for (name, shape) in tensors {
        let len = shape[0] * shape[1] * 4;
        header.insert(
            name.into(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [at, at + len]}),
        );
        at += len;
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.resize(bytes.len() + at, 0);
    std::fs::write(to, bytes).unwrap();
    to.to_path_buf()
}

#[test]
fn reference_figures_of_another_model_are_an_input_error_not_apr_s_fault() {
    // tiny-llama given SmolLM-135M's operations figures: its source holds 336,192 parameters,
    // not the reference's 134,515,008, so OPS001 refuses to judge apr by them.
    let dir = tempfile::tempdir().unwrap();
    common::link_repository_data(dir.path());
    let text = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    let text = text.replacen(
        "[models.tiny-llama]\n",
        &format!(
            "[models.tiny-llama]\nops_oracle = {{ dir = \"{}\", slug = \"smollm-135m\" }}\n",
            repo_root().join("oracle-ops").display()
        ),
        1,
    );
    std::fs::write(dir.path().join("suites.toml"), text).unwrap();
    let (_, report) = common::run_report(dir.path(), &["--filter", "OPS001"]);
    let results = report["results"].as_array().unwrap();
    let r = results.iter().find(|r| r["model"] == "tiny-llama").unwrap();
    assert_eq!(r["verdict"], "error", "{r}");
    let said = message(r);
    assert!(said.contains("oracle-ops/prune/smollm-135m.json"), "{r}");
    assert!(
        said.contains("not the 336192 of tiny-llama's source"),
        "{r}"
    );
    // The models without figures are not applicable, and say so.
    let other = results.iter().find(|r| r["model"] == "tiny-qwen2").unwrap();
    assert_eq!(other["verdict"], "skip", "{other}");
    assert!(message(other).contains("no reference operations figures"));
}
