//! What tmgt and a llama.cpp worker say to each other: one JSON document per line, requests
//! on the worker's stdin, a greeting then one response per request on its stdout. Lines, so
//! any call can be replayed by hand: `echo '<request>' | tmgt-llama-worker`.

use crate::LlamaError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The worker's executable name, beside `tmgt`.
pub const WORKER_BINARY: &str = "tmgt-llama-worker";

/// Bumped whenever a message changes shape; a worker of another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// What the model is fed before generating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptInput {
    /// Text, encoded by the GGUF's own tokenizer with the special tokens it asks for (a BOS
    /// when `tokenizer.ggml.add_bos_token` is true), as `llama-cli` does.
    Text(String),
    /// Token ids fed as they are (another runtime's encoding of the prompt).
    Tokens(Vec<u32>),
}

/// One greedy generation to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub model: PathBuf,
    pub prompt: PromptInput,
    pub max_new_tokens: u32,
    /// Alternatives recorded per step, best first.
    pub top_k: usize,
}

/// One generated position, in the shape of an oracle step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A llama.cpp file type (`llama-quantize`'s names): what most matrices become. llama.cpp
/// chooses per tensor: 1-D tensors stay F32, some tensors get a larger type (a `_M` mix), and a
/// matrix whose rows do not fit the type's block falls back to one whose blocks they fit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[expect(
    non_camel_case_types,
    reason = "llama-quantize's names, as people download the files"
)]
pub enum Ftype {
    /// Every tensor float32 (dequantized when the input is quantized).
    F32,
    F16,
    BF16,
    /// 8-bit blocks of 32 with one f16 scale.
    Q8_0,
    Q6_K,
    Q5_K_M,
    Q5_0,
    Q4_K_M,
    /// 4-bit blocks of 32 with one f16 scale.
    Q4_0,
    IQ4_XS,
    Q3_K_M,
    Q2_K,
    IQ3_S,
    /// The types below quantize with an importance matrix (see [`Ftype::needs_importance`]).
    IQ3_XXS,
    /// Q2_K throughout, with no larger types in the mix.
    Q2_K_S,
    IQ2_S,
    IQ2_XS,
    IQ2_XXS,
    /// Ternary weights (-1, 0, +1 times a scale per 256), two bits each.
    TQ2_0,
    IQ1_M,
    /// Ternary weights packed five to a byte, 1.69 bits each.
    TQ1_0,
    IQ1_S,
}

impl Ftype {
    /// The rungs people download, from the largest file to the smallest.
    pub const LADDER: [Ftype; 21] = [
        Ftype::F16,
        Ftype::BF16,
        Ftype::Q8_0,
        Ftype::Q6_K,
        Ftype::Q5_K_M,
        Ftype::Q5_0,
        Ftype::Q4_K_M,
        Ftype::Q4_0,
        Ftype::IQ4_XS,
        Ftype::Q3_K_M,
        Ftype::Q2_K,
        Ftype::IQ3_S,
        Ftype::IQ3_XXS,
        Ftype::Q2_K_S,
        Ftype::IQ2_S,
        Ftype::IQ2_XS,
        Ftype::IQ2_XXS,
        Ftype::TQ2_0,
        Ftype::IQ1_M,
        Ftype::TQ1_0,
        Ftype::IQ1_S,
    ];

