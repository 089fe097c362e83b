//! The float32 HF safetensors export of a LLaMA GGUF, byte for byte what transformers 5
//! writes with `save_pretrained` after loading the GGUF (which it dequantizes with gguf-py):
//! HF tensor names, numpy/torch shapes, q/k rows back in HF's RoPE order, `{"format": "pt"}`
//! metadata. Tensors are dequantized one at a time while the file is written, so memory stays
//! near the size of the largest tensor rather than the model.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, View};

use crate::{GgufError, GgufFile, TensorInfo, dequant};

const ARCHITECTURE: &str = "general.architecture";
const HEAD_COUNT: &str = "llama.attention.head_count";
const HEAD_COUNT_KV: &str = "llama.attention.head_count_kv";

/// What [`llama_to_hf_safetensors`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HfWriteSummary {
    pub tensors: usize,
    /// Size of the whole file, header included.
    pub bytes: u64,
}

/// Writes the HF transformers tensors of a LLaMA GGUF to `out` as float32 safetensors.
///
/// The file appears under its final name only once complete: it is written to a hidden
/// sibling first and renamed, so an interrupted run leaves no truncated `out`.
pub fn llama_to_hf_safetensors(gguf: &GgufFile, out: &Path) -> Result<HfWriteSummary, GgufError> {
    let path = gguf.path();
    match gguf.get_str(ARCHITECTURE) {
        Some("llama") => {}
        Some(other) => {
            return Err(GgufError::NotLlama {
                path: path.to_owned(),
                architecture: other.to_owned(),
            });
        }
        None => return Err(missing(path, ARCHITECTURE)),
    }
    let heads = gguf
        .get_u64(HEAD_COUNT)
        .ok_or_else(|| missing(path, HEAD_COUNT))?;
    // Optional in GGUF; without it there is one KV head per query head, as in transformers.
    let kv_heads = match gguf.get(HEAD_COUNT_KV) {
        None => heads,
        Some(_) => gguf
            .get_u64(HEAD_COUNT_KV)
            .ok_or_else(|| missing(path, HEAD_COUNT_KV))?,
    };

    let failure = RefCell::new(None);
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(gguf.tensors().len());
    for info in gguf.tensors() {
        let (name, rope) = hf_name(&info.name).ok_or_else(|| GgufError::UnknownTensor {
            path: path.to_owned(),
            tensor: info.name.clone(),
        })?;
        if !seen.insert(name.clone()) {
            return Err(gguf.bad_tensor(info, format!("maps to {name}, like an earlier tensor")));
        }
        let split_heads = match rope {
            Rope::None => None,
            Rope::Query => Some(heads),
            Rope::Key => Some(kv_heads),
        };
        planned.push((name, LazyTensor::new(gguf, info, split_heads, &failure)?));
    }
    let count = planned.len();

    let tmp = temp_path(out)?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let written = safetensors::serialize_to_file(planned, Some(metadata), &tmp);
    let result = match (failure.into_inner(), written) {
        (Some(err), _) => Err(err),
        (None, Err(source)) => Err(GgufError::Safetensors {
            path: tmp.clone(),
            source,
        }),
        (None, Ok(())) => finish(&tmp, out, count),
    };
    if result.is_err() {
        // Best effort: the partial file is garbage, and the error at hand is the one to report.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn finish(tmp: &Path, out: &Path, tensors: usize) -> Result<HfWriteSummary, GgufError> {
    let io = |context: String| {
        move |source| GgufError::Io {
            path: tmp.to_owned(),
            context,
            source,
        }
    };
    let bytes = fs::metadata(tmp)
        .map_err(io("reading the written size".to_owned()))?
        .len();
    fs::rename(tmp, out).map_err(io(format!("renaming to {}", out.display())))?;
    Ok(HfWriteSummary { tensors, bytes })
}

fn missing(path: &Path, key: &'static str) -> GgufError {
    GgufError::MissingMetadata {
        path: path.to_owned(),
        key,
    }
}

/// `.<name>.<pid>.partial` next to `out`: same filesystem, so the final rename is atomic.
pub(crate) fn temp_path(out: &Path) -> Result<PathBuf, GgufError> {
    let name = out.file_name().ok_or_else(|| GgufError::BadOutputPath {
        path: out.to_owned(),
    })?;
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.partial", std::process::id()));
    Ok(out.with_file_name(tmp))
}

/// Which RoPE un-permutation a tensor needs.
#[derive(Debug, Clone, Copy)]
enum Rope {
    None,
    Query,
    Key,
}

/// The HF transformers name of a LLaMA GGUF tensor (llama.cpp's naming), or `None`.
fn hf_name(name: &str) -> Option<(String, Rope)> {
    let top = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(hf) = top {
        return Some((hf.to_owned(), Rope::None));
    }
    let (layer, part) = name.strip_prefix("blk.")?.split_once('.')?;
    // Only the canonical spelling, as gguf-py's name map matches it: no "01" or "+1".
    if layer.parse::<u64>().ok()?.to_string() != layer {
        return None;
    }
    let (hf, rope) = match part {
        "attn_norm.weight" => ("input_layernorm.weight", Rope::None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", Rope::None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Rope::Query),
        "attn_k.weight" => ("self_attn.k_proj.weight", Rope::Key),
        "attn_v.weight" => ("self_attn.v_proj.weight", Rope::None),
        "attn_output.weight" => ("self_attn.o_proj.weight", Rope::None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", Rope::None),
        "ffn_up.weight" => ("mlp.up_proj.weight", Rope::None),
        "ffn_down.weight" => ("mlp.down_proj.weight", Rope::None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), rope))
}

/// A tensor whose float32 bytes are computed only when the safetensors writer asks for them,
/// which it does one tensor at a time while writing.
#[derive(Debug)]
struct LazyTensor<'a> {
    gguf: &'a GgufFile,
    info: &'a TensorInfo,
    /// HF (numpy) order: the ggml dims reversed.
    shape: Vec<usize>,
    byte_len: usize,
    /// For q/k: `dim`, half the head size, by which rows are regrouped.
    half_head: Option<usize>,
    /// `View::data` cannot fail, so a read error is parked here for the caller to report.
    failure: &'a RefCell<Option<GgufError>>,
}

impl<'a> LazyTensor<'a> {
    fn new(
        gguf: &'a GgufFile,
        info: &'a TensorInfo,
        split_heads: Option<u64>,
        failure: &'a RefCell<Option<GgufError>>,
    ) -> Result<Self, GgufError> {
        // Type and block layout only; `open` checked the data is inside the file and each
        // read checks again.
        gguf.data_range(info, u64::MAX)?;
        let too_large = || gguf.bad_tensor(info, "is too large for this platform".to_owned());
        let shape = info
            .dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| too_large())?;
        let byte_len = info
            .elements()
            .checked_mul(4)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(too_large)?;
        let half_head = match split_heads {
            None => None,
            Some(heads) => Some(half_head(gguf, info, heads)?),
        };
        Ok(Self {
            gguf,
            info,
            shape,
            byte_len,
            half_head,
            failure,
        })
    }

    fn render(&self) -> Result<Vec<u8>, GgufError> {
        let raw = self.gguf.read_raw(self.info)?;
        let mut out = Vec::with_capacity(self.byte_len);
        let mut push = |v: f32| out.extend_from_slice(&v.to_le_bytes());
        match self.half_head {
            None => dequant::dequantize(self.info.kind, &raw, &mut push),
            Some(dim) => {
                let rows = self.shape[0];
                let row_bytes = raw.len() / rows;
                for row in 0..rows {
                    let from = source_row(row, dim) * row_bytes;
                    dequant::dequantize(self.info.kind, &raw[from..from + row_bytes], &mut push);
                }
            }
        }
        Ok(out)
    }
}

