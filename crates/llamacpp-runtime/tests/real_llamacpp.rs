//! The real llama.cpp (built by llama-cpp-sys-2) on the bundled models' native GGUFs
//! (`native/<model>/f32.gguf`, made by llama.cpp's own converter) against their committed
//! oracles. The outcomes asserted here were checked by hand when the fixtures were made.

use llamacpp_runtime::{
    Ftype, GenerateRequest, Generation, LlamaError, PromptInput, generate, inspect, quantize, score,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tmgt_testkit::bundled_models;

const PROMPTS: [&str; 4] = ["arithmetic", "code", "completion", "greeting"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn native(model: &str) -> PathBuf {
    root().join("native").join(model).join("f32.gguf")
}

fn prompt(name: &str) -> String {
    std::fs::read_to_string(root().join("prompts").join(format!("{name}.txt"))).unwrap()
}

struct Oracle(Value);

impl Oracle {
    fn load(model: &str, prompt: &str) -> Oracle {
        let path = root()
            .join("oracle")
            .join(model)
            .join(format!("{prompt}.json"));
        Oracle(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect()
    }

    fn prompt_ids(&self) -> Vec<u32> {
        Oracle::ids(&self.0["prompt_token_ids"])
    }

    fn tokens(&self) -> Vec<u32> {
        Oracle::ids(&self.0["tokens"])
    }

    fn logprobs(&self) -> Vec<f64> {
        self.0["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["logprob"].as_f64().unwrap())
            .collect()
    }
}

fn run(model: &Path, prompt: PromptInput) -> Generation {
    generate(&GenerateRequest {
        model: model.to_path_buf(),
        prompt,
        max_new_tokens: 32,
        top_k: 20,
    })
    .unwrap()
}

fn first_divergence(a: &[u32], b: &[u32]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then_some(a.len().min(b.len())))
}

#[test]
fn llama_cpp_reads_each_native_gguf_as_its_hf_config_states() {
    let expected = [
        ("tiny-llama", "llama", 4, 2, 336_192),
        ("tiny-qwen2", "qwen2", 4, 2, 205_376),
        ("tiny-gpt2", "gpt2", 4, 4, 263_936),
    ];
    for (model, arch, heads, kv_heads, params) in expected {
        let info = inspect(&native(model)).unwrap();
        assert_eq!(info.architecture, arch);
        assert_eq!(
            (
                info.n_layer,
                info.n_head,
                info.n_head_kv,
                info.n_embd,
                info.n_vocab
            ),
            (2, heads, kv_heads, 64, 2048),
            "{model}"
        );
        assert_eq!(info.n_params, params, "{model}");
        assert_eq!(info.file_type, "0", "{model}: all F32");
        assert_eq!(info.tokenizer_pre, "qwen2", "{model}");
        // convert_hf_to_gguf.py writes no add_bos_token for these tokenizers: no BOS.
        assert!(!info.add_bos, "{model}");
        assert_eq!((info.bos, info.eos), (0, 0), "{model}");
    }
}

#[test]
fn native_f32_reproduces_every_oracle_token_and_log_prob() {
    for model in bundled_models() {
        // GELU runs through ggml's fp16 lookup table (GGML_GELU_FP16): GPT-2's and Gemma's
        // chosen-token log-probs are within 1.1e-3 of the oracle's, the SiLU models' within 2e-6.
        let gelu = model == "tiny-gpt2" || model.starts_with("tiny-gemma");
        let tolerance = if gelu { 2e-3 } else { 1e-5 };
        for p in PROMPTS {
            let oracle = Oracle::load(model, p);
            let g = run(&native(model), PromptInput::Text(prompt(p)));
            assert_eq!(g.prompt_ids, oracle.prompt_ids(), "{model}/{p}: prompt ids");
            assert_eq!(g.tokens, oracle.tokens(), "{model}/{p}: tokens");
            assert!(!g.stopped_at_eog && g.non_finite_at.is_none());
            assert_eq!(g.text, oracle.0["text"].as_str().unwrap(), "{model}/{p}");
            let worst = oracle
                .logprobs()
                .iter()
                .zip(&g.steps)
                .map(|(o, s)| (o - s.logprob).abs())
                .fold(0.0, f64::max);
            assert!(worst < tolerance, "{model}/{p}: log-prob off by {worst}");
        }
    }
}

#[test]
fn bos_prefixed_ids_reproduce_the_oracles_bos_trajectory() {
    let oracle = Oracle::load("tiny-llama", "arithmetic");
    let ids = Oracle::ids(&oracle.0["bos"]["prompt_token_ids"]);
    assert_eq!(ids[0], 0);
    let g = run(&native("tiny-llama"), PromptInput::Tokens(ids.clone()));
    assert_eq!(g.prompt_ids, ids);
    assert_eq!(g.tokens, Oracle::ids(&oracle.0["bos"]["tokens"]));
}

#[test]
fn quantization_is_reproducible_and_q4_0_flips_a_near_tie() {
    let dir = tempfile::tempdir().unwrap();
    let f32 = native("tiny-qwen2");
    let q8 = dir.path().join("q8_0.gguf");
    let q8_again = dir.path().join("q8_0-again.gguf");
    let q4 = dir.path().join("q4_0.gguf");
    quantize(&f32, &q8, Ftype::Q8_0).unwrap();
    quantize(&f32, &q8_again, Ftype::Q8_0).unwrap();
    quantize(&f32, &q4, Ftype::Q4_0).unwrap();
    assert_eq!(
        std::fs::read(&q8).unwrap(),
        std::fs::read(&q8_again).unwrap(),
        "one-thread quantization is byte-for-byte reproducible"
    );
    assert_eq!(inspect(&q8).unwrap().file_type, "7");
    assert_eq!(inspect(&q4).unwrap().file_type, "2");
    for p in PROMPTS {
        let oracle = Oracle::load("tiny-qwen2", p);
        let g = run(&q8, PromptInput::Text(prompt(p)));
        assert_eq!(g.tokens, oracle.tokens(), "Q8_0 {p}");
    }
    // Q4_0 on `code` leaves the oracle at step 1, where the oracle's own top-2 margin is 0.36
    // logits: a near-tie that 4-bit weights flip.
    let oracle = Oracle::load("tiny-qwen2", "code");
    let g = run(&q4, PromptInput::Text(prompt("code")));
    assert_eq!(first_divergence(&oracle.tokens(), &g.tokens), Some(1));
    let margin = oracle.0["steps"][1]["margin"].as_f64().unwrap();
    assert!((0.35..0.37).contains(&margin), "{margin}");
}

#[test]
fn a_prompt_id_outside_the_vocabulary_is_refused() {
    let err = generate(&GenerateRequest {
        model: native("tiny-gpt2"),
        prompt: PromptInput::Tokens(vec![5, 2048]),
        max_new_tokens: 2,
        top_k: 5,
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            LlamaError::TokenOutOfVocabulary {
                id: 2048,
                n_vocab: 2048
            }
        ),
        "{err}"
    );
}

#[test]
fn broken_files_are_errors_with_llama_cpps_reason_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a gguf file at all").unwrap();
    let err = inspect(&garbage).unwrap_err();
    assert!(matches!(err, LlamaError::Load { .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");

    let bytes = std::fs::read(native("tiny-llama")).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = inspect(&truncated).unwrap_err();
    assert!(matches!(err, LlamaError::Load { .. }), "{err}");

    let missing = dir.path().join("missing.gguf");
    assert!(matches!(inspect(&missing), Err(LlamaError::Load { .. })));
}

#[test]
fn the_version_names_llama_cpp_and_its_cpu_features() {
    let v = llamacpp_runtime::llama_cpp_version().unwrap();
    assert!(v.starts_with("llama.cpp "), "{v}");
    assert!(v.contains("CPU"), "{v}");
}

/// A copy of `model`'s native GGUF with metadata `key` set (or added) to `value`.
fn planted(dir: &Path, model: &str, key: &str, value: tmgt_gguf::Value) -> PathBuf {
    let source = tmgt_gguf::GgufFile::open(&native(model)).unwrap();
    let out = dir.join(format!("{model}-{key}.gguf"));
    tmgt_gguf::copy_with_metadata(&source, &out, |metadata| {
        metadata.retain(|(k, _)| k != key);
        metadata.push((key.to_string(), value));
    })
    .unwrap();
    out
}

#[test]
fn a_file_that_makes_llama_cpp_abort_is_an_error_quoting_the_assert_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    // The tiny Qwen2's heads are 16 wide; llama.cpp asserts n_embd_head == n_rot.
    let bad = planted(
        dir.path(),
        "tiny-qwen2",
        "qwen2.rope.dimension_count",
        tmgt_gguf::Value::U32(8),
    );
    let err = generate(&GenerateRequest {
        model: bad.clone(),
        prompt: PromptInput::Text(prompt("greeting")),
        max_new_tokens: 4,
        top_k: 5,
    })
    .unwrap_err();
    let LlamaError::Crashed {
        path,
        op,
        ending,
        fault,
        reproduce,
    } = &err
    else {
        panic!("not a crash: {err}");
    };
    assert_eq!((path, op.as_str()), (&bad, "generate"));
    assert_eq!(ending, "killed by SIGABRT", "{err}");
    assert!(
        fault.contains("GGML_ASSERT(n_embd_head == n_rot) failed"),
        "{fault}"
    );
    assert!(err.is_worker_fault());

    // The replay command reproduces the abort outside tmgt.
    let replay = std::process::Command::new("sh")
        .args(["-c", reproduce])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(
        stderr.contains("GGML_ASSERT(n_embd_head == n_rot)"),
        "{stderr}"
    );

    // The process that called is alive and the next call gets a new worker.
    let g = run(&native("tiny-qwen2"), PromptInput::Text(prompt("greeting")));
    assert_eq!(g.tokens, Oracle::load("tiny-qwen2", "greeting").tokens());
    assert!(llamacpp_runtime::usage().faults >= 1);
}

#[test]
fn teacher_forced_scores_give_every_oracles_perplexity() {
    for model in bundled_models() {
        let path = root().join("oracle").join(model).join("perplexity.json");
        let oracle: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let ids = Oracle::ids(&oracle["token_ids"]);
        let scores = score(&native(model), &ids).unwrap();
        assert_eq!(scores.len(), ids.len() - 1, "{model}: one per predicted id");
        assert!(scores.iter().all(|s| s.is_finite() && *s <= 0.0), "{model}");
        let perplexity = (-scores.iter().sum::<f64>() / scores.len() as f64).exp();
        let want = oracle["perplexity"].as_f64().unwrap();
        // float32 summing order; GELU through ggml's f16 table moves it further.
        let gelu = model == "tiny-gpt2" || model.starts_with("tiny-gemma");
        let tolerance = if gelu { 2e-3 } else { 1e-5 };
        let relative = (perplexity / want - 1.0).abs();
        assert!(
            relative < tolerance,
            "{model}: llama.cpp {perplexity}, the oracle {want} ({relative:.2e})"
        );
    }
    let err = score(&native("tiny-qwen2"), &[1, 99_999]).unwrap_err();
    assert!(
        matches!(err, LlamaError::TokenOutOfVocabulary { id: 99_999, .. }),
        "{err}"
    );
}

/// The relative L2 error of each rung's matrices, dequantized by tmgt's own reader, against
/// the F32 file: the bound is what the rung's 8 to 2 bits allow, with room for tiny rows.
fn ladder_bound(kind: tmgt_gguf::GgmlType) -> Option<f64> {
    use tmgt_gguf::GgmlType as T;
    Some(match kind {
        T::F32 => 0.0,
        T::F16 => 1e-3,
        T::BF16 => 5e-3,
        T::Q8_0 => 1e-2,
        T::Q6_K => 3e-2,
        T::Q5_0 | T::Q5_1 | T::Q5_K => 6e-2,
        T::Q4_0 | T::Q4_1 | T::Q4_K | T::IQ4_NL | T::IQ4_XS => 0.12,
        T::Q3_K => 0.25,
        T::Q2_K => 0.5,
        _ => return None,
    })
}

#[test]
fn every_rung_of_the_ladder_is_made_and_read_and_a_width_of_64_fits_no_k_or_iq_block() {
    // tiny-qwen2's rows are 64 or 128 values long: no 256-value block of a K or IQ type fits
    // them, so llama.cpp falls back on every matrix (Q6_K to Q8_0, Q4_K_M to Q5_0, Q2_K to
    // Q4_0, the IQ rungs to IQ4_NL). A ladder on such a model tests the 32-value kernels only.
    let dir = tempfile::tempdir().unwrap();
    let f32 = native("tiny-qwen2");
    let source = tmgt_gguf::GgufFile::open(&f32).unwrap();
    let mut judged = 0;
    for rung in Ftype::LADDER {
        let path = dir.path().join(format!("{rung}.gguf"));
        quantize(&f32, &path, rung).unwrap();
        let file = tmgt_gguf::GgufFile::open(&path).unwrap();
        assert_eq!(file.tensors().len(), source.tensors().len(), "{rung}");
        for t in file.tensors() {
            assert!(
                t.kind
                    .block()
                    .is_none_or(|(values, _)| values == 32 || values == 1),
                "{rung} {}: {:?} has blocks of 256 on rows of {}",
                t.name,
                t.kind,
                t.dims[0]
            );
            let bound = ladder_bound(t.kind)
                .unwrap_or_else(|| panic!("{rung} {}: tmgt cannot read {:?}", t.name, t.kind));
            let want = source.read_f32(source.tensor(&t.name).unwrap()).unwrap();
            let got = file.read_f32(t).unwrap();
            assert_eq!(got.len(), want.len(), "{rung} {}", t.name);
            let (diff, norm) = got.iter().zip(&want).fold((0.0, 0.0), |(d, n), (g, w)| {
                let e = f64::from(g - w);
                (d + e * e, n + f64::from(*w) * f64::from(*w))
            });
            let rel = (diff / norm.max(f64::MIN_POSITIVE)).sqrt();
            assert!(
                rel <= bound,
                "{rung} {} {:?}: relative L2 {rel:.3e} above {bound}",
                t.name,
                t.kind
            );
            judged += 1;
        }
    }
    assert_eq!(
        judged,
        Ftype::LADDER.len() * 26,
        "every tensor of every rung"
    );
}

#[test]
fn tmgt_s_decoders_agree_bit_for_bit_with_ggml_s_own_on_every_type_of_every_rung() {
    // tiny-llama-wide's rows are 256 and 512 values long, so every rung's type lands on every
    // matrix: each tensor read by tmgt-gguf against ggml's own GGUF reader and `to_float`.
    let dir = tempfile::tempdir().unwrap();
    let f32 = native("tiny-llama-wide");
    let mut types = std::collections::BTreeSet::new();
    let mut compared = 0usize;
    for rung in Ftype::LADDER {
        let path = dir.path().join(format!("{rung}.gguf"));
        quantize(&f32, &path, rung).unwrap();
        let file = tmgt_gguf::GgufFile::open(&path).unwrap();
        for t in file.tensors() {
            let ours = file
                .read_f32(t)
                .unwrap_or_else(|e| panic!("{rung} {}: {e}", t.name));
            let ggml = llamacpp_runtime::dequantize(&path, &t.name).unwrap();
            assert_eq!(ours.len(), ggml.len(), "{rung} {}", t.name);
            let differ = ours
                .iter()
                .zip(&ggml)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                differ.is_none(),
                "{rung} {} ({:?}): value {differ:?} is {} in tmgt, {} in ggml",
                t.name,
                t.kind,
                ours[differ.unwrap_or(0)],
                ggml[differ.unwrap_or(0)]
            );
            types.insert(format!("{:?}", t.kind));
            compared += ours.len();
        }
    }
    let types: Vec<String> = types.into_iter().collect();
    assert_eq!(
        types,
        [
            "BF16", "F16", "F32", "IQ1_M", "IQ1_S", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ3_S",
            "IQ3_XXS", "IQ4_XS", "Q2_K", "Q3_K", "Q4_0", "Q4_K", "Q5_0", "Q5_K", "Q6_K", "Q8_0",
            "TQ1_0", "TQ2_0"
        ],
        "every type the ladder writes on this model"
    );
    assert!(
        compared > Ftype::LADDER.len() * 2_000_000,
        "{compared} values"
    );
}
