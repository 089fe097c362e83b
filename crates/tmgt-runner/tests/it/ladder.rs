//! The quantization ladder through the built `tmgt`, the real llama.cpp and the real apr: a
//! rung is made from the committed F32 GGUF and judged against its committed oracles; a rung
//! whose file changed since its oracles were made stops the run naming the oracles to remake;
//! and a rung with one block's scale altered after quantization, judged against the faithful
//! rung's oracles, fails.

use crate::common;
use common::{link_repository_data, repo_root, tmgt_in};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use tmgt_gguf::GgufFile;

/// A folder whose suites.toml adds `planted`, tiny-llama-wide with a one-rung ladder (Q8_0),
/// whose oracles are a copy of tiny-llama-wide's the test may edit.
fn planted_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for link in ["models", "oracle", "oracle-ops", "prompts"] {
        std::os::unix::fs::symlink(repo_root().join(link), dir.path().join(link)).unwrap();
    }
    // llama.cpp's conversion of tiny-llama-wide, under both names its ladders are made from.
    let native = dir.path().join("native");
    std::fs::create_dir(&native).unwrap();
    for name in ["tiny-llama-wide", "planted"] {
        std::os::unix::fs::symlink(
            repo_root().join("native/tiny-llama-wide"),
            native.join(name),
        )
        .unwrap();
    }
    let oracle = repo_root().join("oracle/tiny-llama-wide");
    let copy = dir.path().join("edits/oracle");
    for sub in ["", "ladder/q8_0"] {
        std::fs::create_dir_all(copy.join(sub)).unwrap();
        for entry in std::fs::read_dir(oracle.join(sub)).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), copy.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    config += "\n[models.planted]\nsource = \"models/tiny-llama-wide\"\noracle = \"edits/oracle\"\n\
               quants = [\"f32\"]\nppl_ceiling = 2000.0\nladder = [\"Q8_0\"]\n\
               \n[profiles.edits]\nmodels = [\"planted\"]\n";
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    dir
}

fn run(dir: &Path) -> (std::process::Output, Option<Value>) {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let output = tmgt_in(
        dir,
        &[
            "run",
            "--out",
            &out_arg,
            "--no-known-issues",
            "--profile",
            "edits",
            "--filter",
            "check=LAD001|LAD003|RUN002 model=planted@q8_0",
        ],
    );
    let report = std::fs::read(out.path().join("report.json"))
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    (output, report)
}

