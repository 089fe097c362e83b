//! The weights suite through the built `tmgt`: on the bundled models every file apr makes and
//! every llama.cpp reference is held against the source, with apr's GGUF export named for the
//! q/k rows it leaves in HF's order; and a ready-made GGUF whose gate and up projections are
//! swapped is named for it, in its result and in the ticket of the token failure it causes.

use crate::common;
use common::{link_repository_data, repo_root, run_report};

use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use tmgt_gguf::GgufFile;

fn find<'a>(report: &'a Value, code: &str, model: &str, quant: Option<&str>) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code && r["model"] == model && r["quant"].as_str() == quant)
        .unwrap_or_else(|| panic!("no {code} for {model} {quant:?}"))
}

#[test]
fn every_file_of_the_bundled_models_is_held_against_the_source() {
    let (_, report) = run_report(&repo_root(), &["--filter", "suite=weights"]);
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        for quant in ["f32", "int8", "int4"] {
            for code in ["WGT001", "WGT004"] {
                let r = find(&report, code, model, Some(quant));
                assert_eq!(r["verdict"], "pass", "{r}");
                let n = r["evidence"]["count"].as_u64().unwrap();
                assert_eq!(
                    n,
                    r["details"]["tensors"]["expected"].as_u64().unwrap(),
                    "every tensor compared: {r}"
                );
                assert!(
                    r["message"]
                        .as_str()
                        .unwrap()
                        .contains("agree with the source")
                );
            }
        }
    }
    // apr's export of the LLaMA model: q/k of both layers in HF's row order, nothing else.
    let export = find(&report, "WGT002", "tiny-llama", None);
    assert_eq!(export["verdict"], "fail", "{export}");
    let said = export["message"].as_str().unwrap();
    assert!(
        said.contains("4 of 21 tensors depart")
            && said.contains("blk.*.attn_q.weight in 2 layers equals the source without llama.cpp's RoPE row permutation")
            && said.contains("blk.*.attn_k.weight in 2 layers"),
        "{said}"
    );
    let roundtrip = find(&report, "WGT003", "tiny-llama", None);
    assert_eq!(roundtrip["verdict"], "fail", "{roundtrip}");
    // Qwen2 takes no permutation: its export agrees, and the tied head it adds is listed.
    let qwen = find(&report, "WGT002", "tiny-qwen2", None);
    assert_eq!(qwen["verdict"], "pass", "{qwen}");
    assert!(
        qwen["message"]
            .as_str()
            .unwrap()
            .contains("output.weight (it holds token_embd.weight's values) is extra"),
        "{qwen}"
    );
    let gpt2 = find(&report, "WGT002", "tiny-gpt2", None);
    assert_eq!(
        gpt2["verdict"], "error",
        "apr refuses GPT-2's export: {gpt2}"
    );
}

/// Swaps two equal-sized tensors' bytes in a copy of a GGUF.
fn swap_tensors(gguf: &GgufFile, to: &std::path::Path, a: &str, b: &str) {
    std::fs::copy(gguf.path(), to).unwrap();
    let range = |name: &str| {
        let t = gguf.tensor(name).unwrap();
        (gguf.data_offset() + t.offset, t.elements() as usize * 4)
    };
    let ((at_a, len), (at_b, len_b)) = (range(a), range(b));
    assert_eq!(len, len_b);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(to)
        .unwrap();
    let mut read = |at: u64| {
        let mut buf = vec![0u8; len];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut buf).unwrap();
        buf
    };
    let (bytes_a, bytes_b) = (read(at_a), read(at_b));
    for (at, bytes) in [(at_a, bytes_b), (at_b, bytes_a)] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&bytes).unwrap();
    }
}

#[test]
fn a_swapped_pair_is_named_and_the_token_failure_s_ticket_says_the_weights_explain_it() {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::create_dir(dir.path().join("edits")).unwrap();
    let native = GgufFile::open(&repo_root().join("native/tiny-llama/f32.gguf")).unwrap();
    swap_tensors(
        &native,
        &dir.path().join("edits/swapped.gguf"),
        "blk.0.ffn_gate.weight",
        "blk.0.ffn_up.weight",
    );
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    config += "\n[models.swapped]\nsource = \"models/tiny-llama\"\noracle = \"oracle/tiny-llama\"\n\
               quants = [\"f32\"]\nppl_ceiling = 400.0\nartifact = \"edits/swapped.gguf\"\n\
               \n[profiles.edits]\nmodels = [\"swapped\"]\n";
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();

    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let run = common::tmgt_in(
        dir.path(),
        &[
            "run",
            "--out",
            &out_arg,
            "--no-known-issues",
            "--profile",
            "edits",
            "--filter",
            "check=WGT002|RUN002",
        ],
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    let weights = find(&report, "WGT002", "swapped", None);
    assert_eq!(weights["verdict"], "fail", "{weights}");
    assert!(
        weights["message"].as_str().unwrap().contains(
            "the ready-made GGUF: 2 of 21 tensors depart: blk.0.ffn_gate.weight is swapped with blk.0.ffn_up.weight"
        ),
        "{weights}"
    );
    let ticket = std::fs::read_to_string(out.path().join("ticket.md")).unwrap();
    let section = ticket
        .split("## ")
        .find(|s| s.contains("RUN002 swapped"))
        .unwrap_or_else(|| panic!("no RUN002 section:\n{ticket}"));
    assert!(
        section.contains("- the weights explain this: `WGT002/gguf-weights-depart-from-source/swapped` finds the file")
            && section.contains("is swapped with blk.0.ffn_up.weight"),
        "{section}"
    );
}
