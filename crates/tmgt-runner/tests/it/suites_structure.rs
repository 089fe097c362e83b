//! The structure suites (`inspect`, `validate`, `tensors`, `lint`, `selftest`, `diff`, `tree`,
//! `oracle-id`, `hex`, `debug`, `bench`, `qa`) through the built `tmgt`, against the real apr
//! (from TMGT_APR or PATH; the tests fail when it is missing) on the bundled tiny models.
//!
//! Every check has a test where apr 0.72.3 behaves and the check passes with evidence, and at
//! least one where it must not pass:
//! - at a level where apr 0.72.3 misbehaves (q4k for VAL001, VAL002, HEX001 and QA001; int8
//!   for INS002; any level of tiny-gpt2 for SLF001 and INS003; int8 for BEN001, where apr
//!   panics);
//! - on a file given as a model entry's `artifact` that is not what the entry says: another
//!   model's `.apr`, an int8 `.apr` for an f32 entry, an `.apr` imported from a config.json
//!   that states another vocabulary size, a copy whose token embedding is NaN, a copy with one
//!   tensor renamed in its index;
//! - on a cached int4 artifact swapped for another model's (DIF001 compares two levels, which
//!   a single given file cannot stand for);
//! - against a stricter threshold than the configured one.
//!
//! A faithful copy given the same way passes every check, so those failures come from the
//! files' contents, not from the way they are given.
//!
//! All tests share one project folder under the target folder (rebuilt once per run of this
//! test binary; kept afterwards for a look): links to the repository's models, oracles and
//! prompts, its own `suites.toml` and artifact cache, and the files made from them.

use crate::common;
use common::{repo_root, tmgt_in as tmgt};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The shared project
// ---------------------------------------------------------------------------------------------

/// The configuration of every run here: only the structure suites.
const HEAD: &str = r#"[apr]
binary = ""
version = "0.72.3"
min_version = "0.72.3"

[run]
max_new_tokens = 32
jobs = 0
profile = "all"

[paths]
artifacts = ".tmgt/artifacts"
out = "tmgt-out"
eval_text = "prompts/eval-text.txt"

[timeouts]
default = 120
import = 600
export = 600
run = 300

[prompts]
greeting = "prompts/greeting.txt"

[suites]
enabled = ["inspect", "validate", "tensors", "lint", "selftest", "diff", "tree", "oracle-id", "hex", "debug", "bench", "qa"]
"#;

/// Thresholds no apr can meet on these models: `apr check` runs 10 stages, and `apr qa`
/// executes 3 gates with the skips tmgt passes for tiny models.
const STRICT: &str = "
[thresholds.selftest]
min_stages = 11

[thresholds.qa]
min_gates = 4
";

/// `max_new_tokens` x BEN001's iterations: the tokens a full `apr bench` generates.
const BENCH_TOKENS: u64 = 32 * 3;

/// One `[models.*]` entry.
struct Entry {
    name: &'static str,
    source: &'static str,
    oracle: &'static str,
    quants: &'static str,
    artifact: Option<&'static str>,
    expect: Option<&'static str>,
}

const fn local(name: &'static str, model: &'static str, quants: &'static str) -> Entry {
    Entry {
        name,
        source: model,
        oracle: model,
        quants,
        artifact: None,
        expect: None,
    }
}

const fn given(name: &'static str, model: &'static str, file: &'static str) -> Entry {
    Entry {
        name,
        source: model,
        oracle: model,
        quants: r#"["f32"]"#,
        artifact: Some(file),
        expect: None,
    }
}