    /// Whether llama.cpp refuses to make this type without an importance matrix (the mean
    /// squared activation each column of a matrix meets): the 1- to 3-bit grid types and
    /// Q2_K_S.
    pub fn needs_importance(self) -> bool {
        matches!(
            self,
            Ftype::IQ3_XXS
                | Ftype::Q2_K_S
                | Ftype::IQ2_S
                | Ftype::IQ2_XS
                | Ftype::IQ2_XXS
                | Ftype::IQ1_M
                | Ftype::IQ1_S
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ftype::F32 => "F32",
            Ftype::F16 => "F16",
            Ftype::BF16 => "BF16",
            Ftype::Q8_0 => "Q8_0",
            Ftype::Q6_K => "Q6_K",
            Ftype::Q5_K_M => "Q5_K_M",
            Ftype::Q5_0 => "Q5_0",
            Ftype::Q4_K_M => "Q4_K_M",
            Ftype::Q4_0 => "Q4_0",
            Ftype::IQ4_XS => "IQ4_XS",
            Ftype::Q3_K_M => "Q3_K_M",
            Ftype::Q2_K => "Q2_K",
            Ftype::IQ3_S => "IQ3_S",
            Ftype::IQ3_XXS => "IQ3_XXS",
            Ftype::Q2_K_S => "Q2_K_S",
            Ftype::IQ2_S => "IQ2_S",
            Ftype::IQ2_XS => "IQ2_XS",
            Ftype::IQ2_XXS => "IQ2_XXS",
            Ftype::TQ2_0 => "TQ2_0",
            Ftype::IQ1_M => "IQ1_M",
            Ftype::TQ1_0 => "TQ1_0",
            Ftype::IQ1_S => "IQ1_S",
        }
    }
}

impl std::fmt::Display for Ftype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a worker is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Version,
    Generate(GenerateRequest),
    Inspect {
        model: PathBuf,
    },
    Tokenize {
        model: PathBuf,
        texts: Vec<String>,
    },
    /// Teacher-forced: the log-probability of each id after the ids before it.
    Score {
        model: PathBuf,
        ids: Vec<u32>,
    },
    Quantize {
        input: PathBuf,
        output: PathBuf,
        ftype: Ftype,
    },
    /// One tensor's values as ggml's own GGUF reader and `to_float` give them.
    Dequantize {
        model: PathBuf,
        tensor: String,
    },
}

impl Op {
    /// A short name for messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Op::Version => "version",
            Op::Generate(_) => "generate",
            Op::Inspect { .. } => "inspect",
            Op::Tokenize { .. } => "tokenize",
            Op::Score { .. } => "score",
            Op::Quantize { .. } => "quantize",
            Op::Dequantize { .. } => "dequantize",
        }
    }
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub op: Op,
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Version(String),
    Generation(Generation),
    Info(ModelInfo),
    Encodings(Vec<Encoding>),
    /// One log-probability per id after the first.
    Scores(Vec<f64>),
    /// A tensor's values, in ggml's order.
    Values(Vec<f32>),
    Done,
}

/// The worker's own account of what it has cost so far, taken from the process itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerUsage {
    /// User plus system CPU time (`getrusage(RUSAGE_SELF)`).
    pub cpu_ms: u64,
    /// Peak resident set (`VmHWM`).
    pub peak_rss_kb: u64,
}

/// A response line: the request's id, its outcome, and the worker's usage after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub result: Result<Reply, LlamaError>,
    pub usage: WorkerUsage,
}

/// The first line a worker writes: who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub pid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_crosses_the_pipe_bit_for_bit() {
        let g = Generation {
            prompt_ids: vec![1, 2],
            tokens: vec![3],
            text: "x\n\u{1F600}".into(),
            steps: vec![Step {
                chosen: 3,
                logprob: -0.123_456_789_012_345_68,
                margin: 1.0 / 3.0,
                top: vec![(3, -0.123_456_789_012_345_68), (9, -2.718_281_828_459_1)],
            }],
            stopped_at_eog: false,
            non_finite_at: None,
        };
        let response = Response {
            id: 7,
            result: Ok(Reply::Generation(g)),
            usage: WorkerUsage::default(),
        };
        let line = serde_json::to_string(&response).unwrap();
        assert!(!line.contains('\n'), "one line: {line}");
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn an_error_crosses_the_pipe_with_its_kind() {
        let response = Response {
            id: 1,
            result: Err(LlamaError::EmptyPrompt),
            usage: WorkerUsage::default(),
        };
        let back: Response =
            serde_json::from_str(&serde_json::to_string(&response).unwrap()).unwrap();
        assert_eq!(back, response);
    }
}