fn verdicts(report: &Value, code: &str) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == code)
        .map(|r| {
            (
                r["verdict"].as_str().unwrap().to_string(),
                r["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Multiplies the f16 scale of the first Q8_0 block of `token`'s row of `output.weight` by -8
/// (sign flipped, exponent raised by 3), in place: one block of one row, after quantization.
fn alter_one_block_scale(file: &Path, token: u64) {
    let gguf = GgufFile::open(file).unwrap();
    let head = gguf.tensor("output.weight").unwrap();
    assert_eq!(format!("{:?}", head.kind), "Q8_0", "{head:?}");
    let row_bytes = head.dims[0] / 32 * 34;
    let at = gguf.data_offset() + head.offset + token * row_bytes;
    drop(gguf);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut d = [0u8; 2];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut d).unwrap();
    let bits = u16::from_le_bytes(d);
    let exponent = (bits >> 10) & 0x1f;
    assert!(exponent > 0 && exponent < 28, "a normal scale: {bits:#06x}");
    let altered = (bits ^ 0x8000) + (3 << 10);
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&altered.to_le_bytes()).unwrap();
}

/// Points every oracle of a folder at the file with `sha256`: the faithful rung's oracles,
/// keyed to the altered file, so the run judges that file by them.
fn key_oracles_to(dir: &Path, sha256: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let mut oracle: Value =
            serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        oracle["provenance"]["source_gguf_sha256"] = sha256.into();
        std::fs::write(entry.path(), serde_json::to_vec_pretty(&oracle).unwrap()).unwrap();
    }
}

#[test]
fn a_faithful_rung_passes_a_changed_file_is_named_and_an_altered_block_scale_fails() {
    let dir = planted_repository();
    let (output, report) = run(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = report.unwrap_or_else(|| panic!("no report: {stderr}"));
    let rung = verdicts(&report, "LAD001");
    assert_eq!(rung.len(), 1, "{rung:?}");
    assert_eq!(rung[0].0, "pass", "{rung:?}");
    assert!(
        rung[0]
            .1
            .starts_with("Q8_0: the quantization costs perplexity x"),
        "{rung:?}"
    );
    // A copy with a type id nobody defines: apr refuses this rung's, naming the id.
    let unknown = verdicts(&report, "LAD003");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0].0, "pass", "{unknown:?}");
    assert!(
        unknown[0].1.contains("refused it naming the type")
            && unknown[0].1.contains("in all 5 cases"),
        "{unknown:?}"
    );
    let runtime = verdicts(&report, "RUN002");
    assert_eq!(runtime.len(), 4, "{runtime:?}");
    assert!(runtime.iter().all(|(v, _)| v == "pass"), "{runtime:?}");
    let file = dir
        .path()
        .join(".tmgt/artifacts/planted/ladder/planted@q8_0.gguf");
    assert!(file.is_file(), "the rung's file is made: {stderr}");

    // The first token the oracle continues `greeting` with: its logit moves.
    let greeting: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("edits/oracle/ladder/q8_0/greeting.json")).unwrap(),
    )
    .unwrap();
    let token = greeting["tokens"][0].as_u64().unwrap();
    alter_one_block_scale(&file, token);

    // The file no longer is the one the oracles were made from: the run stops and says so.
    let (output, _) = run(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("was made from another file than")
            && stderr.contains("remake the oracles from this file with `tmgt oracle planted@q8_0`"),
        "{stderr}"
    );

    let sha = tmgt_oracle::sha256_file(&file).unwrap();
    key_oracles_to(&dir.path().join("edits/oracle/ladder/q8_0"), &sha);
    let (output, report) = run(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = report.unwrap_or_else(|| panic!("no report: {stderr}"));
    let rung = verdicts(&report, "LAD001");
    assert_eq!(rung[0].0, "fail", "{rung:?}");
    assert!(
        rung[0]
            .1
            .contains("llama.cpp is beyond it too on the same file"),
        "the file is damaged, so both runtimes depart: {rung:?}"
    );
    let greeting = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "RUN002" && r["prompt"] == "greeting")
        .unwrap();
    assert_eq!(greeting["verdict"], "fail", "{greeting}");
}

/// Runs `tmgt run --profile ladder` on the repository's suites.toml edited by `edit`.
fn config_error(edit: impl FnOnce(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    std::fs::write(dir.path().join("suites.toml"), edit(config)).unwrap();
    let output = tmgt_in(dir.path(), &["run", "--profile", "ladder"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn a_ladder_names_only_types_llama_cpp_makes() {
    let stderr = config_error(|c| {
        c.replacen(
            "ladder = [\n  \"F16\",",
            "ladder = [\"Q4_K_S\", \"F16\",",
            1,
        )
    });
    assert!(
        stderr.contains("unknown variant `Q4_K_S`") && stderr.contains("IQ3_S"),
        "{stderr}"
    );
    let stderr = config_error(|c| c + "\n[ladder.Q9_9]\nruntime = { max_logprob_diff = 1.0 }\n");
    assert!(
        stderr.contains("`Q9_9` is not a file type of the ladder")
            && stderr.contains("[ladder.<TYPE>] names one of: F16, BF16, Q8_0"),
        "{stderr}"
    );
    let stderr = config_error(|c| {
        c.replacen(
            "suites = [\"runtime\", \"logprobs\"",
            "suites = [\"runtim\", \"logprobs\"",
            1,
        )
    });
    assert!(
        stderr.contains("unknown suite `runtim`") && stderr.contains("did you mean `runtime`?"),
        "{stderr}"
    );
}
