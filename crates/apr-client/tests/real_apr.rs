//! Every wrapper against the real apr on the bundled tiny models.
//!
//! apr comes from `TMGT_APR` or `PATH`; the models from `models/` at the repository root
//! (`TMGT_MODELS` overrides). Both are required: a missing one fails the tests with a message
//! instead of skipping them. Each test works in its own temporary folder, which is also apr's
//! `HOME` (apr qa keeps regression baselines there, apr list scans it).

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use apr_client::parse::{self, GateState, ModelFormat, ParityOutput, RunStatus};
use apr_client::{
    Apr, AprError, Captured, Invocation, QaOptions, Quantize, Reply, RunRequest, Termination,
    resolve_binary,
};

const TIMEOUT: Duration = Duration::from_secs(300);
const MODELS: [&str; 3] = ["llama", "qwen2", "gpt2"];

fn shared_apr() -> &'static Apr {
    static APR: OnceLock<Apr> = OnceLock::new();
    APR.get_or_init(|| {
        let binary = resolve_binary(None).unwrap_or_else(|e| {
            panic!(
                "the real-apr tests need apr 0.72.3 (cargo install apr-cli --version 0.72.3): {e}"
            )
        });
        Apr::open(
            binary,
            &semver::Version::new(0, 72, 3),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("apr could not be opened: {e}"))
    })
}

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("TMGT_MODELS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
        PathBuf::from,
    );
    let dir = std::fs::canonicalize(&dir).unwrap_or_else(|e| {
        panic!(
            "bundled models not found at {} ({e}); generate them (tools/fixtures/generate.py) \
             or set TMGT_MODELS",
            dir.display()
        )
    });
    for m in MODELS {
        let config = dir.join(format!("tiny-{m}/config.json"));
        assert!(config.is_file(), "missing {}", config.display());
    }
    dir
}

/// One test's world: apr with a private HOME, the models, a scratch folder, built artifacts.
struct World {
    apr: Apr,
    models: PathBuf,
    work: tempfile::TempDir,
    artifacts: RefCell<HashMap<String, PathBuf>>,
}

impl World {
    fn new() -> World {
        let work = tempfile::tempdir().unwrap();
        let home = work.path().join("home");
        std::fs::create_dir(&home).unwrap();
        World {
            apr: shared_apr()
                .clone()
                .with_env("HOME", home.to_str().unwrap()),
            models: models_dir(),
            work,
            artifacts: RefCell::new(HashMap::new()),
        }
    }

