//! GGUF files as tmgt needs them: the header, metadata and tensor table of any GGUF, the
//! dequantized values of its F32/F16/BF16, Q4_0..Q8_0, Q2_K..Q6_K, IQ1_S/IQ1_M,
//! IQ2_XXS/IQ2_XS/IQ2_S, IQ3_XXS/IQ3_S, IQ4_NL/IQ4_XS and TQ1_0/TQ2_0 tensors (also for raw
//! blocks from other containers, see [`dequantize`]), and, for LLaMA models, the float32 HF
//! safetensors file that transformers would save after loading the GGUF. The last lets the
//! harness build a reference model from a GGUF without Python; the arithmetic follows the
//! `gguf` Python package bit for bit so the bytes match transformers' own export.

mod dequant;
mod error;
mod hf;
mod iq3s_grid;
mod iq_grids;
mod parse;
mod write;

pub use dequant::f16_to_f32;
pub use error::GgufError;
pub use hf::{HfWriteSummary, llama_to_hf_safetensors};
pub use write::{copy_with_index, copy_with_metadata, copy_without_keys};

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A parsed GGUF header. Tensor data stays on disk and is read per tensor on demand, so large
/// models cost only their metadata until a tensor is asked for.
#[derive(Debug, Clone)]
pub struct GgufFile {
    path: PathBuf,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    data_offset: u64,
}

/// One metadata value, in the GGUF value type it was stored as.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// Integer types are interchangeable in practice (writers disagree on u32 vs u64), so any
    /// integer that is non-negative counts.
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous row length, the reverse of numpy/torch order.
    pub dims: Vec<u64>,
    pub kind: GgmlType,
    /// Relative to the start of the data section, not to the file.
    pub offset: u64,
}

impl TensorInfo {
    /// The number of values; 1 for a tensor without dims, like a scalar. Saturates on overflow,
    /// which [`GgufFile::open`] rejects for the tensors it returns.
    pub fn elements(&self) -> u64 {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// The size of the stored data, or `None` when it cannot be known: an unsupported type, a
    /// row length that is not a whole number of blocks, or a size beyond `u64`.
    pub fn byte_len(&self) -> Option<u64> {
        let (block_elems, block_bytes) = self.kind.block()?;
        let row = self.dims.first().copied().unwrap_or(1);
        if row % block_elems != 0 {
            return None;
        }
        let elements = self
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        (elements / block_elems).checked_mul(block_bytes)
    }
}

/// The ggml storage types this crate dequantizes, plus any other id as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    non_camel_case_types,
    reason = "ggml's names, as llama.cpp and gguf-py spell them"
)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    /// 8-bit indices into a grid of 8 magnitudes (8, 25 or 43) each, with 7-bit sign indices
    /// and a 4-bit scale per 32 values, in super-blocks of 256.
    IQ2_XXS,
    /// 9-bit grid indices with 7-bit sign indices, as IQ2_XXS, and a 4-bit scale per 16.
    IQ2_XS,
    /// 10-bit grid indices with a sign bit per value, as IQ2_XXS, and a 4-bit scale per 16.
    IQ2_S,
    /// 8-bit indices into a grid of 4 magnitudes (4..=62) each, with 7-bit sign indices and a
    /// 4-bit scale per 32, in super-blocks of 256.
    IQ3_XXS,
    /// 9-bit indices into a fixed grid of 4 odd magnitudes (1..=15) each, with a sign bit per
    /// value, in super-blocks of 256 with a 4-bit scale per 32.
    IQ3_S,
    /// 11-bit indices into a grid of 8 values in -1..=1 each, shifted by +-1/8, with a 3-bit
    /// scale per 32, in super-blocks of 256.
    IQ1_S,
    /// The IQ1_S grid with a shift per 8 values and a 3-bit scale per 16, its f16 super-block
    /// scale spread over the top nibbles of the scale words.
    IQ1_M,
    /// 4-bit indices into a fixed non-linear table, blocks of 32 with one f16 scale.
    IQ4_NL,
    /// The same table in super-blocks of 256 with a 6-bit scale per 32.
    IQ4_XS,
    /// Ternary values (-1, 0, 1), five per byte in base 3, super-blocks of 256 with one scale.
    TQ1_0,
    /// Two bits per value, -1..=2, super-blocks of 256 with one scale.
    TQ2_0,
    Other(u32),
}

