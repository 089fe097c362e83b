//! Parsers on captured real apr 0.72.3 output (see `tests/captures/capture.sh`).

#![allow(clippy::unwrap_used, clippy::float_cmp)]

mod common;

use apr_client::parse::{
    self, FinishReason, GateState, ModelFormat, ParityOutput, RunStatus, TreeKind,
};
use apr_client::{AprError, Captured, Reply, stage_dump};
use common::capture;

/// The parser each case is read with, by case-name prefix.
fn parser_for(case: &str) -> &'static str {
    const TABLE: &[(&str, &str)] = &[
        ("version", "version"),
        ("import", "import"),
        ("export", "export"),
        ("inspect", "inspect"),
        ("validate", "validate"),
        ("tensors", "tensors"),
        ("lint", "lint"),
        ("check", "check"),
        ("diff_values", "diff_values"),
        ("diff", "diff"),
        ("tree", "tree"),
        ("oracle", "oracle"),
        ("hex", "hex"),
        ("debug", "debug"),
        ("list", "list"),
        ("rosetta_diff_tensors", "rosetta_diff_tensors"),
        ("rosetta_fingerprint", "rosetta_fingerprint"),
        ("run", "run"),
        ("eval", "eval"),
        ("bench", "bench"),
        ("qa", "qa"),
        ("parity", "parity"),
        ("compare_hf", "compare_hf"),
        ("pull_dry_run", "pull_dry_run"),
        ("pull", "pull"),
        ("merge_plan", "merge_plan"),
        ("merge", "merge"),
        ("prune_plan", "prune_plan"),
        ("prune", "prune"),
        ("quantize_plan", "quantize_plan"),
        ("quantize", "quantize"),
        ("convert", "convert"),
        ("finetune_plan", "finetune_plan"),
        ("finetune_merge", "finetune_merge"),
        ("finetune", "finetune"),
        ("distill_plan", "distill_plan"),
        ("distill", "distill"),
        ("trace_stages", "trace_stages"),
        ("tokenize_encode", "tokenize_encode"),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| case.starts_with(prefix))
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no parser mapped for capture {case}"))
}

/// Cases where apr printed no document and failed: the parser must give `Exit` with this code.
const FAILURES: &[(&str, i32)] = &[
    ("export_gguf_gpt2", 5),
    ("import_missing", 5),
    ("export_exists", 5),
    ("inspect_missing", 3),
    ("run_apr_logprobs_refused", 8),
    ("run_missing", 3),
    ("bench_iterations_zero", 101),
    ("parity_gguf_qwen2", 9),
    ("compare_hf_offline", 10),
    ("pull_offline", 10),
    ("prune_ratio_zero", 5),
    ("trace_stages_gguf_refused", 6),
    ("tokenize_encode_apr_refused", 5),
];

/// Every capture is either parsed without any drift, or is a documented failure.
#[test]
fn every_capture_parses_cleanly_or_fails_as_recorded() {
    let cases = common::all_cases();
    assert!(cases.len() >= 50, "only {} captures", cases.len());
    let parsers = common::all_parsers();
    for case in &cases {
        let name = parser_for(case);
        let c = capture(case);
        let expected_failure = FAILURES
            .iter()
            .find(|(n, _)| n == case)
            .map(|(_, code)| *code);
        let result = drift_of(name, &c);
        match (expected_failure, result) {
            (None, Ok(drift)) => assert!(drift.is_empty(), "{case}: drift {drift:?}"),
            (Some(code), Err(AprError::Exit { code: got, .. })) => {
                assert_eq!(got, code, "{case}");
            }
            (expected, got) => panic!("{case}: expected failure {expected:?}, got {got:?}"),
        }
        assert!(parsers.iter().any(|(n, _)| *n == name));
    }
}

/// Parses with the named parser and returns its drift.
fn drift_of(name: &str, c: &Captured) -> Result<Vec<apr_client::FieldProblem>, AprError> {
    fn d<T>(r: Result<Reply<T>, AprError>) -> Result<Vec<apr_client::FieldProblem>, AprError> {
        r.map(|reply| reply.drift)
    }
    match name {
        "version" => d(parse::version(c)),
        "import" => d(parse::import(c)),
        "export" => d(parse::export(c)),
        "inspect" => d(parse::inspect(c)),
        "validate" => d(parse::validate(c)),
        "tensors" => d(parse::tensors(c)),
        "lint" => d(parse::lint(c)),
        "check" => d(parse::check(c)),
        "diff" => d(parse::diff(c)),
        "diff_values" => d(parse::diff_values(c)),
        "tree" => d(parse::tree(c)),
        "oracle" => d(parse::oracle(c)),
        "hex" => d(parse::hex(c)),
        "debug" => d(parse::debug(c)),
        "list" => d(parse::list(c)),
        "rosetta_diff_tensors" => d(parse::rosetta_diff_tensors(c)),
        "rosetta_fingerprint" => d(parse::rosetta_fingerprint(c)),
        "run" => d(parse::run(c)),
        "eval" => d(parse::eval(c)),
        "bench" => d(parse::bench(c)),
        "qa" => d(parse::qa(c)),
        "parity" => d(parse::parity(c)),
        "compare_hf" => d(parse::compare_hf(c)),
        "pull_dry_run" => d(parse::pull_dry_run(c)),
        "pull" => d(parse::pull(c)),
        "merge" => d(parse::merge(c)),
        "prune_plan" => d(parse::prune_plan(c)),
        "prune" => d(parse::prune(c)),
        "quantize" => d(parse::quantize(c)),
        "merge_plan" => d(parse::merge_plan(c)),
        "quantize_plan" => d(parse::quantize_plan(c)),
        "convert" => d(parse::convert(c)),
        "finetune_plan" => d(parse::finetune_plan(c)),
        "finetune_merge" => d(parse::finetune_merge(c)),
        "finetune" => d(parse::finetune(c)),
        "distill_plan" => d(parse::distill_plan(c)),
        "distill" => d(parse::distill(c)),
        "trace_stages" => d(parse::trace_stages(c)),
        "tokenize_encode" => d(parse::tokenize_encode(c)),
        other => panic!("unknown parser {other}"),
    }
}