    fn hf(&self, m: &str) -> PathBuf {
        self.models.join(format!("tiny-{m}"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn exec(&self, inv: &Invocation) -> Captured {
        self.apr.execute(inv, TIMEOUT).unwrap()
    }

    /// Runs and parses, requiring no schema drift.
    fn call<T>(
        &self,
        inv: &Invocation,
        parser: fn(&Captured) -> Result<Reply<T>, AprError>,
    ) -> Reply<T> {
        let c = self.exec(inv);
        let reply = parser(&c).unwrap_or_else(|e| {
            panic!(
                "`{}` failed: {e}\nstderr:\n{}",
                inv.display(),
                c.stderr_text()
            )
        });
        assert!(
            reply.drift.is_empty(),
            "`{}` drift: {:?}",
            inv.display(),
            reply.drift
        );
        reply
    }

    /// Runs and expects apr's failure exit with no document.
    fn fail<T: std::fmt::Debug>(
        &self,
        inv: &Invocation,
        parser: fn(&Captured) -> Result<Reply<T>, AprError>,
        code: i32,
    ) -> String {
        match parser(&self.exec(inv)) {
            Err(AprError::Exit {
                code: got,
                stderr_tail,
                ..
            }) if got == code => stderr_tail,
            other => panic!("`{}`: expected exit {code}, got {other:?}", inv.display()),
        }
    }

    /// The model imported to APR (once per world).
    fn apr_file(&self, m: &str) -> PathBuf {
        if let Some(p) = self.artifacts.borrow().get(m) {
            return p.clone();
        }
        let out = self.path(&format!("tiny-{m}.apr"));
        let r = self.call(
            &Invocation::import(&self.hf(m), &out, None).unwrap(),
            parse::import,
        );
        assert_eq!((r.exit_code, r.value.status.as_str()), (0, "ok"));
        assert!(out.is_file());
        self.artifacts
            .borrow_mut()
            .insert(m.to_string(), out.clone());
        out
    }

    /// The APR exported to GGUF (llama and qwen2 only: GPT-2 export fails).
    fn gguf(&self, m: &str) -> PathBuf {
        let key = format!("{m}.gguf");
        if let Some(p) = self.artifacts.borrow().get(&key) {
            return p.clone();
        }
        let src = self.apr_file(m);
        let out = self.path(&format!("tiny-{m}.gguf"));
        let r = self.call(&Invocation::export_gguf(&src, &out).unwrap(), parse::export);
        assert_eq!((r.exit_code, r.value.status.as_str()), (0, "success"));
        self.artifacts.borrow_mut().insert(key, out.clone());
        out
    }
}

/// Expected structure of the bundled models.
struct Shape {
    arch: &'static str,
    apr_tensors: u64,
    kv_heads: u64,
}

fn shape(m: &str) -> Shape {
    match m {
        // 2 layers × 9 + embedding + final norm + untied lm_head.
        "llama" => Shape {
            arch: "llama",
            apr_tensors: 21,
            kv_heads: 2,
        },
        // 2 layers × 12 (q/k/v biases) + embedding + final norm; apr materialises the tied
        // lm_head on import (26 in the safetensors file, 27 in the APR).
        "qwen2" => Shape {
            arch: "qwen2",
            apr_tensors: 27,
            kv_heads: 2,
        },
        // GPT-2 is reported with its own head count (no GQA).
        _ => Shape {
            arch: "gpt2",
            apr_tensors: 0,
            kv_heads: 4,
        },
    }
}

#[test]
fn version_and_identity() {
    let w = World::new();
    let v = w.call(&Invocation::version(), parse::version).value;
    assert_eq!(v, *w.apr.version());
    assert_eq!((v.name.as_str(), v.version.as_str()), ("apr", "0.72.3"));
    assert!(w.apr.binary().is_absolute());
}

#[test]
fn import_and_inspect_every_model() {
    let w = World::new();
    for m in MODELS {
        let apr = w.apr_file(m);
        let v = w
            .call(&Invocation::inspect(&apr).unwrap(), parse::inspect)
            .value;
        assert_eq!(v.kind, ModelFormat::Apr);
        assert_eq!(v.architecture.as_deref(), Some(shape(m).arch), "{m}");
        assert_eq!(
            (v.num_layers, v.num_heads, v.hidden_size),
            (Some(2), Some(4), Some(64))
        );
        assert_eq!(v.vocab_size, Some(2048), "{m}");
        if m != "gpt2" {
            assert_eq!(v.tensor_count, shape(m).apr_tensors, "{m}");
            assert_eq!(v.num_kv_heads, Some(shape(m).kv_heads), "{m}");
        }
        assert_eq!(v.checksum_valid, Some(true));
        assert!(!v.flags.unwrap().quantized);
    }
}

#[test]
fn import_quantized_and_failures() {
    let w = World::new();
    let out = w.path("q4k.apr");
    let r = w.call(
        &Invocation::import(&w.hf("qwen2"), &out, Some(Quantize::Q4k)).unwrap(),
        parse::import,
    );
    assert_eq!(r.value.quantize.as_deref(), Some("Q4K"));
    let v = w
        .call(&Invocation::inspect(&out).unwrap(), parse::inspect)
        .value;
    assert_eq!(v.tensor_count, 27);

    let tail = w.fail(
        &Invocation::import(&w.path("absent"), &w.path("absent.apr"), None).unwrap(),
        parse::import,
        5,
    );
    assert!(tail.contains("File not found"), "{tail}");
    // Relative paths never reach apr.
    assert!(matches!(
        Invocation::import(Path::new("models/tiny-qwen2"), &out, None),
        Err(AprError::RelativePath { .. })
    ));
}

#[test]
fn export_gguf_and_its_failures() {
    let w = World::new();
    for m in ["llama", "qwen2"] {
        let gguf = w.gguf(m);
        let v = w
            .call(&Invocation::inspect(&gguf).unwrap(), parse::inspect)
            .value;
        assert_eq!(v.kind, ModelFormat::Gguf);
        assert_eq!(v.architecture.as_deref(), Some(shape(m).arch));
        assert_eq!(v.tensor_count, shape(m).apr_tensors, "{m}");
        // The uniform fields agree with the APR they came from.
        let a = w
            .call(
                &Invocation::inspect(&w.apr_file(m)).unwrap(),
                parse::inspect,
            )
            .value;
        assert_eq!(
            (
                v.num_layers,
                v.num_heads,
                v.num_kv_heads,
                v.hidden_size,
                v.vocab_size
            ),
            (
                a.num_layers,
                a.num_heads,
                a.num_kv_heads,
                a.hidden_size,
                a.vocab_size
            ),
            "{m}"
        );
        assert_eq!(v.total_params, a.total_params, "{m}");
        assert_eq!(
            v.quantization.as_deref(),
            Some("F32"),
            "tiny tensors stay F32"
        );
    }
    // GPT-2: apr's export gate demands a SwiGLU gate tensor GPT-2 does not have.
    let tail = w.fail(
        &Invocation::export_gguf(&w.apr_file("gpt2"), &w.path("tiny-gpt2.gguf")).unwrap(),
        parse::export,
        5,
    );
    assert!(
        tail.contains("Missing required tensor for architecture 'gpt2'"),
        "{tail}"
    );
    assert!(!w.path("tiny-gpt2.gguf").exists());
    // An existing output is refused.
    let tail = w.fail(
        &Invocation::export_gguf(&w.apr_file("qwen2"), &w.gguf("qwen2")).unwrap(),
        parse::export,
        5,
    );
    assert!(tail.contains("already exists"), "{tail}");
    // SafeTensors export works too.
    let st = w.path("roundtrip.safetensors");
    let r = w.call(
        &Invocation::export(&w.apr_file("llama"), &st, "safetensors", None).unwrap(),
        parse::export,
    );
    assert_eq!(
        (r.value.format.as_str(), r.value.tensor_count),
        ("SafeTensors", 21)
    );
}

#[test]
fn inspect_safetensors_and_missing_file() {
    let w = World::new();
    let st = w.hf("qwen2").join("model.safetensors");
    let v = w
        .call(&Invocation::inspect(&st).unwrap(), parse::inspect)
        .value;
    assert_eq!(v.kind, ModelFormat::SafeTensors);
    assert_eq!(
        (v.architecture.as_deref(), v.tensor_count),
        (Some("qwen2"), 26)
    );
    let tail = w.fail(
        &Invocation::inspect(&w.path("absent.apr")).unwrap(),
        parse::inspect,
        3,
    );
    assert!(tail.starts_with("error: File not found:"), "{tail}");
}

#[test]
fn validate_lint_check_debug() {
    let w = World::new();
    for m in ["llama", "qwen2"] {
        let apr = w.apr_file(m);
        // The reference expected exit 5 on the llama APR; apr 0.72.3 says VALID and exits 0.
        let r = w.call(&Invocation::validate(&apr).unwrap(), parse::validate);
        assert_eq!(r.exit_code, 0, "{m}");
        assert_eq!(
            (r.value.verdict.as_deref(), r.value.passed),
            (Some("VALID"), true)
        );
        assert_eq!(r.value.failed, 0);

        let g = w.call(&Invocation::validate(&w.gguf(m)).unwrap(), parse::validate);
        assert_eq!(g.value.format, "gguf");
        assert_eq!(g.value.total_tensors, Some(shape(m).apr_tensors));
        assert_eq!((g.value.total_nan, g.value.total_inf), (Some(0), Some(0)));

        let l = w.call(&Invocation::lint(&apr).unwrap(), parse::lint);
        assert_eq!(l.exit_code, 0);
        assert!(l.value.passed && l.value.error_count == 0);
        // license, model card and provenance are missing from a fresh import.
        assert_eq!(l.value.warn_count, 3);

        let c = w.call(&Invocation::check(&apr).unwrap(), parse::check);
        assert_eq!(c.exit_code, 0);
        assert!(c.value.all_passed, "{:?}", c.value.stages);
        assert_eq!(c.value.architecture, shape(m).arch);
        assert_eq!(c.value.passed, c.value.total);
        let c = w
            .call(&Invocation::check(&w.gguf(m)).unwrap(), parse::check)
            .value;
        assert_eq!(
            (c.total, c.all_passed),
            (11, true),
            "GGUF adds a data-quality stage"
        );

        let d = w
            .call(&Invocation::debug(&apr).unwrap(), parse::debug)
            .value;
        assert_eq!(
            (d.architecture.as_deref(), d.tensors),
            (Some(shape(m).arch), shape(m).apr_tensors)
        );
        assert_eq!(d.health, "OK");
    }
}

#[test]
fn tensors_tree_and_hex_agree() {
    let w = World::new();
    let apr = w.apr_file("qwen2");
    let t = w
        .call(&Invocation::tensors(&apr, true).unwrap(), parse::tensors)
        .value;
    assert_eq!((t.tensor_count, t.tensors.len()), (27, 27));
    let lm = t.get("lm_head.weight").unwrap();
    let emb = t.get("model.embed_tokens.weight").unwrap();
    assert_eq!(lm.shape, [2048, 64]);
    assert_eq!(
        (lm.mean, lm.std, lm.min, lm.max),
        (emb.mean, emb.std, emb.min, emb.max),
        "tied"
    );
    assert!(lm.std.unwrap() > 0.0);
    assert!(
        t.tensors
            .iter()
            .all(|x| x.nan_count == Some(0) && x.inf_count == Some(0))
    );
    let bytes: u64 = t.tensors.iter().map(|x| x.size_bytes).sum();
    assert_eq!(bytes, t.total_size_bytes);

    let root = w.call(&Invocation::tree(&apr).unwrap(), parse::tree).value;
    assert_eq!((root.tensor_count(), root.leaf_count()), (27, 27));
    let mut leaves = root.leaf_paths();
    let mut names: Vec<String> = t.tensors.iter().map(|x| x.name.clone()).collect();
    leaves.sort();
    names.sort();
    assert_eq!(leaves, names);

    let h = w
        .call(&Invocation::hex(&apr, "norm", true).unwrap(), parse::hex)
        .value;
    assert_eq!(h.tensors.len(), 5, "2 layers × 2 norms + final norm");
    let norm = &h.tensors[0];
    assert_eq!(
        (norm.shape.as_slice(), norm.sample_values.len()),
        ([64].as_slice(), 64)
    );
    let stats = norm.stats.as_ref().unwrap();
    let listed = t.get(&norm.name).unwrap();
    assert!(
        (stats.mean - listed.mean.unwrap()).abs() < 1e-5,
        "hex and tensors agree"
    );

    let g = w.call(
        &Invocation::hex(&w.gguf("qwen2"), "output_norm", true).unwrap(),
        parse::hex,
    );
    assert!(g.value.header.unwrap().contains("Tensors: 27"));
    assert_eq!(g.value.tensors.len(), 1);
    assert!(g.value.tensors[0].gguf_dims);
    let none = w.call(
        &Invocation::hex(&apr, "no-such-tensor", false).unwrap(),
        parse::hex,
    );
    assert!(none.value.tensors.is_empty());
}

#[test]
fn diff_oracle_rosetta() {
    let w = World::new();
    let (apr, gguf) = (w.apr_file("qwen2"), w.gguf("qwen2"));
    let d = w
        .call(&Invocation::diff(&apr, &gguf).unwrap(), parse::diff)
        .value;
    assert!(!d.identical);
    assert_eq!((d.format1.as_str(), d.format2.as_str()), ("APR", "GGUF"));
    assert_eq!(d.differences.len() as u64, d.difference_count);

    let v = w.call(
        &Invocation::diff_values(&apr, &gguf, 1000).unwrap(),
        parse::diff_values,
    );
    assert_eq!(v.exit_code, 0);
    assert!(v.value.tensors_compared > 0);
    for t in &v.value.results {
        assert_eq!(
            (t.max_diff, t.cosine_similarity),
            (0.0, 1.0),
            "F32 export is lossless: {}",
            t.name
        );
    }

    let o = w
        .call(&Invocation::oracle(&apr).unwrap(), parse::oracle)
        .value;
    assert_eq!(
        (o.mode.as_str(), o.architecture()),
        ("local", Some("qwen2"))
    );
    assert_eq!(o.format.unwrap().tensor_count, 27);

    // diff-tensors counts the GGML dim order of apr's own export as 12 layout mismatches
    // (every non-square matrix) and exits 5 after printing the document.
    let r = w.call(
        &Invocation::rosetta_diff_tensors(&apr, &gguf).unwrap(),
        parse::rosetta_diff_tensors,
    );
    assert_eq!(r.exit_code, 5);
    assert_eq!((r.value.tensors_a, r.value.tensors_b), (27, 27));
    assert_eq!(
        (
            r.value.layout_mismatches,
            r.value.missing_in_a,
            r.value.missing_in_b
        ),
        (12, 0, 0)
    );
    for m in &r.value.mismatched_tensors {
        let mut reversed = m.shape_b.clone();
        reversed.reverse();
        assert_eq!(m.shape_a, reversed, "{}", m.name);
    }
    let same = w.call(
        &Invocation::rosetta_diff_tensors(&apr, &apr).unwrap(),
        parse::rosetta_diff_tensors,
    );
    assert_eq!((same.exit_code, same.value.layout_mismatches), (0, 0));

    // fingerprint: names and shapes are right, every statistic is 0 (apr 0.72.3 bug).
    let f = w
        .call(
            &Invocation::rosetta_fingerprint(&apr).unwrap(),
            parse::rosetta_fingerprint,
        )
        .value;
    assert_eq!(f.fingerprints.len(), 27);
    assert!(
        f.fingerprints
            .iter()
            .all(|x| x.mean == 0.0 && x.std == 0.0 && x.max == 0.0)
    );
}

#[test]
fn run_gguf_and_apr_qwen2() {
    let w = World::new();
    let prompt = "def add(a, b):";
    let g = w.call(
        &Invocation::run(&w.gguf("qwen2"), prompt, 8, Some(5)).unwrap(),
        parse::run,
    );
    assert_eq!(g.exit_code, 0);
    let g = g.value;
    assert_eq!(g.status, RunStatus::Ok);
    assert_eq!((g.tokens.len(), g.completion_tokens), (8, Some(8)));
    assert!(!g.used_gpu.unwrap());
    let lp = g.logprobs.as_ref().unwrap();
    assert_eq!((lp.top_k, lp.steps.len()), (5, 8));
    assert_eq!(lp.prompt_token_ids[0], 0, "BOS prepended on the GGUF path");
    assert_eq!(g.prompt_tokens, Some(lp.prompt_token_ids.len() as u64));
    for (step, token) in lp.steps.iter().zip(&g.tokens) {
        assert_eq!(step.chosen, *token);
        assert_eq!(
            step.top[0].token_id, step.chosen,
            "greedy picks the top token"
        );
        assert!(step.top.windows(2).all(|p| p[0].logprob >= p[1].logprob));
        assert!((step.top[0].logit - step.logsumexp_full - step.top[0].logprob).abs() < 1e-3);
    }
    // BOS, then the prompt exactly as the HF tokenizer splits it.
    assert_eq!(lp.prompt_token_ids, [0, 508, 878, 1461, 12, 286, 1220]);
    let a = w
        .call(
            &Invocation::run(&w.apr_file("qwen2"), prompt, 8, None).unwrap(),
            parse::run,
        )
        .value;
    assert_eq!((a.status, a.tokens.len()), (RunStatus::Ok, 8));
    assert_eq!(a.prompt_tokens, Some(6), "no BOS on the APR path");
    // The APR path tokenizes the prompt differently (merges-only BPE, no pre-tokenizer
    // regex): its first generated token is the "):" (1220) the GGUF prompt already ends with.
    assert_eq!(a.tokens[0], 1220);
    assert_ne!(a.tokens, g.tokens);
    assert!(a.logprobs.is_none());
    assert_ne!(a.model_digest, g.model_digest);
}

#[test]
fn run_llama_and_gpt2() {
    let w = World::new();
    let prompt = "def add(a, b):";
    let g = w.call(
        &Invocation::run(&w.gguf("llama"), prompt, 8, None).unwrap(),
        parse::run,
    );
    assert_eq!((g.exit_code, g.value.tokens.len()), (0, 8));
    let a = w.call(
        &Invocation::run(&w.apr_file("llama"), prompt, 8, None).unwrap(),
        parse::run,
    );
    assert_eq!((a.exit_code, a.value.tokens.len()), (0, 8));
    // Exported llama GGUFs use pre-tokenizer "default": apr tokenizes the GGUF prompt by greedy
    // longest match and warns.
    let c = w.exec(&Invocation::run(&w.gguf("llama"), prompt, 1, None).unwrap());
    assert!(
        c.stderr_text()
            .contains("falling back to greedy longest-match"),
        "{}",
        c.stderr_text()
    );
    let gpt2 = w.call(
        &Invocation::run(&w.apr_file("gpt2"), prompt, 8, None).unwrap(),
        parse::run,
    );
    assert_eq!((gpt2.exit_code, gpt2.value.tokens.len()), (0, 8));
}

#[test]
fn run_failures() {
    let w = World::new();
    let gguf = w.gguf("qwen2");
    // Empty completion: the document comes first, then exit 8.
    let r = w.call(
        &Invocation::run(&gguf, "def add(a, b):", 0, None).unwrap(),
        parse::run,
    );
    assert_eq!(r.exit_code, 8);
    assert_eq!(r.value.status, RunStatus::Failed);
    assert_eq!(r.value.error.unwrap().kind, "empty_completion");
    // --logprobs is GGUF only: refused on APR with exit 8 and no document.
    let tail = w.fail(
        &Invocation::run(&w.apr_file("qwen2"), "hi", 4, Some(3)).unwrap(),
        parse::run,
        8,
    );
    assert!(
        tail.contains("only the GGUF session engine records per-step logprobs"),
        "{tail}"
    );
    w.fail(
        &Invocation::run(&w.path("absent.gguf"), "hi", 4, None).unwrap(),
        parse::run,
        3,
    );
    // -v prints the prompt ids on the GGUF path.
    let inv = RunRequest::new(&gguf, "def add(a, b):")
        .max_tokens(1)
        .verbose(true)
        .build()
        .unwrap();
    let c = w.exec(&inv);
    assert!(
        c.stderr_text().contains("encoded 7 tokens"),
        "{}",
        c.stderr_text()
    );
}

#[test]
fn eval_perplexity() {
    let w = World::new();
    let (gguf, apr) = (w.gguf("qwen2"), w.apr_file("qwen2"));
    let text = "def add(a, b): return a + b";
    let t = w.call(
        &Invocation::eval_text(&gguf, text, 512).unwrap(),
        parse::eval,
    );
    assert_eq!(t.exit_code, 0);
    assert_eq!(
        (t.value.dataset.as_str(), t.value.tokens_evaluated),
        ("Custom", 10)
    );
    assert!(t.value.passed && t.value.perplexity > 1.0 && t.value.perplexity.is_finite());
    assert!((t.value.perplexity.ln() - t.value.cross_entropy).abs() < 1e-3);
    // The APR path (AprTransformer) agrees with the GGUF engine on Qwen2.
    let ta = w.call(
        &Invocation::eval_text(&apr, text, 512).unwrap(),
        parse::eval,
    );
    assert!((ta.value.perplexity - t.value.perplexity).abs() < 1e-3 * t.value.perplexity);

    // Built-in paragraph at threshold 20: a tiny model fails the gate; JSON first, exit 5.
    let b = w.call(&Invocation::eval_builtin(&gguf, 20.0).unwrap(), parse::eval);
    assert_eq!(b.exit_code, 5);
    assert!(!b.value.passed && b.value.perplexity > 20.0);
    assert_eq!(b.value.dataset, "WikiText2");
    let ba = w.call(&Invocation::eval_builtin(&apr, 1e9).unwrap(), parse::eval);
    assert_eq!(ba.exit_code, 0, "no panic on .apr in 0.72.3");
    assert!((ba.value.perplexity - b.value.perplexity).abs() < 1e-3 * b.value.perplexity);
}

#[test]
fn bench() {
    let w = World::new();
    for model in [w.gguf("qwen2"), w.apr_file("qwen2")] {
        let r = w.call(&Invocation::bench(&model, 2, 0, 8).unwrap(), parse::bench);
        assert_eq!(r.exit_code, 0, "no panic on this model");
        let v = r.value;
        assert_eq!(
            (v.iterations, v.total_tokens, v.samples_ms.len()),
            (2, 16, 2)
        );
        assert!(v.passed && v.tokens_per_second >= 10.0);
    }
    // --iterations 0 divides by zero.
    let tail = w.fail(
        &Invocation::bench(&w.gguf("qwen2"), 0, 0, 4).unwrap(),
        parse::bench,
        101,
    );
    assert!(
        tail.contains("apr_cli::commands::bench") || tail.contains("panicked"),
        "{tail}"
    );
}

#[test]
fn qa_gates() {
    let w = World::new();
    let gguf = w.gguf("qwen2");
    let r = w.call(
        &Invocation::qa(&gguf, &QaOptions::tiny_model()).unwrap(),
        parse::qa,
    );
    assert_eq!(r.exit_code, 0);
    let v = r.value;
    assert!(v.passed);
    assert_eq!((v.gates_executed, v.gates_skipped), (2, 11));
    assert_eq!(v.gate("tensor_contract").unwrap().value, Some(27.0));
    assert_eq!(v.gate("golden_output").unwrap().state(), GateState::Skipped);
    assert_eq!(
        v.gate("performance_regression").unwrap().state(),
        GateState::Passed
    );

    // Golden output on a tiny model: the gate runs and fails; JSON first, exit 5.
    let all = QaOptions {
        skip_golden: false,
        ..QaOptions::tiny_model()
    };
    let r = w.call(
        &Invocation::qa(&w.apr_file("qwen2"), &all).unwrap(),
        parse::qa,
    );
    assert_eq!(r.exit_code, 5);
    assert_eq!(
        r.value.gate("golden_output").unwrap().state(),
        GateState::Failed
    );
    assert_eq!(r.value.summary, "Failed gates: golden_output");

    // A missing --previous-report still yields a report: one failed `qa_run` gate.
    let broken = QaOptions {
        previous_report: Some(w.path("absent.json")),
        ..QaOptions::tiny_model()
    };
    let r = w.call(&Invocation::qa(&gguf, &broken).unwrap(), parse::qa);
    assert_eq!((r.exit_code, r.value.gates.len()), (5, 1));
    assert_eq!(r.value.gates[0].name, "qa_run");
}

#[test]
fn list_pull_compare_hf_parity() {
    let w = World::new();
    let l = w.call(&Invocation::list(), parse::list).value;
    assert_eq!((l.total, l.models.len()), (0, 0), "fresh HOME");

    let p = w
        .call(
            &Invocation::pull_dry_run("hf://Qwen/Qwen2-0.5B").unwrap(),
            parse::pull_dry_run,
        )
        .value;
    assert_eq!(
        (p.resolved.as_str(), p.mode.as_str()),
        ("hf://Qwen/Qwen2-0.5B", "dry-run")
    );
    assert!(!p.offline);
    let p = w.call(
        &Invocation::pull_dry_run("hf://Qwen/Qwen2-0.5B")
            .unwrap()
            .offline(),
        parse::pull_dry_run,
    );
    assert!(p.value.offline);

    // The hub commands, offline so that no machine downloads a model: exit 10.
    let tail = w.fail(
        &Invocation::pull("hf://Qwen/Qwen2-0.5B").unwrap().offline(),
        parse::pull,
        10,
    );
    assert!(tail.contains("in --offline mode"), "{tail}");
    let tail = w.fail(
        &Invocation::compare_hf(&w.apr_file("qwen2"), "Qwen/Qwen2-0.5B")
            .unwrap()
            .offline(),
        parse::compare_hf,
        10,
    );
    assert_eq!(
        tail,
        "error: Network error: Cannot run compare-hf in --offline mode (requires HuggingFace download)."
    );

    // parity compares CPU and GPU logits; this apr is built without CUDA.
    let inv = Invocation::parity(&w.gguf("qwen2"), "def add(a, b):").unwrap();
    if w.apr.version().cuda_feature {
        let r = w.call(&inv, parse::parity);
        match r.value {
            ParityOutput::Measured(m) => assert!(m.tokens > 0),
            ParityOutput::Refused(refusal) => assert_eq!(r.exit_code, 12, "{refusal:?}"),
        }
    } else {
        let tail = w.fail(&inv, parse::parity, 9);
        assert_eq!(
            tail,
            "error: Feature not enabled: cuda feature required for parity check"
        );
    }
}

#[test]
fn timeout_kills_real_apr() {
    let w = World::new();
    let gguf = w.gguf("qwen2");
    let inv = Invocation::bench(&gguf, 1_000_000, 0, 128).unwrap();
    let start = Instant::now();
    let c = w.apr.execute(&inv, Duration::from_millis(700)).unwrap();
    assert_eq!(
        c.termination,
        Termination::TimedOut(Duration::from_millis(700))
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(parse::bench(&c), Err(AprError::TimedOut { .. })));
    // No process that was given this model is left (zombies awaiting reaping aside).
    let needle = gguf.to_str().unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let alive = processes_mentioning(needle);
        if alive.is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "apr processes survived the timeout: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids of live (non-zombie) processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie {
            out.push(pid);
        }
    }
    out
}

#[test]
fn chat_reads_its_turns_on_stdin_and_traces_each() {
    let w = World::new();
    let gguf = w.gguf("qwen2");
    let turns = ["Hello!".to_string(), "What is 2+2?".to_string()];
    let request = apr_client::ChatRequest::new(&gguf, &turns)
        .system(Some("Be terse."))
        .max_tokens(4);
    let traced = w.call(&request.clone().trace(true).build().unwrap(), parse::chat);
    assert_eq!(traced.value.len(), 2, "{traced:?}");
    let (first, second) = (&traced.value[0], &traced.value[1]);
    for (turn, said) in [(first, "Hello!"), (second, "What is 2+2?")] {
        let head = turn.rendered_head.as_deref().unwrap();
        assert!(head.contains("Be terse.") && head.contains(said), "{head}");
        let count = turn.prompt_token_count.unwrap();
        assert_eq!(turn.prompt_ids_head.len(), count.min(50), "{turn:?}");
    }
    // Turn 2's prompt holds the reply apr printed for turn 1.
    assert!(
        second
            .rendered_head
            .as_deref()
            .unwrap()
            .contains(first.reply.as_str()),
        "{traced:?}"
    );
    // Without --trace: the same replies, no trace.
    let plain = w.call(&request.build().unwrap(), parse::chat);
    let replies = |r: &Reply<Vec<parse::ChatTurn>>| {
        r.value.iter().map(|t| t.reply.clone()).collect::<Vec<_>>()
    };
    assert_eq!(replies(&plain), replies(&traced));
    assert!(plain.value.iter().all(|t| t.prompt_token_count.is_none()));
    // A turn apr would read as two lines is refused before any call.
    let two_lines = ["a\nb".to_string()];
    assert!(
        apr_client::ChatRequest::new(&gguf, &two_lines)
            .build()
            .is_err()
    );
}