impl GgmlType {
    /// The type a ggml type id names; ids this crate cannot decode stay [`GgmlType::Other`].
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            10 => Self::Q2_K,
            11 => Self::Q3_K,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            16 => Self::IQ2_XXS,
            17 => Self::IQ2_XS,
            18 => Self::IQ3_XXS,
            19 => Self::IQ1_S,
            20 => Self::IQ4_NL,
            21 => Self::IQ3_S,
            22 => Self::IQ2_S,
            23 => Self::IQ4_XS,
            29 => Self::IQ1_M,
            30 => Self::BF16,
            34 => Self::TQ1_0,
            35 => Self::TQ2_0,
            other => Self::Other(other),
        }
    }

    /// The ggml type id, as a tensor info stores it.
    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q2_K => 10,
            Self::Q3_K => 11,
            Self::Q4_K => 12,
            Self::Q5_K => 13,
            Self::Q6_K => 14,
            Self::IQ2_XXS => 16,
            Self::IQ2_XS => 17,
            Self::IQ3_XXS => 18,
            Self::IQ1_S => 19,
            Self::IQ4_NL => 20,
            Self::IQ3_S => 21,
            Self::IQ2_S => 22,
            Self::IQ4_XS => 23,
            Self::IQ1_M => 29,
            Self::BF16 => 30,
            Self::TQ1_0 => 34,
            Self::TQ2_0 => 35,
            Self::Other(id) => id,
        }
    }

    /// (elements, bytes) of one storage block; `None` for types this crate cannot decode.
    pub fn block(self) -> Option<(u64, u64)> {
        match self {
            Self::F32 => Some((1, 4)),
            Self::F16 | Self::BF16 => Some((1, 2)),
            Self::Q4_0 => Some((32, 18)),
            Self::Q4_1 => Some((32, 20)),
            Self::Q5_0 => Some((32, 22)),
            Self::Q5_1 => Some((32, 24)),
            Self::Q8_0 => Some((32, 34)),
            Self::Q2_K => Some((256, 84)),
            Self::Q3_K => Some((256, 110)),
            Self::Q4_K => Some((256, 144)),
            Self::Q5_K => Some((256, 176)),
            Self::Q6_K => Some((256, 210)),
            Self::IQ2_XXS => Some((256, 66)),
            Self::IQ2_XS => Some((256, 74)),
            Self::IQ2_S => Some((256, 82)),
            Self::IQ3_XXS => Some((256, 98)),
            Self::IQ3_S => Some((256, 110)),
            Self::IQ1_S => Some((256, 50)),
            Self::IQ1_M => Some((256, 56)),
            Self::IQ4_NL => Some((32, 18)),
            Self::IQ4_XS => Some((256, 136)),
            Self::TQ1_0 => Some((256, 54)),
            Self::TQ2_0 => Some((256, 66)),
            Self::Other(_) => None,
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q2_K => "Q2_K",
            Self::Q3_K => "Q3_K",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::IQ2_XXS => "IQ2_XXS",
            Self::IQ2_XS => "IQ2_XS",
            Self::IQ2_S => "IQ2_S",
            Self::IQ3_XXS => "IQ3_XXS",
            Self::IQ3_S => "IQ3_S",
            Self::IQ1_S => "IQ1_S",
            Self::IQ1_M => "IQ1_M",
            Self::IQ4_NL => "IQ4_NL",
            Self::IQ4_XS => "IQ4_XS",
            Self::TQ1_0 => "TQ1_0",
            Self::TQ2_0 => "TQ2_0",
            Self::Other(id) => return write!(f, "type {id}"),
        };
        f.write_str(name)
    }
}

/// Every value of `raw`, ggml blocks of `kind`, in element order; for callers holding blocks
/// outside a GGUF (other containers reuse ggml's layouts). `None` when `kind` cannot be
/// decoded or `raw` is not a whole number of its blocks.
pub fn dequantize(kind: GgmlType, raw: &[u8]) -> Option<Vec<f32>> {
    let (elements, bytes) = kind.block()?;
    let (elements, bytes) = (
        usize::try_from(elements).ok()?,
        usize::try_from(bytes).ok()?,
    );
    if raw.len() % bytes != 0 {
        return None;
    }
    let mut values = Vec::with_capacity(raw.len() / bytes * elements);
    dequant::dequantize(kind, raw, &mut |v| values.push(v));
    Some(values)
}