/// `dim` of transformers' reverse permutation for a q/k tensor split into `heads` heads,
/// checking that rows divide evenly and that a row is whole blocks of the stored type.
fn half_head(gguf: &GgufFile, info: &TensorInfo, heads: u64) -> Result<usize, GgufError> {
    let rows = info.dims.last().copied().unwrap_or(1);
    let pair_rows = heads.saturating_mul(2);
    if heads == 0 || rows == 0 || rows % pair_rows != 0 {
        return Err(GgufError::HeadSplit {
            path: gguf.path().to_owned(),
            tensor: info.name.clone(),
            rows,
            heads,
        });
    }
    let row_elems = info.elements() / rows;
    let block_elems = info.kind.block().map_or(1, |(elems, _)| elems);
    if row_elems % block_elems != 0 {
        return Err(gguf.bad_tensor(
            info,
            format!(
                "a row of {row_elems} values is not whole {} blocks",
                info.kind
            ),
        ));
    }
    usize::try_from(rows / pair_rows)
        .map_err(|_| gguf.bad_tensor(info, "is too large for this platform".to_owned()))
}

/// transformers reshapes q/k to (heads, dim, 2, cols) and swaps axes 1 and 2, so HF row
/// `h*2*dim + j*dim + i` is GGUF row `h*2*dim + i*2 + j`.
fn source_row(row: usize, dim: usize) -> usize {
    let head = row / (2 * dim);
    let within = row % (2 * dim);
    let (j, i) = (within / dim, within % dim);
    head * 2 * dim + i * 2 + j
}

impl View for LazyTensor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        // After one failure the file is abandoned; skip the remaining work.
        if self.failure.borrow().is_some() {
            return Cow::Borrowed(&[]);
        }
        match self.render() {
            Ok(bytes) => Cow::Owned(bytes),
            Err(err) => {
                *self.failure.borrow_mut() = Some(err);
                Cow::Borrowed(&[])
            }
        }
    }

    fn data_len(&self) -> usize {
        self.byte_len
    }
}
