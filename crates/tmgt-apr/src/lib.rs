//! APR v2, read by tmgt's own code from the format as apr-format 0.72.3 defines it
//! (`src/v2/`): the 64-byte header, the JSON metadata, the tensor index, and the tensor data at
//! every level apr writes (F32, F16, BF16, APR_Q8, APR_Q4, Q4_K, Q6_K), dequantized to float32.
//! Nothing here calls apr: a file apr wrote wrong must not be read the same wrong way.
//!
//! Tensors are read one at a time from their byte range, so a check of a real model holds one
//! tensor in memory, never the file.

mod decode;
mod error;
mod parse;

pub use error::AprError;

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// An opened APR v2 file: everything but the tensor data.
#[derive(Debug, Clone)]
pub struct AprFile {
    path: PathBuf,
    header: Header,
    metadata: serde_json::Value,
    tensors: Vec<AprTensor>,
}

/// The fixed 64-byte header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Major and minor version bytes.
    pub version: [u8; 2],
    pub flags: u16,
    pub tensor_count: u32,
    pub metadata_offset: u64,
    pub metadata_size: u32,
    pub index_offset: u64,
    pub data_offset: u64,
    pub checksum: u32,
}

/// One tensor index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AprTensor {
    pub name: String,
    pub dtype: AprDtype,
    /// Logical shape, outermost first (numpy order), as apr's index states it.
    pub shape: Vec<u64>,
    /// Relative to the header's `data_offset`.
    pub offset: u64,
    /// Stored bytes.
    pub size: u64,
}

/// The tensor dtypes of apr-format's `TensorDType`, by their index byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AprDtype {
    F32,
    F16,
    BF16,
    F64,
    I32,
    I64,
    I8,
    U8,
    /// apr's own 4-bit blocks: per 32 values an f16 scale and 16 bytes of nibbles, element 2i
    /// in the low nibble of byte i and 2i + 1 in the high one, value `(nibble - 8) * scale`.
    AprQ4,
    /// apr's own 8-bit format: one f32 scale for the whole tensor, then one i8 per value.
    AprQ8,
    /// ggml's Q4_K super-blocks.
    Q4K,
    /// ggml's Q6_K super-blocks.
    Q6K,
    /// A byte apr-format does not define.
    Unknown(u8),
}

impl AprDtype {
    /// The index byte's meaning; 8 and 9 are the legacy ids of APR_Q4 and APR_Q8.
    pub fn from_byte(byte: u8) -> AprDtype {
        match byte {
            0 => Self::F32,
            1 => Self::F16,
            30 => Self::BF16,
            3 => Self::F64,
            4 => Self::I32,
            5 => Self::I64,
            6 => Self::I8,
            7 => Self::U8,
            8 | 128 => Self::AprQ4,
            9 | 129 => Self::AprQ8,
            12 => Self::Q4K,
            14 => Self::Q6K,
            other => Self::Unknown(other),
        }
    }

    /// The ggml block type behind a super-block dtype.
    pub fn ggml(self) -> Option<tmgt_gguf::GgmlType> {
        match self {
            Self::Q4K => Some(tmgt_gguf::GgmlType::Q4_K),
            Self::Q6K => Some(tmgt_gguf::GgmlType::Q6_K),
            _ => None,
        }
    }
}

impl fmt::Display for AprDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F32 => f.write_str("F32"),
            Self::F16 => f.write_str("F16"),
            Self::BF16 => f.write_str("BF16"),
            Self::F64 => f.write_str("F64"),
            Self::I32 => f.write_str("I32"),
            Self::I64 => f.write_str("I64"),
            Self::I8 => f.write_str("I8"),
            Self::U8 => f.write_str("U8"),
            Self::AprQ4 => f.write_str("APR_Q4"),
            Self::AprQ8 => f.write_str("APR_Q8"),
            Self::Q4K => f.write_str("Q4_K"),
            Self::Q6K => f.write_str("Q6_K"),
            Self::Unknown(b) => write!(f, "unknown dtype byte {b}"),
        }
    }
}

/// How a block dtype lays its blocks over the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Blocks run over the values in order; the last one is zero-padded.
    Flat,
    /// Each row of `row` values is zero-padded to `padded` and quantized on its own, as apr's
    /// `quantize_q4_k_matrix` does for rows that are not a multiple of 256.
    RowPadded { row: u64, padded: u64 },
}