/// Models tmgt imports itself. The extra levels are where apr 0.72.3 misbehaves (q4k) or
/// where a check skips (fp16).
const IMPORTED: [Entry; 5] = [
    local(
        "tiny-llama",
        "tiny-llama",
        r#"["f32", "fp16", "int8", "int4"]"#,
    ),
    local(
        "tiny-qwen2",
        "tiny-qwen2",
        r#"["f32", "int8", "int4", "q4k"]"#,
    ),
    local(
        "tiny-gpt2",
        "tiny-gpt2",
        r#"["f32", "int8", "int4", "q4k"]"#,
    ),
    // tiny-llama's weights under a config.json that says vocab_size 4096: apr 0.72.3 imports
    // it and records 4096. Made only to be given to the `llama-given-vocab4096` entry.
    Entry {
        name: "llama-vocab4096",
        source: "edits/llama-vocab4096",
        oracle: "tiny-llama",
        quants: r#"["f32"]"#,
        artifact: None,
        expect: None,
    },
    // tiny-qwen2 again, under its own name (so its own cache folder): its cached int4 `.apr`
    // is replaced by tiny-llama's once made.
    local("qwen2-int4-swapped", "tiny-qwen2", r#"["int8", "int4"]"#),
];

/// Models checked as given files (made in `given/` from the imported artifacts) and a hub
/// model, which tmgt never downloads for these checks.
const GIVEN: [Entry; 7] = [
    given("llama-given", "tiny-llama", "given/tiny-llama-f32.apr"),
    given(
        "llama-given-qwen2",
        "tiny-llama",
        "given/tiny-qwen2-f32.apr",
    ),
    given(
        "qwen2-given-int8-as-f32",
        "tiny-qwen2",
        "given/tiny-qwen2-int8.apr",
    ),
    given(
        "llama-given-vocab4096",
        "tiny-llama",
        "given/llama-vocab4096-f32.apr",
    ),
    given(
        "llama-given-nan-embedding",
        "tiny-llama",
        "given/tiny-llama-f32-nan-embedding.apr",
    ),
    given(
        "llama-given-renamed-tensor",
        "tiny-llama",
        "given/tiny-llama-f32-renamed-tensor.apr",
    ),
    Entry {
        name: "smollm-135m",
        source: "hf://HuggingFaceTB/SmolLM-135M",
        oracle: "smollm-135m",
        quants: r#"["int8"]"#,
        artifact: None,
        expect: Some(
            r#"{ architecture = "llama", layers = 30, heads = 9, kv_heads = 3, hidden = 576, vocab = 49152, tied_embeddings = true }"#,
        ),
    },
];

/// How many quantization levels the entry lists.
fn levels(e: &Entry) -> usize {
    e.quants.matches('"').count() / 2
}

/// A configuration file over `entries`, all in the profile `all`.
fn config(entries: &[&Entry], extra: &str) -> String {
    let mut text = HEAD.to_string();
    text.push_str(extra);
    for e in entries {
        let source = if e.source.starts_with("hf://") || e.source.starts_with("edits/") {
            e.source.to_string()
        } else {
            format!("models/{}", e.source)
        };
        text.push_str(&format!(
            "\n[models.{}]\nsource = \"{source}\"\noracle = \"oracle/{}\"\nquants = {}\nppl_ceiling = 400.0\n",
            e.name, e.oracle, e.quants
        ));
        if let Some(file) = e.artifact {
            text.push_str(&format!("artifact = \"{file}\"\n"));
        }
        if let Some(expect) = e.expect {
            text.push_str(&format!("expect = {expect}\n"));
        }
    }
    let names: Vec<String> = entries.iter().map(|e| format!("\"{}\"", e.name)).collect();
    text.push_str(&format!(
        "\n[profiles.all]\nmodels = [{}]\n",
        names.join(", ")
    ));
    text
}

/// The default configuration (`suites.toml`) and the one with unmeetable thresholds.
const DEFAULT: &str = "suites.toml";
const STRICT_CONFIG: &str = "strict.toml";

fn build_project() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suites-structure");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = repo_root();
    for link in ["models", "oracle", "oracle-ops", "prompts"] {
        std::os::unix::fs::symlink(root.join(link), dir.join(link)).unwrap();
    }
    // tiny-llama with a config.json that states another vocabulary size than its weights.
    let edited = dir.join("edits/llama-vocab4096");
    std::fs::create_dir_all(&edited).unwrap();
    for entry in std::fs::read_dir(root.join("models/tiny-llama")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), edited.join(entry.file_name())).unwrap();
    }
    let mut facts: Value =
        serde_json::from_slice(&std::fs::read(edited.join("config.json")).unwrap()).unwrap();
    assert_eq!(facts["vocab_size"], 2048);
    facts["vocab_size"] = 4096.into();
    std::fs::write(
        edited.join("config.json"),
        serde_json::to_vec_pretty(&facts).unwrap(),
    )
    .unwrap();

    // Phase 1: tmgt imports every level of every model (INS001 needs each `.apr`).
    let imported: Vec<&Entry> = IMPORTED.iter().collect();
    std::fs::write(dir.join(DEFAULT), config(&imported, "")).unwrap();
    let out = tmgt(
        &dir,
        &[
            "run",
            "--out",
            "phase1",
            "--no-known-issues",
            "--filter",
            "check=INS001",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.join("phase1/report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        IMPORTED.iter().map(levels).sum::<usize>(),
        "{stderr}"
    );
    for r in results {
        assert_ne!(r["verdict"], "error", "an artifact could not be made: {r}");
    }

    // The given files.
    let given = dir.join("given");
    std::fs::create_dir_all(&given).unwrap();
    let copy = |model: &str, quant: &str, name: &str| {
        std::fs::copy(cached(&dir, model, quant), given.join(name)).unwrap();
    };
    copy("tiny-llama", "f32", "tiny-llama-f32.apr");
    copy("tiny-qwen2", "f32", "tiny-qwen2-f32.apr");
    copy("tiny-qwen2", "int8", "tiny-qwen2-int8.apr");
    copy("llama-vocab4096", "f32", "llama-vocab4096-f32.apr");
    let llama = std::fs::read(cached(&dir, "tiny-llama", "f32")).unwrap();
    std::fs::write(
        given.join("tiny-llama-f32-nan-embedding.apr"),
        nan_tensor(llama.clone(), "model.embed_tokens.weight"),
    )
    .unwrap();
    // Same length, so the index keeps its size; the second 2-D name holding "lm_head" is what
    // makes `apr lint` raise its only error-level issue (see LNT001's tests).
    std::fs::write(
        given.join("tiny-llama-f32-renamed-tensor.apr"),
        rename_tensor(
            llama,
            "model.layers.1.mlp.up_proj.weight",
            "model.layers.1.mlp.lm_head.weight",
        ),
    )
    .unwrap();
    // The cache takes a file under its final name as made: swap in another model's int4.
    std::fs::copy(
        cached(&dir, "tiny-llama", "int4"),
        cached(&dir, "qwen2-int4-swapped", "int4"),
    )
    .unwrap();

    // Phase 2: every entry, with the default thresholds and with unmeetable ones.
    let all: Vec<&Entry> = IMPORTED.iter().chain(GIVEN.iter()).collect();
    std::fs::write(dir.join(DEFAULT), config(&all, "")).unwrap();
    std::fs::write(dir.join(STRICT_CONFIG), config(&all, STRICT)).unwrap();
    dir
}

/// The `.apr` tmgt made for `model` at `quant` in the project's cache.
fn cached(dir: &Path, model: &str, quant: &str) -> PathBuf {
    let folder = dir.join(".tmgt/artifacts").join(model);
    let prefix = format!("{model}-apr-{quant}-");
    let found: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".apr")
        })
        .collect();
    assert_eq!(found.len(), 1, "{prefix}*.apr in {}", folder.display());
    found.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Editing an APR v2 file
