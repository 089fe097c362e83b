//! Greedy decoding and model inspection.

use crate::LlamaError;
use crate::ffi::{self, take_log};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use serde::Serialize;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// What the model is fed before generating.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PromptInput {
    /// Text, encoded by the GGUF's own tokenizer with the special tokens it asks for (a BOS
    /// when `tokenizer.ggml.add_bos_token` is true), as `llama-cli` does.
    Text(String),
    /// Token ids fed as they are (another runtime's encoding of the prompt).
    Tokens(Vec<u32>),
}

/// One greedy generation to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GenerateRequest {
    pub model: PathBuf,
    pub prompt: PromptInput,
    pub max_new_tokens: u32,
    /// Alternatives recorded per step, best first.
    pub top_k: usize,
}

/// One generated position, in the shape of an oracle step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub chosen: u32,
    /// log-softmax of the chosen token's logit (computed in f64 from llama.cpp's f32 logits).
    pub logprob: f64,
    /// Top-1 minus top-2 logit.
    pub margin: f64,
    /// The `top_k` best ids with their log-probabilities, best first.
    pub top: Vec<(u32, f64)>,
}

/// What llama.cpp generated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The ids llama.cpp was fed: its encoding of a text prompt, or the given ids.
    pub prompt_ids: Vec<u32>,
    pub tokens: Vec<u32>,
    /// The generated tokens decoded without special tokens.
    pub text: String,
    pub steps: Vec<Step>,
    /// Generation stopped at an end-of-generation token (included in `tokens`).
    pub stopped_at_eog: bool,
    /// The first step whose logits held a NaN or infinity; generation stops there.
    pub non_finite_at: Option<usize>,
}

/// What llama.cpp read from a GGUF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// `general.architecture`.
    pub architecture: String,
    /// `general.file_type` (llama.cpp's `llama_ftype`: 0 all F32, 7 Q8_0, 2 Q4_0).
    pub file_type: String,
    pub n_vocab: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_embd: usize,
    /// `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp splits text with.
    pub tokenizer_pre: String,
    pub add_bos: bool,
    pub bos: u32,
    pub eos: u32,
    pub n_params: u64,
}

/// How llama.cpp's tokenizer of a GGUF encodes one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Encoding {
    /// Without special tokens: the text alone.
    pub plain: Vec<u32>,
    /// With the special tokens the file asks for (`add_special`, as `llama-cli` feeds a prompt).
    pub with_specials: Vec<u32>,
    /// Whether llama.cpp adds a BOS / an EOS for this file: its metadata's flags, or the
    /// default llama.cpp assumes for the file's tokenizer where the flag is absent.
    pub add_bos: bool,
    pub add_eos: bool,
}

/// Encodes each of `texts` with the GGUF's own tokenizer, loading its vocabulary only (no
/// weights). A special token's text in the input is that special token, as transformers and
/// `llama-cli` read a prompt.
pub fn tokenize(path: &Path, texts: &[&str]) -> Result<Vec<Encoding>, LlamaError> {
    let guard = ffi::lock()?;
    ffi::c_path(path)?;
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model =
        LlamaModel::load_from_file(guard.backend, path, &params).map_err(|e| LlamaError::Load {
            path: path.to_path_buf(),
            log: format!("{e}: {}", take_log()),
        })?;
    let vocab = model.vocab();
    let ids = |t: Vec<LlamaToken>| t.into_iter().map(|t| t.0 as u32).collect();
    Ok(texts
        .iter()
        .map(|text| Encoding {
            plain: ids(vocab.tokenize(text.as_bytes(), false, true)),
            with_specials: ids(vocab.tokenize(text.as_bytes(), true, true)),
            add_bos: vocab.should_add_bos(),
            add_eos: vocab.should_add_eos(),
        })
        .collect())
}

/// Loads `path` and reports what llama.cpp read from it.
pub fn inspect(path: &Path) -> Result<ModelInfo, LlamaError> {
    let guard = ffi::lock()?;
    let model = load(&guard, path)?;
    Ok(info(&model))
}