impl AprTensor {
    pub fn elements(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// How its blocks lie, judged from the stored size: for a super-block dtype apr writes
    /// either layout, and only the size tells which. `None` when the size fits neither.
    pub fn packing(&self) -> Option<Packing> {
        decode::packing(self)
    }

    /// A flat tensor of `elements` values in `size` stored bytes, of the same dtype: a span of
    /// this one, decoded on its own.
    fn slice(&self, elements: u64, size: u64) -> AprTensor {
        AprTensor {
            name: self.name.clone(),
            dtype: self.dtype,
            shape: vec![elements],
            offset: 0,
            size,
        }
    }
}

impl AprFile {
    /// Reads the header, metadata and index and checks every tensor's range lies in the file.
    /// Tensor data is not read.
    pub fn open(path: &Path) -> Result<AprFile, AprError> {
        parse::parse(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The JSON metadata (architecture, sizes, tokenizer, provenance, ...).
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    pub fn tensors(&self) -> &[AprTensor] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&AprTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads one tensor's bytes and dequantizes them to its logical values, in row-major order.
    pub fn read_f32(&self, tensor: &AprTensor) -> Result<Vec<f32>, AprError> {
        let raw = self.read_raw(tensor)?;
        decode::decode(tensor, &raw).map_err(|problem| match problem {
            decode::Problem::Unsupported => AprError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: tensor.name.clone(),
                dtype: tensor.dtype,
            },
            decode::Problem::Size(reason) => AprError::BadTensor {
                path: self.path.clone(),
                tensor: tensor.name.clone(),
                reason,
            },
        })
    }

    /// Values `elements` (row-major) of one tensor, reading only the bytes that hold them: a
    /// slice of a tensor too large to hold whole.
    pub fn read_f32_range(
        &self,
        tensor: &AprTensor,
        elements: std::ops::Range<u64>,
    ) -> Result<Vec<f32>, AprError> {
        let bad = |reason: String| AprError::BadTensor {
            path: self.path.clone(),
            tensor: tensor.name.clone(),
            reason,
        };
        if elements.start > elements.end || elements.end > tensor.elements() {
            return Err(bad(format!(
                "values {elements:?} are outside its {}",
                tensor.elements()
            )));
        }
        let (a, b) = (elements.start, elements.end);
        if a == b {
            return Ok(Vec::new());
        }
        // The stored span holding the values, as a tensor of its own the decoder reads whole,
        // and where the asked values start in what it decodes.
        let (bytes, part, skip): (std::ops::Range<u64>, AprTensor, u64) = match tensor.dtype {
            AprDtype::F32 | AprDtype::F16 | AprDtype::BF16 => {
                let w = if tensor.dtype == AprDtype::F32 { 4 } else { 2 };
                (a * w..b * w, tensor.slice(b - a, (b - a) * w), 0)
            }
            AprDtype::AprQ8 => {
                // The scale, then the values: read as two spans below.
                let scale = self.read_span(tensor, 0..4)?;
                let values = self.read_span(tensor, 4 + a..4 + b)?;
                let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
                return Ok(values
                    .iter()
                    .map(|&q| f32::from(i8::from_le_bytes([q])) * scale)
                    .collect());
            }
            AprDtype::AprQ4 => {
                let (first, last) = (a / 32, b.div_ceil(32).min(tensor.elements().div_ceil(32)));
                let n = (last * 32).min(tensor.elements()) - first * 32;
                (
                    first * 18..last * 18,
                    tensor.slice(n, (last - first) * 18),
                    a - first * 32,
                )
            }
            AprDtype::Q4K | AprDtype::Q6K => {
                let (block, block_bytes) = tensor
                    .dtype
                    .ggml()
                    .and_then(|k| k.block())
                    .unwrap_or((256, 144));
                match tensor.packing() {
                    Some(Packing::RowPadded { row, padded }) => {
                        let (first, last) = (a / row, b.div_ceil(row));
                        let row_bytes = padded / block * block_bytes;
                        let mut part =
                            tensor.slice((last - first) * row, (last - first) * row_bytes);
                        part.shape = vec![last - first, row];
                        (first * row_bytes..last * row_bytes, part, a - first * row)
                    }
                    Some(Packing::Flat) => {
                        let (first, last) = (a / block, b.div_ceil(block));
                        let n = (last * block).min(tensor.elements()) - first * block;
                        (
                            first * block_bytes..last * block_bytes,
                            tensor.slice(n, (last - first) * block_bytes),
                            a - first * block,
                        )
                    }
                    None => return self.read_f32(tensor),
                }
            }
            _ => return self.read_f32(tensor),
        };
        let raw = self.read_span(tensor, bytes)?;
        let mut values = decode::decode(&part, &raw).map_err(|p| match p {
            decode::Problem::Unsupported => AprError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: tensor.name.clone(),
                dtype: tensor.dtype,
            },
            decode::Problem::Size(reason) => bad(reason),
        })?;
        values.drain(..skip as usize);
        values.truncate((b - a) as usize);
        Ok(values)
    }

    /// Bytes `span` of a tensor's stored data.
    fn read_span(
        &self,
        tensor: &AprTensor,
        span: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, AprError> {
        if span.end > tensor.size {
            return Err(AprError::BadTensor {
                path: self.path.clone(),
                tensor: tensor.name.clone(),
                reason: format!(
                    "bytes {span:?} are outside its {} stored bytes",
                    tensor.size
                ),
            });
        }
        let start = self.header.data_offset + tensor.offset + span.start;
        let len = usize::try_from(span.end - span.start).map_err(|_| AprError::BadTensor {
            path: self.path.clone(),
            tensor: tensor.name.clone(),
            reason: format!(
                "{} bytes is too large for this platform",
                span.end - span.start
            ),
        })?;
        let mut raw = vec![0u8; len];
        let mut file = File::open(&self.path).map_err(|source| AprError::Io {
            path: self.path.clone(),
            context: "opening".to_owned(),
            source,
        })?;
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut raw))
            .map_err(|source| AprError::Io {
                path: self.path.clone(),
                context: format!("reading tensor {} at byte {start}", tensor.name),
                source,
            })?;
        Ok(raw)
    }

    /// The stored bytes of one tensor.
    pub fn read_raw(&self, tensor: &AprTensor) -> Result<Vec<u8>, AprError> {
        self.read_span(tensor, 0..tensor.size)
    }
}
