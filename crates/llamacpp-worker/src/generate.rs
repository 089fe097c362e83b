//! The calls a worker answers, on the model it keeps loaded between them.

use crate::ffi::{self, take_log};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use llamacpp_runtime::{
    Encoding, GenerateRequest, Generation, LlamaError, ModelInfo, PromptInput, Step,
};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file as it was when loaded: one rewritten in place is loaded again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Result<Stamp, LlamaError> {
        let meta = std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .ok_or_else(|| LlamaError::Load {
                path: path.to_path_buf(),
                log: "no such file".into(),
            })?;
        Ok(Stamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// The model a worker holds between calls.
struct Loaded {
    stamp: Stamp,
    vocab_only: bool,
    model: LlamaModel,
}

/// A worker's state: the last model it loaded, kept for the next call on the same file.
#[derive(Default)]
pub(crate) struct Session {
    loaded: Option<Loaded>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("loaded", &self.loaded.as_ref().map(|l| &l.stamp))
            .finish()
    }
}

impl Session {
    /// The model at `path`, loaded now unless held already (a vocabulary-only load serves
    /// only `vocab_only` calls).
    fn model(&mut self, path: &Path, vocab_only: bool) -> Result<&LlamaModel, LlamaError> {
        let backend = ffi::backend()?;
        ffi::c_path(path)?;
        let stamp = Stamp::of(path)?;
        let held = self
            .loaded
            .as_ref()
            .is_some_and(|l| l.stamp == stamp && (vocab_only || !l.vocab_only));
        if !held {
            // The old model is freed before the new one is mapped.
            self.loaded = None;
            let params = LlamaModelParams::default().with_vocab_only(vocab_only);
            let model = LlamaModel::load_from_file(backend, path, &params).map_err(|e| {
                LlamaError::Load {
                    path: path.to_path_buf(),
                    log: format!("{e}: {}", take_log()),
                }
            })?;
            self.loaded = Some(Loaded {
                stamp,
                vocab_only,
                model,
            });
        }
        match &self.loaded {
            Some(loaded) => Ok(&loaded.model),
            None => Err(LlamaError::Backend("no model held after loading".into())),
        }
    }

    /// Encodes each of `texts` with the GGUF's own tokenizer.
    pub(crate) fn tokenize(
        &mut self,
        path: &Path,
        texts: &[String],
    ) -> Result<Vec<Encoding>, LlamaError> {
        let model = self.model(path, true)?;
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

    /// What llama.cpp read from `path`.
    pub(crate) fn inspect(&mut self, path: &Path) -> Result<ModelInfo, LlamaError> {
        Ok(info(self.model(path, false)?))
    }

    /// The log-probability of each of `ids[1..]` after the ids before it, from one pass that
    /// keeps every position's logits.
    pub(crate) fn score(&mut self, path: &Path, ids: &[u32]) -> Result<Vec<f64>, LlamaError> {
        let backend = ffi::backend()?;
        let model = self.model(path, false)?;
        let tokens = checked_tokens(model, ids)?;
        if tokens.len() < 2 {
            return Err(LlamaError::EmptyPrompt);
        }
        let mut ctx = new_context(model, backend, path, tokens.len())?;
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        batch
            .add_sequence(&tokens, 0, true)
            .map_err(|e| decode_error(0, e.to_string()))?;
        decode(&mut ctx, &mut batch, 0)?;
        Ok((1..tokens.len())
            .map(|i| {
                let logits = ctx.get_logits_ith(i as i32 - 1);
                log_softmax_at(logits, ids[i] as usize)
            })
            .collect())
    }

    /// Greedy decoding of `request.prompt` on `request.model`, stopping after
    /// `max_new_tokens` tokens or at an end-of-generation token.
    pub(crate) fn generate(&mut self, request: &GenerateRequest) -> Result<Generation, LlamaError> {
        let backend = ffi::backend()?;
        let model = self.model(&request.model, false)?;
        let vocab = model.vocab();
        let prompt: Vec<LlamaToken> = match &request.prompt {
            PromptInput::Text(text) => vocab.tokenize(text.as_bytes(), true, false),
            PromptInput::Tokens(ids) => checked_tokens(model, ids)?,
        };
        if prompt.is_empty() {
            return Err(LlamaError::EmptyPrompt);
        }
        let total = prompt.len() + request.max_new_tokens as usize;
        let mut ctx = new_context(model, backend, &request.model, total)?;

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

/// `ids` as llama.cpp tokens, each checked to be in the file's vocabulary.
fn checked_tokens(model: &LlamaModel, ids: &[u32]) -> Result<Vec<LlamaToken>, LlamaError> {
    let n_vocab = u32::try_from(model.n_vocab()).unwrap_or(0);
    if let Some(bad) = ids.iter().find(|id| **id >= n_vocab) {
        return Err(LlamaError::TokenOutOfVocabulary { id: *bad, n_vocab });
    }
    Ok(ids.iter().map(|id| LlamaToken(*id as i32)).collect())
}

/// A context for `positions` tokens, computed as the oracle computes: one thread, float32
/// KV cache, no flash attention, everything on the CPU.
fn new_context<'m>(
    model: &'m LlamaModel,
    backend: &llama_cpp_2::llama_backend::LlamaBackend,
    path: &Path,
    positions: usize,
) -> Result<LlamaContext<'m>, LlamaError> {
    let n_ctx = u32::try_from(positions + 1).unwrap_or(u32::MAX).max(16);
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
    model
        .new_context(backend, params)
        .map_err(|e| LlamaError::Context {
            path: path.to_path_buf(),
            detail: e.to_string(),
            log: take_log(),
        })
}

/// `log_softmax(logits)[id]`, summed in f64.
fn log_softmax_at(logits: &[f32], id: usize) -> f64 {
    let lse = log_sum_exp(logits);
    logits
        .get(id)
        .map_or(f64::NEG_INFINITY, |l| *l as f64 - lse)
}

/// `log(sum(exp(logits)))`, shifted by the largest logit and summed in f64.
fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    max + logits
        .iter()
        .map(|l| (*l as f64 - max).exp())
        .sum::<f64>()
        .ln()
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
    let lse = log_sum_exp(logits);
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