/// Greedy decoding of `request.prompt` on `request.model`, stopping after
/// `max_new_tokens` tokens or at an end-of-generation token.
pub fn generate(request: &GenerateRequest) -> Result<Generation, LlamaError> {
    let guard = ffi::lock()?;
    let model = load(&guard, &request.model)?;
    let vocab = model.vocab();
    let prompt: Vec<LlamaToken> = match &request.prompt {
        PromptInput::Text(text) => vocab.tokenize(text.as_bytes(), true, false),
        PromptInput::Tokens(ids) => {
            let n_vocab = u32::try_from(model.n_vocab()).unwrap_or(0);
            if let Some(bad) = ids.iter().find(|id| **id >= n_vocab) {
                return Err(LlamaError::TokenOutOfVocabulary { id: *bad, n_vocab });
            }
            ids.iter().map(|id| LlamaToken(*id as i32)).collect()
        }
    };
    if prompt.is_empty() {
        return Err(LlamaError::EmptyPrompt);
    }
    let total = prompt.len() + request.max_new_tokens as usize;
    let n_ctx = u32::try_from(total + 1).unwrap_or(u32::MAX).max(16);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx)
        .with_n_ubatch(n_ctx)
        .with_n_threads(1)
        .with_n_threads_batch(1)
        .with_type_k(KvCacheType::F32)
        .with_type_v(KvCacheType::F32)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED)
        .with_offload_kqv(false)
        .with_no_perf(true);
    let mut ctx = model
        .new_context(guard.backend, params)
        .map_err(|e| LlamaError::Context {
            path: request.model.clone(),
            detail: e.to_string(),
            log: take_log(),
        })?;

    let mut out = Generation {
        prompt_ids: prompt.iter().map(|t| t.0 as u32).collect(),
        tokens: Vec::new(),
        text: String::new(),
        steps: Vec::new(),
        stopped_at_eog: false,
        non_finite_at: None,
    };
    let mut batch = LlamaBatch::new(prompt.len().max(1), 1);
    batch
        .add_sequence(&prompt, 0, false)
        .map_err(|e| decode_error(0, e.to_string()))?;
    decode(&mut ctx, &mut batch, 0)?;
    let mut logits_index = batch.n_tokens() - 1;
    let max_new = request.max_new_tokens as usize;
    for (step, pos) in (0..max_new).zip(prompt.len()..) {
        let logits = ctx.get_logits_ith(logits_index);
        if logits.iter().any(|l| !l.is_finite()) {
            out.non_finite_at = Some(step);
            break;
        }
        let record = step_of(logits, request.top_k);
        let chosen = record.chosen;
        out.tokens.push(chosen);
        out.steps.push(record);
        let token = LlamaToken(chosen as i32);
        if vocab.is_eog(token) {
            out.stopped_at_eog = true;
            break;
        }
        if step + 1 == max_new {
            break;
        }
        batch.clear();
        batch
            .add(token, pos as i32, &[0], true)
            .map_err(|e| decode_error(step + 1, e.to_string()))?;
        decode(&mut ctx, &mut batch, step + 1)?;
        logits_index = 0;
    }
    if !out.tokens.is_empty() {
        let ids: Vec<LlamaToken> = out.tokens.iter().map(|t| LlamaToken(*t as i32)).collect();
        out.text = String::from_utf8_lossy(&vocab.detokenize(&ids, true, false)).into_owned();
    }
    Ok(out)
}

/// Loads a model, counting its weights as held from before the load (llama.cpp maps and
/// prefetches the file while loading) until the guard drops.
fn load(guard: &ffi::Guard, path: &Path) -> Result<LlamaModel, LlamaError> {
    ffi::c_path(path)?;
    let file = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file);
    let Some(len) = file.map(|m| m.len()) else {
        return Err(LlamaError::Load {
            path: path.to_path_buf(),
            log: "no such file".into(),
        });
    };
    guard.hold_weights(len);
    let model = LlamaModel::load_from_file(guard.backend, path, &LlamaModelParams::default())
        .map_err(|e| LlamaError::Load {
            path: path.to_path_buf(),
            log: format!("{e}: {}", take_log()),
        })?;
    guard.hold_weights(len.max(model.size()));
    Ok(model)
}