impl GgufFile {
    /// Parses the header, metadata and tensor table, checking that every decodable tensor's
    /// data lies inside the file. Tensor data itself is not read.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        parse::parse(path)
    }

    /// Where the tensor data section starts: everything before it is header, metadata and
    /// tensor index.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All metadata entries, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer type whose value fits in a `u64`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// An `f32` or `f64` value.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        match *self.get(key)? {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The first tensor with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads just this tensor's bytes and dequantizes them, in ggml element order.
    pub fn read_f32(&self, tensor: &TensorInfo) -> Result<Vec<f32>, GgufError> {
        let raw = self.read_raw(tensor)?;
        // `read_raw` succeeded, so the element count matches bytes that exist.
        let mut values = Vec::with_capacity(usize::try_from(tensor.elements()).unwrap_or(0));
        dequant::dequantize(tensor.kind, &raw, &mut |v| values.push(v));
        Ok(values)
    }

    /// Values `elements` of one tensor (in ggml element order), reading only the blocks that
    /// hold them: a slice of a tensor too large to hold whole.
    pub fn read_f32_range(
        &self,
        tensor: &TensorInfo,
        elements: std::ops::Range<u64>,
    ) -> Result<Vec<f32>, GgufError> {
        let mut file = File::open(&self.path).map_err(|e| self.io(e, "opening".to_owned()))?;
        let file_len = file
            .metadata()
            .map_err(|e| self.io(e, "reading the file size".to_owned()))?
            .len();
        let (start, _) = self.data_range(tensor, file_len)?;
        let (block_elems, block_bytes) = tensor.kind.block().unwrap_or((1, 4));
        if elements.start > elements.end || elements.end > tensor.elements() {
            return Err(self.bad_tensor(
                tensor,
                format!("values {elements:?} are outside its {}", tensor.elements()),
            ));
        }
        let first = elements.start / block_elems;
        let last = elements.end.div_ceil(block_elems);
        let len = usize::try_from((last - first) * block_bytes)
            .map_err(|_| self.bad_tensor(tensor, "is too large for this platform".to_owned()))?;
        let mut raw = vec![0u8; len];
        let at = start + first * block_bytes;
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut raw))
            .map_err(|e| self.io(e, format!("reading tensor {} at byte {at}", tensor.name)))?;
        let mut values =
            Vec::with_capacity(raw.len() / block_bytes as usize * block_elems as usize);
        dequant::dequantize(tensor.kind, &raw, &mut |v| values.push(v));
        let skip = (elements.start - first * block_elems) as usize;
        values.drain(..skip);
        values.truncate((elements.end - elements.start) as usize);
        Ok(values)
    }

    /// The stored bytes of one tensor, always a whole number of blocks of its type.
    fn read_raw(&self, tensor: &TensorInfo) -> Result<Vec<u8>, GgufError> {
        let mut file = File::open(&self.path).map_err(|e| self.io(e, "opening".to_owned()))?;
        let file_len = file
            .metadata()
            .map_err(|e| self.io(e, "reading the file size".to_owned()))?
            .len();
        let (start, len) = self.data_range(tensor, file_len)?;
        let len = usize::try_from(len)
            .map_err(|_| self.bad_tensor(tensor, "is too large for this platform".to_owned()))?;
        let mut raw = vec![0u8; len];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut raw))
            .map_err(|e| self.io(e, format!("reading tensor {} at byte {start}", tensor.name)))?;
        Ok(raw)
    }

    /// Absolute start and length of a tensor's data, checked against the file length.
    fn data_range(&self, tensor: &TensorInfo, file_len: u64) -> Result<(u64, u64), GgufError> {
        let Some((block_elems, _)) = tensor.kind.block() else {
            return Err(GgufError::UnsupportedType {
                path: self.path.clone(),
                tensor: tensor.name.clone(),
                kind: tensor.kind,
            });
        };
        let Some(len) = tensor.byte_len() else {
            let row = tensor.dims.first().copied().unwrap_or(1);
            let reason = if row % block_elems != 0 {
                format!(
                    "row length {row} is not a multiple of the {} block size {block_elems}",
                    tensor.kind
                )
            } else {
                format!("shape {:?} is too large", tensor.dims)
            };
            return Err(self.bad_tensor(tensor, reason));
        };
        let start = self.data_offset.checked_add(tensor.offset);
        match start.and_then(|s| s.checked_add(len)) {
            Some(end) if end <= file_len => Ok((self.data_offset + tensor.offset, len)),
            _ => Err(self.bad_tensor(
                tensor,
                format!(
                    "its {len} data bytes at data offset {} (file byte {}) run past the end of \
                     the {file_len}-byte file",
                    tensor.offset,
                    self.data_offset.saturating_add(tensor.offset)
                ),
            )),
        }
    }

    fn io(&self, source: std::io::Error, context: String) -> GgufError {
        GgufError::Io {
            path: self.path.clone(),
            context,
            source,
        }
    }

    fn bad_tensor(&self, tensor: &TensorInfo, reason: String) -> GgufError {
        GgufError::BadTensor {
            path: self.path.clone(),
            tensor: tensor.name.clone(),
            reason,
        }
    }
}