// ---------------------------------------------------------------------------------------------

/// One tensor of an APR v2 file's index: where its name and its data lie.
struct IndexEntry {
    name: String,
    name_at: usize,
    dtype: u8,
    data: std::ops::Range<usize>,
}

/// The tensor index of an APR v2 file: a 64-byte header (tensor count as u32 at 8, index
/// offset as u64 at 24, data offset as u64 at 32), then per tensor a u16 name length, the
/// name, a u8 dtype (0 = f32), a u8 rank, the dimensions as u64, and the data's offset (from
/// the data section) and size as u64.
fn apr_index(bytes: &[u8]) -> Vec<IndexEntry> {
    assert_eq!(&bytes[..4], b"APR\0", "not an APR v2 file");
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let data_offset = u64_at(32);
    let mut at = u64_at(24);
    let mut entries = Vec::new();
    for _ in 0..count {
        let len = usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        at += 2;
        let name = String::from_utf8(bytes[at..at + len].to_vec()).unwrap();
        let name_at = at;
        at += len;
        let dtype = bytes[at];
        let rank = usize::from(bytes[at + 1]);
        at += 2 + 8 * rank;
        let start = data_offset + u64_at(at);
        let size = u64_at(at + 8);
        at += 16;
        entries.push(IndexEntry {
            name,
            name_at,
            dtype,
            data: start..start + size,
        });
    }
    assert!(at <= data_offset, "the index runs into the data");
    entries
}

fn find<'a>(index: &'a [IndexEntry], name: &str) -> &'a IndexEntry {
    index
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

/// The file with every value of the f32 tensor `name` set to NaN.
fn nan_tensor(mut bytes: Vec<u8>, name: &str) -> Vec<u8> {
    let index = apr_index(&bytes);
    let tensor = find(&index, name);
    assert_eq!(tensor.dtype, 0, "{name} is not f32");
    let range = tensor.data.clone();
    for value in bytes[range].chunks_exact_mut(4) {
        value.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    bytes
}

/// The file with tensor `old` renamed to `new` (of the same length) in its index.
fn rename_tensor(mut bytes: Vec<u8>, old: &str, new: &str) -> Vec<u8> {
    assert_eq!(old.len(), new.len());
    let index = apr_index(&bytes);
    let at = find(&index, old).name_at;
    bytes[at..at + new.len()].copy_from_slice(new.as_bytes());
    assert!(apr_index(&bytes).iter().any(|e| e.name == new));
    bytes
}

// ---------------------------------------------------------------------------------------------
// Running checks
// ---------------------------------------------------------------------------------------------

/// A finished `tmgt run`: its exit code, results and standard error.
struct Run {
    exit: i32,
    results: Vec<Value>,
    /// The instances the report did not judge: their entries lack what they ask for.
    outside_entry: Vec<Value>,
    stderr: String,
}

impl Run {
    /// Why `code` was no result for `model`: its entry lacks what the check asks for.
    fn outside(&self, code: &str, model: &str) -> &str {
        self.outside_entry
            .iter()
            .find(|o| {
                let id = o["id"].as_str().unwrap();
                id.starts_with(&format!("{code}/")) && id.ends_with(&format!("/{model}"))
            })
            .and_then(|o| o["reason"].as_str())
            .unwrap_or_else(|| panic!("{code} on {model} is not outside its entry"))
    }
}

/// `tmgt run` in the project with apr's raw verdicts (`--no-known-issues`), selecting the
/// union of `filters`.
fn run(config: &str, filters: &[&str]) -> Run {
    let dir = project();
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let mut args = vec![
        "run",
        "--config",
        config,
        "--out",
        &out_arg,
        "--no-known-issues",
    ];
    for f in filters {
        args.extend(["--filter", f]);
    }
    let output = tmgt(dir, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    Run {
        exit: output.status.code().unwrap_or(-1),
        results: report["results"].as_array().unwrap().clone(),
        outside_entry: report["outside_entry"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        stderr,
    }
}

/// Makes a value once per test binary. A panic while making it becomes every caller's
/// failure, so a broken setup is reported by each test instead of being retried by each.
fn shared<T>(cell: &'static OnceLock<Result<T, String>>, make: fn() -> T) -> &'static T {
    let made = cell.get_or_init(|| {
        std::panic::catch_unwind(make).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into())
        })
    });
    match made {
        Ok(value) => value,
        Err(e) => panic!("the shared setup failed: {e}"),
    }
}

/// The shared project folder, built on first use.
fn project() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    shared::<PathBuf>(&DIR, build_project).as_path()
}