fn info(model: &LlamaModel) -> ModelInfo {
    let vocab = model.vocab();
    let meta = |key: &str| model.meta_val_str(key).unwrap_or_default();
    let architecture = meta("general.architecture");
    ModelInfo {
        architecture,
        file_type: meta("general.file_type"),
        n_vocab: usize::try_from(model.n_vocab()).unwrap_or(0),
        n_layer: model.n_layer() as usize,
        n_head: model.n_head() as usize,
        n_head_kv: model.n_head_kv() as usize,
        n_embd: usize::try_from(model.n_embd()).unwrap_or(0),
        tokenizer_pre: meta("tokenizer.ggml.pre"),
        add_bos: vocab.should_add_bos(),
        bos: vocab.bos().0 as u32,
        eos: vocab.eos().0 as u32,
        n_params: model.n_params(),
    }
}

fn decode(
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch<'_>,
    step: usize,
) -> Result<(), LlamaError> {
    ctx.decode(batch)
        .map_err(|e| decode_error(step, e.to_string()))
}

fn decode_error(step: usize, detail: String) -> LlamaError {
    LlamaError::Decode {
        step,
        detail,
        log: take_log(),
    }
}

/// The greedy choice and top-k log-probabilities of one row of logits. Ties go to the
/// lowest id, as torch's stable descending sort gives them.
pub(crate) fn step_of(logits: &[f32], top_k: usize) -> Step {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|l| (*l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    // Descending logit, ties to the lowest id: a total order, so selecting the best k and
    // sorting only those gives what a stable sort of the whole row would.
    let by_rank = |a: &u32, b: &u32| {
        logits[*b as usize]
            .total_cmp(&logits[*a as usize])
            .then(a.cmp(b))
    };
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let keep = top_k.max(2);
    if keep < order.len() {
        order.select_nth_unstable_by(keep - 1, by_rank);
        order.truncate(keep);
    }
    order.sort_unstable_by(by_rank);
    let chosen = order[0];
    let second = order.get(1).copied().unwrap_or(chosen);
    Step {
        chosen,
        logprob: logits[chosen as usize] as f64 - lse,
        margin: (logits[chosen as usize] - logits[second as usize]) as f64,
        top: order
            .iter()
            .take(top_k)
            .map(|id| (*id, logits[*id as usize] as f64 - lse))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lowest_id_and_logprobs_normalise() {
        let s = step_of(&[1.0, 3.0, 3.0, -2.0], 4);
        assert_eq!(s.chosen, 1);
        assert_eq!(s.margin, 0.0);
        assert_eq!(
            s.top.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 2, 0, 3]
        );
        assert_eq!(s.logprob, s.top[0].1);
        let total: f64 = s.top.iter().map(|(_, lp)| lp.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn partial_selection_ranks_like_a_stable_sort_of_the_whole_row() {
        // Many exact ties across the top-k boundary.
        let logits: Vec<f32> = (0..500u32).map(|i| ((i * 37) % 11) as f32 * 0.5).collect();
        let mut stable: Vec<u32> = (0..500).collect();
        stable.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        for k in [1, 2, 5, 20, 499, 500, 600] {
            let s = step_of(&logits, k);
            let ids: Vec<u32> = s.top.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, stable[..k.min(500)], "top_k {k}");
            assert_eq!(s.chosen, stable[0]);
        }
    }

    #[test]
    fn margin_is_the_top_two_logit_gap() {
        let s = step_of(&[0.5, -1.0, 2.25], 1);
        assert_eq!((s.chosen, s.margin, s.top.len()), (2, 1.75, 1));
    }
}
