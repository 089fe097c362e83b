//! llama.cpp generations, each computed once per process for a (file, prompt, length).
//!
//! llama.cpp runs in its own worker processes, not through apr's call engine, so it gets its
//! own memo: the first request computes, concurrent requests for the same key wait, later
//! ones reuse. Each answer is two-layered: the outer `Err` is llama.cpp not surviving the
//! call (it aborted, crashed, hung, or tmgt was interrupted), an error result naming the
//! fault; the inner `Err` is llama.cpp's refusal of the file, which the caller judges.

use checks_inference::compare::StepLogprobs;
use llamacpp_runtime::{GenerateRequest, Generation, LlamaError, ModelInfo, PromptInput};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;
use tmgt_check::{CheckError, Context, Memo};

/// Alternatives recorded per step (apr's maximum, so both sides offer the same depth).
pub const LLAMA_TOP_K: usize = 20;

/// A file identified by path and the length and modification time it had: a file rewritten
/// in place is a different key.
type FileKey = (PathBuf, u64, Option<SystemTime>);

fn file_key(path: &Path) -> FileKey {
    let meta = std::fs::metadata(path).ok();
    (
        path.to_path_buf(),
        meta.as_ref().map_or(0, std::fs::Metadata::len),
        meta.and_then(|m| m.modified().ok()),
    )
}

type GenerationKey = (FileKey, PromptInput, u32);

/// What a call gave: the value, llama.cpp's refusal, or the worker's fault.
pub type Answer<T> = Result<Result<Arc<T>, String>, CheckError>;

static GENERATIONS: LazyLock<Memo<GenerationKey, Result<Arc<Generation>, LlamaError>>> =
    LazyLock::new(Memo::default);
static INFOS: LazyLock<Memo<FileKey, Result<Arc<ModelInfo>, LlamaError>>> =
    LazyLock::new(Memo::default);

/// Splits a memoised outcome into the two layers of an [`Answer`].
fn answer<T>(outcome: Result<Arc<T>, LlamaError>) -> Answer<T> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(e) => CheckError::llama_refusal(e).map(|refusal| Err(refusal.to_string())),
    }
}

/// llama.cpp's greedy generation of the instance's prompt on `model`. `Err` carries
/// llama.cpp's reason (load failure, decode failure); the caller decides whether that is a
/// finding about the file or a harness error.
pub fn generate(cx: &dyn Context, model: &Path) -> Answer<Generation> {
    generate_text(model, &cx.prompt()?.text, cx.max_new_tokens())
}

/// llama.cpp's greedy generation of `prompt` on `model`, computed once per process.
pub fn generate_text(model: &Path, prompt: &str, max_new_tokens: u32) -> Answer<Generation> {
    generate_input(model, PromptInput::Text(prompt.to_string()), max_new_tokens)
}

/// llama.cpp's greedy generation from the prompt ids another runtime fed, once per process.
pub fn generate_ids(model: &Path, ids: &[u32], max_new_tokens: u32) -> Answer<Generation> {
    generate_input(model, PromptInput::Tokens(ids.to_vec()), max_new_tokens)
}

fn generate_input(model: &Path, prompt: PromptInput, max_new_tokens: u32) -> Answer<Generation> {
    let key = (file_key(model), prompt.clone(), max_new_tokens);
    answer(
        GENERATIONS
            .get_or_init(key, || {
                llamacpp_runtime::generate(&GenerateRequest {
                    model: model.to_path_buf(),
                    prompt,
                    max_new_tokens,
                    top_k: LLAMA_TOP_K,
                })
                .map(Arc::new)
            })
            .0,
    )
}

/// What llama.cpp read from `model`, or why it could not load it.
pub fn inspect(model: &Path) -> Answer<ModelInfo> {
    answer(
        INFOS
            .get_or_init(file_key(model), || {
                llamacpp_runtime::inspect(model).map(Arc::new)
            })
            .0,
    )
}

/// A generation on a file llama.cpp is expected to handle (its own native GGUF): failing
/// there is not a finding about apr but a harness problem.
pub fn generate_native(cx: &dyn Context, model: &Path) -> Result<Arc<Generation>, CheckError> {
    generate(cx, model)?.map_err(|reason| CheckError::Input {
        what: format!("llama.cpp on its own GGUF {}", model.display()),
        reason,
    })
}

/// llama.cpp's steps in the shape runtimes are compared in.
pub fn step_logprobs(generation: &Generation) -> Vec<StepLogprobs> {
    generation
        .steps
        .iter()
        .map(|s| StepLogprobs {
            chosen: s.chosen,
            top: s.top.clone(),
        })
        .collect()
}

/// The end-of-generation token llama.cpp stopped at, if it stopped.
pub fn stop_token(generation: &Generation) -> Option<u32> {
    generation
        .stopped_at_eog
        .then(|| generation.tokens.last().copied())
        .flatten()
}