/// Every structure check on every local entry, plus the checks that skip a hub model before
/// asking for its artifact (any other would have apr download it): one run the tests share.
fn default_run() -> &'static Run {
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    shared(&RUN, || {
        let local: Vec<&str> = IMPORTED
            .iter()
            .chain(GIVEN.iter())
            .filter(|e| e.expect.is_none())
            .map(|e| e.name)
            .collect();
        let local = format!("model={}", local.join("|"));
        run(
            DEFAULT,
            &[
                &local,
                "check=TNS001|TRE001|HEX001|DBG001|DIF001 model=smollm-135m",
            ],
        )
    })
}

/// SLF001 and QA001 on tiny-llama's f32 `.apr` against the unmeetable thresholds.
fn strict_run() -> &'static Run {
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    shared(&RUN, || {
        run(
            STRICT_CONFIG,
            &["check=SLF001|QA001 model=tiny-llama quant=f32"],
        )
    })
}

/// No pass without evidence, no skip or error without its reason.
fn assert_well_formed(r: &Value) {
    let verdict = r["verdict"].as_str().unwrap();
    assert!(!message(r).trim().is_empty(), "no message: {r}");
    match verdict {
        "pass" => assert!(evidence(r) > 0, "a pass with no evidence: {r}"),
        "skip" => assert_eq!(evidence(r), 0, "a skip with evidence: {r}"),
        "error" => assert!(r["error_class"].is_string(), "an error with no class: {r}"),
        "fail" => {}
        other => panic!("verdict {other} with the ledger off: {r}"),
    }
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap()
}

fn evidence(r: &Value) -> u64 {
    r["evidence"]["count"].as_u64().unwrap()
}

/// The one result of `code` on `model` (at `quant`, for a model x quant check) in `run`.
fn result<'a>(run: &'a Run, code: &str, model: &str, quant: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = run
        .results
        .iter()
        .filter(|r| r["code"] == code && r["model"] == model && r["quant"].as_str() == quant)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{code} {model} {quant:?}: {found:?}\n{}",
        run.stderr
    );
    assert_well_formed(found[0]);
    found[0]
}

/// The check passes, with evidence.
fn passes(code: &str, model: &str, quant: Option<&str>) -> &'static Value {
    let r = result(default_run(), code, model, quant);
    assert_eq!(r["verdict"], "pass", "{r}");
    assert!(evidence(r) > 0, "{r}");
    r
}

/// The check fails in `run`, saying each of `says`.
fn fails_in(
    run: &'static Run,
    code: &str,
    model: &str,
    quant: Option<&str>,
    says: &[&str],
) -> &'static Value {
    let r = result(run, code, model, quant);
    assert_eq!(r["verdict"], "fail", "{r}");
    for s in says {
        assert!(message(r).contains(s), "the message lacks {s:?}: {r}");
    }
    r
}

fn fails(code: &str, model: &str, quant: Option<&str>, says: &[&str]) -> &'static Value {
    fails_in(default_run(), code, model, quant, says)
}

/// The check skips saying `why`, with no evidence.
fn skips(code: &str, model: &str, quant: Option<&str>, why: &str) -> &'static Value {
    let r = result(default_run(), code, model, quant);
    assert_eq!(r["verdict"], "skip", "{r}");
    assert!(message(r).contains(why), "{r}");
    r
}

const NO_LOCAL_SOURCE: &str = "the model comes from the hub";

/// Every structure check, by code.
const STRUCTURE_CHECKS: [&str; 16] = [
    "INS001", "INS002", "INS003", "VAL001", "VAL002", "TNS001", "TNS002", "LNT001", "SLF001",
    "DIF001", "TRE001", "ORI001", "HEX001", "DBG001", "BEN001", "QA001",
];

// ---------------------------------------------------------------------------------------------
// A file given as the artifact is checked like tmgt's own
// ---------------------------------------------------------------------------------------------