fn ok<T>(r: Result<Reply<T>, AprError>) -> Reply<T> {
    let reply = r.unwrap();
    assert!(reply.drift.is_empty(), "drift: {:?}", reply.drift);
    reply
}

#[test]
fn version() {
    let v = ok(parse::version(&capture("version"))).value;
    assert_eq!((v.name.as_str(), v.version.as_str()), ("apr", "0.72.3"));
    assert_eq!(v.semver().unwrap(), semver::Version::new(0, 72, 3));
    assert_eq!(v.git_sha, "9c34b9a91");
    assert!(!v.cuda_feature && !v.cuda_runtime_available && v.visible_devices.is_empty());
}

#[test]
fn import_and_export() {
    for m in ["llama", "qwen2", "gpt2"] {
        let r = ok(parse::import(&capture(&format!("import_{m}"))));
        assert_eq!(r.exit_code, 0);
        let v = r.value;
        assert_eq!(v.source, format!("$MODELS/tiny-{m}"));
        assert_eq!(v.output, format!("$WORK/tiny-{m}.apr"));
        assert_eq!((v.architecture.as_str(), v.status.as_str()), ("Auto", "ok"));
        assert_eq!((v.quantize, v.score), (None, Some(100)));
    }
    let q = ok(parse::import(&capture("import_qwen2_q4k"))).value;
    assert_eq!(q.quantize.as_deref(), Some("Q4K"));

    let e = ok(parse::export(&capture("export_gguf_llama"))).value;
    assert_eq!((e.status.as_str(), e.format.as_str()), ("success", "GGUF"));
    assert_eq!(e.tensor_count, 21);
    let e = ok(parse::export(&capture("export_gguf_qwen2"))).value;
    assert_eq!(e.tensor_count, 27, "tied lm_head is written out");

    // GPT-2 GGUF export fails: apr demands a SwiGLU gate tensor that GPT-2 does not have.
    match parse::export(&capture("export_gguf_gpt2")) {
        Err(AprError::Exit {
            code: 5,
            stderr_tail,
            ..
        }) => assert!(
            stderr_tail.contains("blk.0.ffn_gate.weight"),
            "{stderr_tail}"
        ),
        other => panic!("{other:?}"),
    }
    match parse::export(&capture("export_exists")) {
        Err(AprError::Exit {
            code: 5,
            stderr_tail,
            ..
        }) => assert!(stderr_tail.contains("already exists"), "{stderr_tail}"),
        other => panic!("{other:?}"),
    }
    match parse::import(&capture("import_missing")) {
        Err(AprError::Exit {
            code: 5,
            stderr_tail,
            ..
        }) => assert!(stderr_tail.contains("File not found"), "{stderr_tail}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inspect_apr_exposes_metadata_uniformly() {
    let v = ok(parse::inspect(&capture("inspect_apr_llama"))).value;
    assert_eq!(v.kind, ModelFormat::Apr);
    assert_eq!(v.format, "APR v2");
    assert_eq!(v.architecture.as_deref(), Some("llama"));
    assert_eq!(
        (
            v.num_layers,
            v.num_heads,
            v.num_kv_heads,
            v.hidden_size,
            v.vocab_size
        ),
        (Some(2), Some(4), Some(2), Some(64), Some(2048))
    );
    assert_eq!(
        (v.intermediate_size, v.max_position_embeddings),
        (Some(128), Some(512))
    );
    assert_eq!(v.tensor_count, 21);
    assert_eq!(v.total_params, Some(336_192));
    let flags = v.flags.unwrap();
    assert!(!flags.quantized);
    // apr embeds the BPE merges (stderr says so, and `apr run` loads them), yet reports
    // has_vocab: false.
    assert!(!flags.has_vocab);
    assert_eq!(v.checksum_valid, Some(true));
    assert_eq!(v.metadata["hf_architecture"], "LlamaForCausalLM");

    let q = ok(parse::inspect(&capture("inspect_apr_qwen2"))).value;
    assert_eq!(q.architecture.as_deref(), Some("qwen2"));
    assert_eq!(
        q.tensor_count, 27,
        "the tied lm_head is materialised on import"
    );
    let g = ok(parse::inspect(&capture("inspect_apr_gpt2"))).value;
    assert_eq!(g.architecture.as_deref(), Some("gpt2"));
    assert_eq!(
        (g.num_layers, g.num_heads, g.hidden_size),
        (Some(2), Some(4), Some(64))
    );
}

#[test]
fn inspect_gguf_reads_arch_prefixed_keys() {
    let v = ok(parse::inspect(&capture("inspect_gguf_qwen2"))).value;
    assert_eq!(v.kind, ModelFormat::Gguf);
    assert_eq!(v.architecture.as_deref(), Some("qwen2"));
    assert_eq!(
        (
            v.num_layers,
            v.num_heads,
            v.num_kv_heads,
            v.hidden_size,
            v.vocab_size
        ),
        (Some(2), Some(4), Some(2), Some(64), Some(2048))
    );
    assert_eq!(
        (v.intermediate_size, v.max_position_embeddings),
        (Some(128), Some(512))
    );
    assert_eq!(v.tensor_count, 27);
    assert_eq!(v.quantization.as_deref(), Some("F32"));
    assert_eq!(v.metadata["tokenizer.ggml.pre"], "qwen2");
    let l = ok(parse::inspect(&capture("inspect_gguf_llama"))).value;
    assert_eq!(l.architecture.as_deref(), Some("llama"));
    assert_eq!((l.num_kv_heads, l.tensor_count), (Some(2), 21));
    // Exported llama GGUFs get pre-tokenizer "default" (greedy longest-match in apr).
    assert_eq!(l.metadata["tokenizer.ggml.pre"], "default");

    let s = ok(parse::inspect(&capture("inspect_safetensors_qwen2"))).value;
    assert_eq!(s.kind, ModelFormat::SafeTensors);
    assert_eq!(
        (s.architecture.as_deref(), s.tensor_count),
        (Some("qwen2"), 26)
    );
    assert_eq!(s.total_params, Some(205_376));
    assert_eq!(s.quantization, None, "\"unknown\" is read as absent");
    assert_eq!(s.num_layers, None);
}

#[test]
fn inspect_missing_file_is_exit_3() {
    match parse::inspect(&capture("inspect_missing")) {
        Err(AprError::Exit {
            code: 3,
            meaning,
            stderr_tail,
        }) => {
            assert!(meaning.contains("not found"));
            assert_eq!(stderr_tail, "error: File not found: $WORK/absent.apr");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn validate() {
    let r = ok(parse::validate(&capture("validate_apr_llama")));
    assert_eq!(r.exit_code, 0);
    let v = r.value;
    assert_eq!(
        (v.format.as_str(), v.verdict.as_deref()),
        ("apr", Some("VALID"))
    );
    assert!(v.passed);
    assert_eq!((v.total_checks, v.failed, v.checks.len()), (26, 0, 5));
    assert_eq!(v.checks[0].id.as_deref(), Some("1"));
    assert_eq!(v.checks[0].name, "Magic bytes valid");
    assert_eq!((v.total_score, v.grade.as_deref()), (Some(100), Some("A+")));
    assert_eq!(v.failing_checks().count(), 0);

    let g = ok(parse::validate(&capture("validate_gguf_qwen2"))).value;
    assert_eq!(g.format, "gguf");
    assert_eq!(
        (g.total_tensors, g.failed_tensors, g.total_nan),
        (Some(27), Some(0), Some(0))
    );
    assert_eq!(g.checks.len(), 27);
    assert!(g.passed && g.verdict.is_none());
}

#[test]
fn tensors() {
    let v = ok(parse::tensors(&capture("tensors_apr_qwen2_stats"))).value;
    assert_eq!((v.format_version.as_str(), v.tensor_count), ("v2", 27));
    assert_eq!(v.tensors.len(), 27);
    let lm = v.get("lm_head.weight").unwrap();
    let emb = v.get("model.embed_tokens.weight").unwrap();
    assert_eq!(
        (lm.shape.as_slice(), lm.dtype.as_str()),
        ([2048, 64].as_slice(), "f32")
    );
    // Tied: the materialised lm_head equals the embedding.
    assert_eq!((lm.mean, lm.std), (emb.mean, emb.std));
    assert!(lm.mean.is_some() && lm.nan_count == Some(0));

    let g = ok(parse::tensors(&capture("tensors_gguf_llama"))).value;
    assert_eq!((g.format_version.as_str(), g.tensor_count), ("GGUF v3", 21));
    let out = g.get("output.weight").unwrap();
    assert_eq!(out.shape, [64, 2048], "GGUF dims order");
    assert_eq!(out.mean, None, "no --stats");
}

#[test]
fn lint() {
    let v = ok(parse::lint(&capture("lint_apr_qwen2"))).value;
    assert!(v.passed && !v.clean && !v.strict);
    assert_eq!(
        (v.error_count, v.warn_count, v.info_count, v.total_issues),
        (0, 3, 0, 3)
    );
    assert_eq!(v.issues[0].message, "Missing 'license' field");
    assert_eq!(v.issues[0].suggestion, None);
    let g = ok(parse::lint(&capture("lint_gguf_qwen2"))).value;
    assert_eq!((g.warn_count, g.info_count), (3, 1));
}

#[test]
fn check() {
    let v = ok(parse::check(&capture("check_apr_qwen2"))).value;
    assert_eq!(v.architecture, "qwen2");
    assert_eq!((v.passed, v.total, v.all_passed), (10, 10, true));
    assert_eq!(v.stages[0].name, "Tokenizer");
    assert_eq!(v.failing_stages().count(), 0);
    let g = ok(parse::check(&capture("check_gguf_llama"))).value;
    assert_eq!((g.architecture.as_str(), g.total), ("llama", 11));
    assert_eq!(g.stages.last().unwrap().name, "Data Quality");
}

#[test]
fn diff() {
    let v = ok(parse::diff(&capture("diff_apr_gguf_qwen2"))).value;
    assert_eq!((v.format1.as_str(), v.format2.as_str()), ("APR", "GGUF"));
    assert!(!v.identical);
    assert_eq!(v.difference_count, 26);
    assert_eq!(v.differences.len(), 26);
    assert_eq!(v.category_counts["metadata"], 23);
    assert_eq!(v.differences[0].field, "format");
    assert_eq!(v.differences[0].kind.as_deref(), Some("format"));

    let d = ok(parse::diff_values(&capture("diff_values_apr_gguf_qwen2"))).value;
    assert_eq!(d.tensors_compared, 24);
    assert_eq!(d.results.len(), 24);
    // The GGUF export is lossless: every compared tensor has cosine 1 and zero difference,
    // transposed ones included.
    for t in &d.results {
        assert_eq!((t.max_diff, t.cosine_similarity), (0.0, 1.0), "{}", t.name);
        assert!(
            t.status == "Identical" || t.status == "Transposed",
            "{}",
            t.status
        );
    }
    assert_eq!(
        d.results
            .iter()
            .filter(|t| t.status == "Transposed")
            .count(),
        10
    );
}

#[test]
fn tree() {
    let root = ok(parse::tree(&capture("tree_apr_qwen2"))).value;
    assert_eq!((root.name.as_str(), root.path.as_str()), ("model", ""));
    assert_eq!(root.tensor_count(), 27);
    assert_eq!(root.leaf_count(), 27);
    let leaves = root.leaf_paths();
    assert_eq!(leaves[0], "lm_head.weight");
    assert!(leaves.contains(&"model.layers.1.self_attn.q_proj.bias".to_string()));
    match &root.kind {
        TreeKind::Group {
            total_size,
            children,
            ..
        } => {
            assert_eq!(*total_size, 1_345_792);
            assert_eq!(children.len(), 2);
        }
        TreeKind::Tensor { .. } => panic!("root is a group"),
    }
}

#[test]
fn oracle_architecture_is_under_format() {
    let v = ok(parse::oracle(&capture("oracle_apr_qwen2"))).value;
    assert_eq!(v.mode, "local");
    assert_eq!(v.architecture(), Some("qwen2"));
    let f = v.format.as_ref().unwrap();
    assert_eq!(
        (f.format_type.as_str(), f.tensor_count, f.total_params),
        ("APR", 27, 336_448)
    );
    assert!(
        v.family.is_none(),
        "no contracts registry in a cargo install"
    );
    let g = ok(parse::oracle(&capture("oracle_gguf_llama"))).value;
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.format.unwrap().quantization.as_deref(), Some("F32"));
}

#[test]
fn hex() {
    let v = ok(parse::hex(&capture("hex_apr_qwen2"))).value;
    assert!(v.header.is_none());
    // "norm" matches input/post-attention norms of both layers and the final norm.
    assert_eq!(v.tensors.len(), 5);
    let t = &v.tensors[0];
    assert_eq!(t.name, "model.layers.0.input_layernorm.weight");
    assert_eq!((t.shape.as_slice(), t.gguf_dims), ([64].as_slice(), false));
    assert_eq!((t.offset, t.size_bytes), (Some(1_048_576), Some(256)));
    assert_eq!(t.sample_values.len(), 64);
    let s = t.stats.as_ref().unwrap();
    assert!(s.min <= s.mean && s.mean <= s.max);

    let g = ok(parse::hex(&capture("hex_gguf_qwen2"))).value;
    let header = g.header.unwrap();
    assert!(header.contains("GGUF Binary Forensics"), "{header}");
    assert!(header.contains("Tensors: 27"));
    assert_eq!(g.tensors.len(), 1);
    assert_eq!(g.tensors[0].name, "output_norm.weight");
    assert!(g.tensors[0].gguf_dims);

    let none = ok(parse::hex(&capture("hex_apr_nomatch")));
    assert!(none.value.tensors.is_empty() && none.value.header.is_none());
    let none = ok(parse::hex(&capture("hex_gguf_nomatch"))).value;
    assert!(none.tensors.is_empty());
    assert!(none.header.unwrap().contains("No tensors match"));
}

#[test]
fn debug() {
    let v = ok(parse::debug(&capture("debug_apr_qwen2"))).value;
    assert_eq!(
        (
            v.format.as_str(),
            v.architecture.as_deref(),
            v.tensors,
            v.parameters
        ),
        ("APR", Some("qwen2"), 27, 336_448)
    );
    assert_eq!(v.health, "OK");
}

#[test]
fn list_is_empty_in_a_fresh_home() {
    let v = ok(parse::list(&capture("list"))).value;
    assert_eq!((v.models.len(), v.total, v.total_size_bytes), (0, 0, 0));
}

#[test]
fn rosetta_diff_tensors_flags_its_own_gguf_export() {
    let r = ok(parse::rosetta_diff_tensors(&capture(
        "rosetta_diff_tensors_apr_gguf_qwen2",
    )));
    // Exit 5 after the document: the GGML (transposed) dims of apr's own export count as a
    // layout mismatch.
    assert_eq!(r.exit_code, 5);
    let v = r.value;
    assert_eq!(
        (v.tensors_a, v.tensors_b, v.layout_mismatches),
        (27, 27, 12)
    );
    assert_eq!((v.missing_in_a, v.missing_in_b), (0, 0));
    assert_eq!(v.mismatched_tensors.len(), 12);
    assert_eq!(v.mismatched_tensors[0].name, "0.down_proj.weight");
    assert_eq!(v.mismatched_tensors[0].shape_a, [64, 128]);
    assert_eq!(v.mismatched_tensors[0].shape_b, [128, 64]);
    assert!(v.diagnosis.starts_with("LAYOUT MISMATCH"));
    let l = ok(parse::rosetta_diff_tensors(&capture(
        "rosetta_diff_tensors_apr_gguf_llama",
    )));
    assert_eq!(
        (l.exit_code, l.value.tensors_a, l.value.layout_mismatches),
        (5, 21, 12)
    );
}

#[test]
fn rosetta_fingerprint_statistics_are_all_zero() {
    let v = ok(parse::rosetta_fingerprint(&capture(
        "rosetta_fingerprint_apr_qwen2",
    )))
    .value;
    assert_eq!(v.fingerprints.len(), 27);
    assert_eq!(v.fingerprints[0].name, "lm_head.weight");
    assert_eq!(v.fingerprints[0].shape, [2048, 64]);
    // apr 0.72.3 bug: every statistic is 0 for every tensor (the human output agrees), although
    // `apr tensors --stats` shows non-zero means and spreads for the same file.
    for f in &v.fingerprints {
        assert_eq!(
            (f.mean, f.std, f.min, f.max, f.p50),
            (0.0, 0.0, 0.0, 0.0, 0.0),
            "{}",
            f.name
        );
    }
}

#[test]
fn run_gguf_with_logprobs() {
    let r = ok(parse::run(&capture("run_gguf_qwen2_logprobs")));
    assert_eq!(r.exit_code, 0);
    let v = r.value;
    assert_eq!(v.status, RunStatus::Ok);
    assert_eq!(v.tokens, [388, 297, 356, 297, 652, 221, 16, 311]);
    assert_eq!(v.text.as_deref(), Some("return n if n < 0:"));
    assert_eq!((v.prompt_tokens, v.completion_tokens), (Some(7), Some(8)));
    assert_eq!(v.finish_reason, Some(FinishReason::Length));
    assert_eq!(
        (v.apr_version.as_str(), v.apr_commit.as_str()),
        ("0.72.3", "9c34b9a91")
    );
    assert_eq!(v.model_digest.as_ref().map(String::len), Some(64));
    let backend = v.backend.unwrap();
    assert_eq!((backend.ran.as_str(), backend.fell_back), ("cpu", false));
    let lp = v.logprobs.unwrap();
    assert_eq!(lp.top_k, 3);
    // BOS (id 0) is prepended on the GGUF path.
    // The rest is what the HF tokenizer gives for "def add(a, b):".
    assert_eq!(lp.prompt_token_ids, [0, 508, 878, 1461, 12, 286, 1220]);
    assert_eq!(lp.steps.len(), 8);
    for (i, step) in lp.steps.iter().enumerate() {
        assert_eq!(step.step, i as u64);
        assert_eq!(
            step.chosen, v.tokens[i],
            "greedy: chosen is the emitted token"
        );
        assert_eq!(step.top.len(), 3);
        assert_eq!(step.top[0].token_id, step.chosen);
        assert!((step.top[0].logit - step.logsumexp_full - step.top[0].logprob).abs() < 1e-4);
    }
}

#[test]
fn run_apr_has_no_bos_and_tokenizes_differently() {
    let v = ok(parse::run(&capture("run_apr_qwen2"))).value;
    // The APR path's merges-only BPE splits the prompt differently from HF and GGUF: its
    // first generated token is "):", which the GGUF prompt already ends with (id 1220).
    assert_eq!(v.tokens, [1220, 388, 297, 356, 297, 652, 221, 17]);
    assert_eq!(v.text.as_deref(), Some("): return n if n < 1"));
    assert_eq!(v.prompt_tokens, Some(6), "no BOS on the APR path");
    assert_eq!((v.finish_reason, v.context_length), (None, None));
    assert!(v.logprobs.is_none());
    let g = ok(parse::run(&capture("run_apr_gpt2"))).value;
    assert_eq!(g.tokens.len(), 8);
    let l = ok(parse::run(&capture("run_gguf_llama"))).value;
    assert_eq!(l.tokens.len(), 8);
    assert_eq!(l.status, RunStatus::Ok);
}

#[test]
fn run_empty_completion_is_exit_8_with_document() {
    let r = ok(parse::run(&capture("run_gguf_one_token")));
    assert_eq!(r.exit_code, 8);
    let v = r.value;
    assert_eq!(v.status, RunStatus::Failed);
    assert_eq!(v.text.as_deref(), Some(""));
    assert_eq!(v.tokens.len(), 1);
    assert!(
        !v.stopped_at_eos(),
        "a token was generated: its text is what is empty"
    );
    let e = v.error.unwrap();
    assert_eq!(
        (e.kind.as_str(), e.exit_code),
        ("empty_completion", Some(8))
    );
}

#[test]
fn run_refusals_without_document() {
    match parse::run(&capture("run_apr_logprobs_refused")) {
        Err(AprError::Exit {
            code: 8,
            stderr_tail,
            ..
        }) => assert!(
            stderr_tail.contains("not recorded on the APR path"),
            "{stderr_tail}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse::run(&capture("run_missing")),
        Err(AprError::Exit { code: 3, .. })
    ));
}

#[test]
fn eval() {
    let v = ok(parse::eval(&capture("eval_gguf_qwen2_text"))).value;
    assert_eq!((v.dataset.as_str(), v.device.as_str()), ("Custom", "cpu"));
    assert_eq!(v.tokens_evaluated, 10);
    assert!(v.passed && v.threshold == 1e9);
    assert!((v.perplexity.ln() - v.cross_entropy).abs() < 1e-4);

    let r = ok(parse::eval(&capture("eval_gguf_qwen2_builtin")));
    assert_eq!(
        r.exit_code, 5,
        "ppl above the default-style threshold: JSON first, exit 5"
    );
    assert!(!r.value.passed && r.value.perplexity > 20.0);
    assert_eq!(
        (r.value.dataset.as_str(), r.value.tokens_evaluated),
        ("WikiText2", 280)
    );

    // APR and GGUF of the same weights score the built-in text identically.
    let a = ok(parse::eval(&capture("eval_apr_qwen2"))).value;
    assert_eq!(a.perplexity, r.value.perplexity);
}

#[test]
fn bench() {
    for case in ["bench_gguf_qwen2", "bench_apr_qwen2"] {
        let r = ok(parse::bench(&capture(case)));
        assert_eq!(r.exit_code, 0);
        let v = r.value;
        assert_eq!(
            (v.iterations, v.total_tokens, v.samples_ms.len()),
            (2, 16, 2)
        );
        assert!(v.passed && v.tokens_per_second >= 10.0);
        assert!(v.latency_p50_ms.is_some() && v.peak_rss_mb.is_some());
        assert_eq!(v.model_sha256.as_ref().map(String::len), Some(64));
    }
    match parse::bench(&capture("bench_iterations_zero")) {
        Err(AprError::Exit {
            code: 101, meaning, ..
        }) => assert!(meaning.contains("panic")),
        other => panic!("{other:?}"),
    }
    let stderr = capture("bench_iterations_zero").stderr_text();
    assert!(stderr.contains("panicked at") && stderr.contains("bench_safetensors.rs"));
}

#[test]
fn qa() {
    let v = ok(parse::qa(&capture("qa_gguf_qwen2"))).value;
    assert!(v.passed);
    assert_eq!(
        (v.gates_executed, v.gates_skipped, v.gates.len()),
        (2, 11, 13)
    );
    assert_eq!(v.gates_registered.len(), 13);
    let contract = v.gate("tensor_contract").unwrap();
    assert_eq!(
        (contract.state(), contract.value),
        (GateState::Passed, Some(27.0))
    );
    let golden = v.gate("golden_output").unwrap();
    assert_eq!(golden.state(), GateState::Skipped);
    assert!(!golden.passed, "skipped gates are passed:false");
    assert!(golden.message.starts_with("Skipped:"));

    let r = ok(parse::qa(&capture("qa_apr_qwen2_all_gates")));
    assert_eq!(r.exit_code, 5);
    assert!(!r.value.passed);
    assert_eq!(r.value.summary, "Failed gates: golden_output");
    assert_eq!(
        r.value.gate("golden_output").unwrap().state(),
        GateState::Failed
    );
    assert_eq!(
        r.value.gate("throughput").unwrap().state(),
        GateState::Passed
    );

    // An internal error still prints a report, with one failed `qa_run` gate.
    let r = ok(parse::qa(&capture("qa_previous_report_missing")));
    assert_eq!(r.exit_code, 5);
    assert_eq!(r.value.gates.len(), 1);
    assert_eq!(r.value.gates[0].name, "qa_run");
    assert_eq!(r.value.gates[0].state(), GateState::Failed);
    assert!(r.value.system_info.is_none());
}

#[test]
fn parity_needs_cuda() {
    match parse::parity(&capture("parity_gguf_qwen2")) {
        Err(AprError::Exit {
            code: 9,
            stderr_tail,
            ..
        }) => assert_eq!(
            stderr_tail,
            "error: Feature not enabled: cuda feature required for parity check"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parity_shapes() {
    // No CUDA here, so the two documents are the reference's shapes (synthetic).
    let measured = br#"{"model":"/m.gguf","tokens":2,"passed":1,"failed":1,"parity":false,"metrics":[
        {"position":0,"token_id":1,"cpu_argmax":5,"gpu_argmax":5,"max_abs_diff":0.01,"mean_abs_diff":0.001,"cosine_similarity":0.9999,"kl_divergence":0.0,"sigma_level":6.0,"cpk":2.0,"verdict":"Pass"},
        {"position":1,"token_id":5,"cpu_argmax":7,"gpu_argmax":9,"max_abs_diff":9.0,"mean_abs_diff":1.0,"cosine_similarity":0.5,"kl_divergence":2.5,"sigma_level":1.0,"cpk":0.1,"verdict":"FailCatastrophic"}]}"#;
    let c = Captured::from_parts(
        vec!["apr".into()],
        apr_client::Termination::Exited(5),
        measured.to_vec(),
        Vec::new(),
    );
    let r = ok(parse::parity(&c));
    assert_eq!(r.exit_code, 5);
    match r.value {
        ParityOutput::Measured(m) => {
            assert!(!m.parity);
            assert_eq!(m.metrics[1].verdict, "FailCatastrophic");
        }
        ParityOutput::Refused(_) => panic!("measured"),
    }
    let refused = br#"{"refused":{"architecture":"gpt2","quant":"F32","reason":"LayerNorm not supported on GPU","issue":"GH-3412"}}"#;
    let c = Captured::from_parts(
        vec!["apr".into()],
        apr_client::Termination::Exited(12),
        refused.to_vec(),
        Vec::new(),
    );
    match ok(parse::parity(&c)).value {
        ParityOutput::Refused(r) => assert_eq!(r.architecture.as_deref(), Some("gpt2")),
        ParityOutput::Measured(_) => panic!("refused"),
    }
}

#[test]
fn compare_hf_needs_the_hub() {
    match parse::compare_hf(&capture("compare_hf_offline")) {
        Err(AprError::Exit {
            code: 10,
            stderr_tail,
            ..
        }) => assert_eq!(
            stderr_tail,
            "error: Network error: Cannot run compare-hf in --offline mode (requires \
             HuggingFace download)."
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pull_offline_is_refused() {
    match parse::pull(&capture("pull_offline")) {
        Err(AprError::Exit {
            code: 10,
            stderr_tail,
            ..
        }) => assert!(
            stderr_tail.starts_with(
                "error: Network error: Cannot fetch \
                 https://huggingface.co/api/models/Qwen/Qwen2-0.5B-Instruct-GGUF in --offline mode."
            ),
            "{stderr_tail}"
        ),
        other => panic!("{other:?}"),
    }
    // apr prints its human banner on stdout even with --json.
    assert_eq!(
        capture("pull_offline").stdout_text().trim(),
        "=== APR Pull ==="
    );
}

#[test]
fn run_max_tokens_zero_is_an_empty_completion() {
    let r = ok(parse::run(&capture("run_max_tokens_zero")));
    assert_eq!(r.exit_code, 8);
    assert_eq!(r.value.status, RunStatus::Failed);
    assert!(r.value.tokens.is_empty());
    assert_eq!(r.value.completion_tokens, Some(0));
    assert!(
        !r.value.stopped_at_eos(),
        "nothing was asked for, so nothing stopped"
    );
    assert_eq!(r.value.error.unwrap().kind, "empty_completion");
}

/// SmolLM2-135M's f32 `.apr` on "What is 2+2? Answer:", whose greedy continuation is EOS at
/// once: apr prints no tokens, no finish reason, and calls it a failed empty completion.
#[test]
fn run_stopping_before_the_first_token_is_a_stop_at_eos() {
    let r = ok(parse::run(&capture("run_apr_immediate_eos")));
    assert_eq!(r.exit_code, 8);
    assert!(r.value.tokens.is_empty());
    assert_eq!(r.value.finish_reason, None);
    assert!(r.value.stopped_at_eos());
}

#[test]
fn pull_dry_run_needs_no_network() {
    let v = ok(parse::pull_dry_run(&capture("pull_dry_run"))).value;
    assert_eq!(v.model, "hf://Qwen/Qwen2-0.5B-Instruct-GGUF");
    assert_eq!(v.resolved, v.model);
    assert_eq!(
        (
            v.revision.as_deref(),
            v.revision_kind.as_deref(),
            v.mode.as_str()
        ),
        (Some("main"), Some("RefName"), "dry-run")
    );
    assert!(!v.offline);
}

#[test]
fn drift_is_recorded_not_hidden() {
    // A real document with a field removed and another retyped.
    let text = capture("eval_gguf_qwen2_text").stdout_text();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("passed");
    doc["perplexity"] = serde_json::json!("low");
    doc["new_field"] = serde_json::json!(1);
    let c = Captured::from_parts(
        vec!["apr".into()],
        apr_client::Termination::Exited(0),
        doc.to_string().into_bytes(),
        Vec::new(),
    );
    let r = parse::eval(&c).unwrap();
    let problems: Vec<String> = r.drift.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "perplexity: expected number, found string \"low\"",
            "passed: missing"
        ]
    );
    assert!(!r.value.passed, "a missing verdict never reads as a pass");
    assert!(r.value.perplexity.is_nan());
    assert!(matches!(r.strict(), Err(AprError::Shape { .. })));
}

#[test]
fn wrong_top_level_shape_is_a_shape_error() {
    let c = Captured::from_parts(
        vec!["apr".into()],
        apr_client::Termination::Exited(0),
        b"[1, 2]".to_vec(),
        Vec::new(),
    );
    assert!(matches!(parse::run(&c), Err(AprError::Shape { .. })));
    let c = Captured::from_parts(
        vec!["apr".into()],
        apr_client::Termination::Exited(0),
        b"{\"a\": 1}".to_vec(),
        Vec::new(),
    );
    assert!(matches!(parse::hex(&c), Err(AprError::Shape { .. })));
}

#[test]
fn model_operations() {
    let m = ok(parse::merge(&capture("merge_apr_llama_self"))).value;
    assert_eq!(
        (m.status.as_str(), m.strategy.as_str()),
        ("success", "average")
    );
    assert_eq!((m.model_count, m.tensor_count), (2, 21));
    assert_eq!(m.output, "$WORK/merged.apr");
    let p = ok(parse::prune(&capture("prune_apr_llama"))).value;
    assert_eq!(p.method, "Magnitude");
    assert_eq!((p.original_params, p.zero_params), (336_192, 168_096));
    assert_eq!(p.actual_sparsity, 0.5);
    let plan = ok(parse::prune_plan(&capture("prune_plan_apr_llama"))).value;
    assert_eq!(plan.weights_zeroed_pct, 50.0);
    assert_eq!(plan.parameters_in, p.original_params);
    let q = ok(parse::quantize(&capture("quantize_apr_llama_int8"))).value;
    assert_eq!((q.scheme.as_str(), q.tensor_count), ("Int8", 21));
    assert!(q.quantized_size < q.original_size);
    let mp = ok(parse::merge_plan(&capture("merge_plan_apr_llama"))).value;
    assert_eq!((mp.model_count, mp.total_input_size), (2, 2 * 1_381_124));
    let qp = ok(parse::quantize_plan(&capture("quantize_plan_apr_llama"))).value;
    assert_eq!(
        (qp.input_size, qp.output_format.as_str()),
        (1_381_124, "apr")
    );
    let cv = ok(parse::convert(&capture("convert_apr_llama_zstd"))).value;
    assert_eq!(cv.compression.as_deref(), Some("zstd"));
    let ft = ok(parse::finetune_plan(&capture("finetune_plan_apr_llama"))).value;
    assert_eq!((ft.model_params, ft.recommended_rank), (336_192, 4));
    assert!(ft.plan_only);
    let trained = ok(parse::finetune(&capture("finetune_apr_llama"))).value;
    assert_eq!((trained.plan_only, trained.model_params), (false, 336_192));
    let folded = ok(parse::finetune_merge(&capture("finetune_merge_apr_llama"))).value;
    assert_eq!(
        (folded.status.as_str(), folded.merged_targets, folded.rank),
        ("merged", 4, 4)
    );
    let ds = ok(parse::distill(&capture("distill_apr_llama"))).value;
    assert_eq!((ds.teacher_tensors, ds.student_tensors), (21, 21));
    let dp = ok(parse::distill_plan(&capture("distill_plan_apr_llama"))).value;
    assert_eq!(dp.teacher_size, 1_381_124);
    match parse::prune(&capture("prune_ratio_zero")) {
        Err(AprError::Exit {
            code: 5,
            stderr_tail: stderr,
            ..
        }) => {
            assert!(stderr.contains("between 0 and 1 (exclusive)"), "{stderr}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn apr_s_encoder_names_the_path_it_took() {
    let e = ok(parse::tokenize_encode(&capture(
        "tokenize_encode_gguf_llama",
    )))
    .value;
    assert_eq!(e.ids, [1669, 1050, 461, 221, 17, 18, 19]);
    assert_eq!(e.tokenizer_pre, "default");
    assert!(e.path.starts_with("greedy-fallback"), "{}", e.path);
}

#[test]
fn a_trace_gives_the_ids_apr_traced_and_stage_files_the_reader_sizes_from_the_model() {
    let trace = ok(parse::trace_stages(&capture("trace_stages_apr_llama"))).value;
    // "What is 2+2?" in tiny-llama's own tokenizer, no BOS: the ids HF's tokenizer gives.
    assert_eq!(trace.token_ids, [1674, 300, 221, 18, 11, 18, 31]);
    let files = common::captures_dir().join("trace_stages_apr_llama/files");
    let norm = stage_dump::read(&stage_dump::path(&files, Some(0), "attn_norm")).unwrap();
    // 7 positions of hidden 64.
    assert_eq!((norm.layer, norm.values.len()), (Some(0), 7 * 64));
    assert!(norm.values.iter().all(|v| v.is_finite()));
    let head = stage_dump::read(&stage_dump::path(&files, None, "lm_head")).unwrap();
    // The last position's logits over the vocabulary of 2048.
    assert_eq!((head.layer, head.values.len()), (None, 2048));
    match parse::trace_stages(&capture("trace_stages_gguf_refused")) {
        Err(AprError::Exit {
            code: 6,
            stderr_tail,
            ..
        }) => assert!(stderr_tail.contains("only qwen3_moe"), "{stderr_tail}"),
        other => panic!("{other:?}"),
    }
}