#[test]
fn the_shared_run_covers_every_structure_check_of_every_entry() {
    let run = default_run();
    for r in &run.results {
        assert_well_formed(r);
    }
    // 15 model x quant checks per level and DIF001 per model; 5 checks on the hub model.
    let expected: usize = IMPORTED
        .iter()
        .chain(GIVEN.iter())
        .filter(|e| e.expect.is_none())
        .map(|e| 15 * levels(e) + 1)
        .sum::<usize>()
        + 5;
    // An entry without both levels has no DIF001 result: it is outside the entry.
    assert_eq!(
        run.results.len() + run.outside_entry.len(),
        expected,
        "{}",
        run.stderr
    );
    // Every entry without both levels, the hub model's included (it lists int8 alone).
    let without_both = IMPORTED
        .iter()
        .chain(GIVEN.iter())
        .filter(|e| levels(e) < 2)
        .count();
    assert_eq!(
        run.outside_entry.len(),
        without_both,
        "{:?}",
        run.outside_entry
    );
    for code in STRUCTURE_CHECKS {
        assert!(
            run.results.iter().any(|r| r["code"] == code),
            "no {code} result"
        );
    }
    assert_eq!(run.exit, 1, "failures exit 1\n{}", run.stderr);
}

#[test]
fn a_faithful_copy_given_as_the_artifact_passes_every_structure_check() {
    // Its own run, to see the exit code of a selection with no failure.
    let run = run(DEFAULT, &["model=llama-given"]);
    let mut codes: Vec<&str> = run
        .results
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    codes.sort_unstable();
    // DIF001 compares two levels the entry does not list: no result, and the report says so.
    let mut expected: Vec<&str> = STRUCTURE_CHECKS
        .iter()
        .copied()
        .filter(|c| *c != "DIF001")
        .collect();
    expected.sort_unstable();
    assert_eq!(codes, expected, "{}", run.stderr);
    assert!(
        run.outside("DIF001", "llama-given")
            .contains("no int8 level")
    );
    for r in &run.results {
        assert_well_formed(r);
        assert_eq!(r["verdict"], "pass", "{r}");
    }
    assert_eq!(run.exit, 0, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// INS001 inspect-metadata-mismatch
// ---------------------------------------------------------------------------------------------

#[test]
fn ins001_passes_on_tiny_llama_f32() {
    let r = passes("INS001", "tiny-llama", Some("f32"));
    assert_eq!(evidence(r), 6);
    assert!(message(r).contains("all 6 fields"), "{r}");
}

#[test]
fn ins001_fails_on_another_models_apr() {
    // tiny-qwen2 has tiny-llama's dimensions: only the architecture differs.
    let r = fails(
        "INS001",
        "llama-given-qwen2",
        Some("f32"),
        &[
            "1 of 6 fields",
            "architecture \"qwen2\" (expected \"llama\")",
        ],
    );
    assert_eq!(evidence(r), 6);
}

#[test]
fn ins001_fails_on_an_apr_imported_from_a_config_that_states_another_vocabulary() {
    // apr 0.72.3 copies config.json's vocab_size into the `.apr` without checking it against
    // the embedding (so INS001 passes on that model's own entry: both read the same lie).
    passes("INS001", "llama-vocab4096", Some("f32"));
    fails(
        "INS001",
        "llama-given-vocab4096",
        Some("f32"),
        &["vocab_size 4096 (expected 2048)"],
    );
}

// ---------------------------------------------------------------------------------------------
// INS003 inspect-contradicts-tensors
// ---------------------------------------------------------------------------------------------

#[test]
fn ins003_passes_where_the_header_matches_the_tensors() {
    for (model, quant) in [
        ("tiny-llama", "f32"),
        ("tiny-qwen2", "int8"),
        ("tiny-qwen2", "int4"),
    ] {
        let r = passes("INS003", model, Some(quant));
        assert_eq!(evidence(r), 7, "{r}");
    }
}

#[test]
fn ins003_fails_on_an_apr_whose_header_states_a_vocabulary_its_embedding_lacks() {
    // INS001 passes on this model's own entry (config.json and the header tell the same lie);
    // the file's own embedding shows it.
    fails(
        "INS003",
        "llama-vocab4096",
        Some("f32"),
        &["vocab_size 4096 but rows of model.embed_tokens.weight [2048, 64] says 2048"],
    );
}

#[test]
fn ins003_fails_on_tiny_gpt2_whose_feed_forward_apr_stores_transposed() {
    // apr 0.72.3 names GPT-2's c_fc `mlp.up_proj.weight` (the [out, in] convention of the
    // name) but keeps Conv1D's [in, out] shape.
    fails(
        "INS003",
        "tiny-gpt2",
        Some("f32"),
        &["intermediate_size 256", "[64, 256]", "stored transposed"],
    );
}

// ---------------------------------------------------------------------------------------------
// INS002 inspect-quantized-flag-wrong
// ---------------------------------------------------------------------------------------------

#[test]
fn ins002_passes_on_tiny_qwen2_f32() {
    let r = passes("INS002", "tiny-qwen2", Some("f32"));
    assert_eq!(r["details"]["flags"]["quantized"], false, "{r}");
}

#[test]
fn ins002_fails_on_tiny_qwen2_int8_whose_quantized_flag_apr_leaves_clear() {
    let r = fails(
        "INS002",
        "tiny-qwen2",
        Some("int8"),
        &["flags.quantized is false (expected true)"],
    );
    assert_eq!(evidence(r), 1);
}

#[test]
fn ins002_skips_fp16_saying_why() {
    skips("INS002", "tiny-llama", Some("fp16"), "half precision");
}

// ---------------------------------------------------------------------------------------------
// VAL001 validate-check-fails
// ---------------------------------------------------------------------------------------------

#[test]
fn val001_passes_on_tiny_gpt2_int8() {
    let r = passes("VAL001", "tiny-gpt2", Some("int8"));
    assert_eq!(evidence(r), 5, "apr 0.72.3 runs 5 checks on a .apr: {r}");
}

#[test]
fn val001_fails_on_tiny_qwen2_q4k_whose_embeddings_fail_apr_content_validation() {
    let r = fails(
        "VAL001",
        "tiny-qwen2",
        Some("q4k"),
        &["2 tensors fail apr's content validation"],
    );
    assert_eq!(r["details"]["passed"], false, "{r}");
}

#[test]
fn val001_fails_on_a_copy_with_a_nan_token_embedding() {
    let r = fails(
        "VAL001",
        "llama-given-nan-embedding",
        Some("f32"),
        &["1 tensors fail apr's content validation"],
    );
    assert_eq!(r["details"]["content_failed_tensors"], 1, "{r}");
}

// ---------------------------------------------------------------------------------------------
// VAL002 validate-exit-contradicts-verdict
// ---------------------------------------------------------------------------------------------

#[test]
fn val002_passes_on_tiny_llama_int4() {
    let r = passes("VAL002", "tiny-llama", Some("int4"));
    assert_eq!(r["details"]["exit_code"], 0, "{r}");
}

#[test]
fn val002_fails_on_tiny_qwen2_q4k_where_apr_says_valid_and_not_passed() {
    let r = fails(
        "VAL002",
        "tiny-qwen2",
        Some("q4k"),
        &["exit 5", "passed=false verdict=VALID"],
    );
    assert_eq!(r["details"]["exit_code"], 5, "{r}");
}

#[test]
fn val002_fails_on_a_copy_with_a_nan_token_embedding() {
    fails(
        "VAL002",
        "llama-given-nan-embedding",
        Some("f32"),
        &["exit 5", "passed=false verdict=VALID"],
    );
}

// ---------------------------------------------------------------------------------------------
// TNS001 tensor-layout-differs-from-source
// ---------------------------------------------------------------------------------------------

#[test]
fn tns001_passes_on_tiny_gpt2_f32_after_apr_renaming() {
    // GPT-2's 28 source tensors: c_attn (weight and bias) split in three, a tied lm_head added.
    let r = passes("TNS001", "tiny-gpt2", Some("f32"));
    assert_eq!(evidence(r), 37, "{r}");
}

#[test]
fn tns001_fails_on_another_models_apr() {
    let r = fails(
        "TNS001",
        "llama-given-qwen2",
        Some("f32"),
        &["21 tensors expected, apr lists 27", "6 unexpected"],
    );
    assert_eq!(r["details"]["unexpected"].as_array().unwrap().len(), 6);
    assert!(r["details"]["missing"].as_array().unwrap().is_empty());
}

#[test]
fn tns001_fails_on_a_copy_with_a_renamed_tensor() {
    let r = fails(
        "TNS001",
        "llama-given-renamed-tensor",
        Some("f32"),
        &[
            "1 missing: model.layers.1.mlp.up_proj.weight",
            "1 unexpected: model.layers.1.mlp.lm_head.weight",
        ],
    );
    assert_eq!(evidence(r), 21);
}

#[test]
fn tns001_skips_a_hub_model_saying_why() {
    skips("TNS001", "smollm-135m", Some("int8"), NO_LOCAL_SOURCE);
}

// ---------------------------------------------------------------------------------------------
// TNS002 tensor-dtype-wrong-for-quant
// ---------------------------------------------------------------------------------------------

#[test]
fn tns002_passes_on_tiny_qwen2_int4() {
    let r = passes("TNS002", "tiny-qwen2", Some("int4"));
    assert_eq!(r["details"]["dtype_counts"]["q4"], 16, "{r}");
}

#[test]
fn tns002_fails_on_an_int8_apr_given_for_an_f32_entry() {
    let r = fails(
        "TNS002",
        "qwen2-given-int8-as-f32",
        Some("f32"),
        &[
            "16 of 27 tensors have the wrong dtype for f32",
            "is q8 (expected f32)",
        ],
    );
    assert_eq!(evidence(r), 27);
}

// ---------------------------------------------------------------------------------------------
// LNT001 lint-error
// ---------------------------------------------------------------------------------------------

#[test]
fn lnt001_passes_on_tiny_llama_f32_with_apr_metadata_warnings() {
    let r = passes("LNT001", "tiny-llama", Some("f32"));
    assert!(message(r).contains("3 warnings"), "{r}");
}

/// apr lint's only error-level rule (F-LAYOUT-CONTRACT-002) holds `lm_head.weight` to a
/// vocabulary and hidden size it takes from the last 2-D tensor whose name contains
/// "lm_head": with one such tensor it compares lm_head with itself. A second one, here a
/// renamed MLP matrix, is the input that makes it (and so LNT001) fail.
#[test]
fn lnt001_fails_on_a_copy_with_a_second_lm_head_tensor() {
    let r = fails(
        "LNT001",
        "llama-given-renamed-tensor",
        Some("f32"),
        &[
            "1 error-level issues",
            "F-LAYOUT-CONTRACT-002",
            "expected [128, 64], got [2048, 64]",
        ],
    );
    assert_eq!(r["details"]["exit_code"], 5, "{r}");
}

// ---------------------------------------------------------------------------------------------
// SLF001 selftest-stages-fail
// ---------------------------------------------------------------------------------------------

#[test]
fn slf001_passes_on_tiny_llama_int8() {
    let r = passes("SLF001", "tiny-llama", Some("int8"));
    assert!(message(r).contains("10 of 10 stages pass"), "{r}");
}

#[test]
fn slf001_fails_on_tiny_gpt2_whose_mlp_apr_check_cannot_find() {
    fails(
        "SLF001",
        "tiny-gpt2",
        Some("f32"),
        &["6 of 10 stages pass (at least 7 required)", "Missing MLP"],
    );
}

#[test]
fn slf001_fails_against_more_stages_than_apr_check_runs() {
    assert_eq!(strict_run().exit, 1, "{}", strict_run().stderr);
    fails_in(
        strict_run(),
        "SLF001",
        "tiny-llama",
        Some("f32"),
        &["10 of 10 stages pass (at least 11 required)"],
    );
}

/// 7 of 10 stages pass on a `.apr` whose forward pass cannot run (an MLP tensor renamed
/// away): the count alone would pass it, the logits and sampler stages do not.
#[test]
fn slf001_fails_a_copy_whose_forward_pass_fails_whatever_the_count() {
    fails(
        "SLF001",
        "llama-given-renamed-tensor",
        Some("f32"),
        &[
            "7 of 10 stages pass",
            "the forward pass does not complete",
            "Forward failed",
        ],
    );
}

#[test]
fn slf001_fails_a_copy_with_a_nan_token_embedding() {
    fails(
        "SLF001",
        "llama-given-nan-embedding",
        Some("f32"),
        &[
            "8 of 10 stages pass",
            "Logits → Probs FAIL",
            "Sampler/Decode FAIL",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// DIF001 int8-int4-structural-diff
// ---------------------------------------------------------------------------------------------

#[test]
fn dif001_passes_on_tiny_qwen2() {
    let r = passes("DIF001", "tiny-qwen2", None);
    assert!(message(r).contains("none structural"), "{r}");
}

#[test]
fn dif001_fails_when_the_cached_int4_is_another_models() {
    let r = fails(
        "DIF001",
        "qwen2-int4-swapped",
        None,
        &[
            "structural",
            "architecture: qwen2 vs llama",
            "tensor_count: 27 vs 21",
        ],
    );
    assert!(evidence(r) > 0);
}

#[test]
fn dif001_is_no_result_for_a_model_without_both_levels_and_the_report_says_why() {
    let run = default_run();
    assert!(
        !run.results
            .iter()
            .any(|r| r["code"] == "DIF001" && r["model"] == "llama-given"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.outside("DIF001", "llama-given"),
        "llama-given lists no int8 level in its entry"
    );
}

// ---------------------------------------------------------------------------------------------
// TRE001 tree-count-mismatch
// ---------------------------------------------------------------------------------------------

#[test]
fn tre001_passes_on_tiny_qwen2_int8() {
    let r = passes("TRE001", "tiny-qwen2", Some("int8"));
    assert!(message(r).contains("27 tensors in 2 layers"), "{r}");
}

#[test]
fn tre001_fails_on_another_models_apr() {
    let r = fails(
        "TRE001",
        "llama-given-qwen2",
        Some("f32"),
        &["27 tensors, expected 21"],
    );
    assert_eq!(r["details"]["layers"], 2, "{r}");
}

#[test]
fn tre001_skips_a_hub_model_saying_why() {
    skips("TRE001", "smollm-135m", Some("int8"), NO_LOCAL_SOURCE);
}

// ---------------------------------------------------------------------------------------------
// ORI001 oracle-wrong-architecture
// ---------------------------------------------------------------------------------------------

#[test]
fn ori001_passes_on_tiny_gpt2_int4() {
    let r = passes("ORI001", "tiny-gpt2", Some("int4"));
    assert!(message(r).contains("\"gpt2\""), "{r}");
}

#[test]
fn ori001_fails_on_another_models_apr() {
    fails(
        "ORI001",
        "llama-given-qwen2",
        Some("f32"),
        &["format.architecture is \"qwen2\", expected \"llama\""],
    );
}

// ---------------------------------------------------------------------------------------------
// HEX001 hex-stats-disagree-with-source
// ---------------------------------------------------------------------------------------------

#[test]
fn hex001_passes_on_tiny_qwen2_int4_within_the_quantization_tolerance() {
    let r = passes("HEX001", "tiny-qwen2", Some("int4"));
    assert_eq!(evidence(r), 4, "{r}");
}

#[test]
fn hex001_fails_on_tiny_qwen2_q4k_whose_embedding_loses_its_spread() {
    fails(
        "HEX001",
        "tiny-qwen2",
        Some("q4k"),
        &["model.embed_tokens.weight (Q4K)", "std 0.098"],
    );
}

#[test]
fn hex001_fails_on_another_models_apr() {
    let r = fails(
        "HEX001",
        "llama-given-qwen2",
        Some("f32"),
        &["std 0.154660 vs source 0.079993"],
    );
    assert_eq!(evidence(r), 4);
}

#[test]
fn hex001_fails_on_a_copy_with_a_nan_token_embedding() {
    fails(
        "HEX001",
        "llama-given-nan-embedding",
        Some("f32"),
        &["degenerate: std NaN"],
    );
}

#[test]
fn hex001_skips_a_hub_model_saying_why() {
    skips("HEX001", "smollm-135m", Some("int8"), NO_LOCAL_SOURCE);
}

// ---------------------------------------------------------------------------------------------
// DBG001 debug-reports-wrong-model
// ---------------------------------------------------------------------------------------------

#[test]
fn dbg001_passes_on_tiny_gpt2_int8() {
    let r = passes("DBG001", "tiny-gpt2", Some("int8"));
    assert!(message(r).contains("37 tensors, 395008 parameters"), "{r}");
}

#[test]
fn dbg001_fails_on_another_models_apr() {
    fails(
        "DBG001",
        "llama-given-qwen2",
        Some("f32"),
        &[
            "27 tensors, expected 21",
            "336448 parameters, expected 336192",
            "architecture \"qwen2\", expected \"llama\"",
        ],
    );
}

#[test]
fn dbg001_skips_a_hub_model_saying_why() {
    skips("DBG001", "smollm-135m", Some("int8"), NO_LOCAL_SOURCE);
}

// ---------------------------------------------------------------------------------------------
// BEN001 bench-no-throughput
// ---------------------------------------------------------------------------------------------

#[test]
fn ben001_passes_on_tiny_llama_f32() {
    let r = passes("BEN001", "tiny-llama", Some("f32"));
    assert_eq!(evidence(r), BENCH_TOKENS, "{r}");
}

#[test]
fn ben001_is_an_error_naming_the_panic_on_tiny_qwen2_int8() {
    let r = result(default_run(), "BEN001", "tiny-qwen2", Some("int8"));
    assert_eq!(r["verdict"], "error", "{r}");
    assert_eq!(r["error_class"], "panic", "{r}");
    assert!(message(r).contains("code 101"), "{r}");
    assert_eq!(evidence(r), 0);
}

/// When generation fails on every iteration (tiny-gpt2's q4k `.apr`: "Weight data too small"),
/// apr 0.72.3 reports the prompt's forward-pass throughput instead of failing; BEN001 holds the
/// tokens counted against the iterations times `max_new_tokens` it asked for.
#[test]
fn ben001_fails_a_bench_in_which_apr_generated_no_token() {
    let r = fails("BEN001", "tiny-gpt2", Some("q4k"), &["asked"]);
    let tokens = r["details"]["total_tokens"].as_u64().unwrap();
    assert!(tokens > 0 && tokens < BENCH_TOKENS, "{r}");
}

// ---------------------------------------------------------------------------------------------
// QA001 qa-gate-fails
// ---------------------------------------------------------------------------------------------

#[test]
fn qa001_passes_on_tiny_llama_f32() {
    let r = passes("QA001", "tiny-llama", Some("f32"));
    assert_eq!(evidence(r), 3, "{r}");
}

#[test]
fn qa001_fails_on_tiny_qwen2_q4k_whose_tensor_contract_fails() {
    fails(
        "QA001",
        "tiny-qwen2",
        Some("q4k"),
        &["1 failed", "tensor_contract", "F-DATA-QUALITY"],
    );
}

#[test]
fn qa001_fails_on_a_copy_with_a_nan_token_embedding() {
    fails(
        "QA001",
        "llama-given-nan-embedding",
        Some("f32"),
        &["tensor_contract", "NaN values detected"],
    );
}

#[test]
fn qa001_fails_against_more_gates_than_apr_qa_executes() {
    assert_eq!(strict_run().exit, 1, "{}", strict_run().stderr);
    fails_in(
        strict_run(),
        "QA001",
        "tiny-llama",
        Some("f32"),
        &["3 gates executed", "0 failed, at least 4 required"],
    );
}
