//! The GGUF header reader. Every length read from the file is checked against the bytes that
//! remain before anything is allocated for it, so a damaged file fails with a message instead
//! of an out-of-memory abort.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::{GgmlType, GgufError, GgufFile, TensorInfo, Value};

pub(crate) const MAGIC: [u8; 4] = *b"GGUF";
pub(crate) const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's `GGML_MAX_DIMS`; llama.cpp refuses more.
const MAX_DIMS: u32 = 4;
/// Real files nest at most one level; the cap keeps a crafted file from exhausting the stack.
const MAX_ARRAY_DEPTH: u32 = 8;

/// Smallest encoding of one tensor info: empty name, no dims, type and offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;
/// Smallest encoding of one key/value pair: empty key, type, a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;

pub(crate) fn parse(path: &Path) -> Result<GgufFile, GgufError> {
    let file = File::open(path).map_err(|source| GgufError::Io {
        path: path.to_owned(),
        context: "opening".to_owned(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| GgufError::Io {
            path: path.to_owned(),
            context: "reading the file size".to_owned(),
            source,
        })?
        .len();
    let mut r = Reader {
        inner: BufReader::new(file),
        path,
        pos: 0,
        len,
        field: "magic".to_owned(),
    };

    let magic: [u8; 4] = r.bytes()?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic {
            path: path.to_owned(),
            found: magic,
        });
    }
    r.field = "version".to_owned();
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            path: path.to_owned(),
            version,
        });
    }
    r.field = "tensor_count".to_owned();
    let tensor_count = r.u64()?;
    r.field = "kv_count".to_owned();
    let kv_count = r.u64()?;

    r.field = "metadata".to_owned();
    let mut metadata = Vec::with_capacity(r.capacity_for(kv_count, MIN_KV_BYTES)?);
    for i in 0..kv_count {
        r.field = format!("key of metadata entry {i}");
        let key = r.string()?;
        r.field = format!("value type of {key}");
        let kind = r.value_kind()?;
        r.field = format!("value of {key}");
        let value = r.value(kind, 0)?;
        metadata.push((key, value));
    }

    r.field = "tensor infos".to_owned();
    let mut tensors = Vec::with_capacity(r.capacity_for(tensor_count, MIN_TENSOR_INFO_BYTES)?);
    for i in 0..tensor_count {
        r.field = format!("name of tensor info {i}");
        let name = r.string()?;
        tensors.push(r.tensor_info(name)?);
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, value)) => value
            .as_u64()
            .filter(|a| a.is_power_of_two())
            .ok_or_else(|| GgufError::BadAlignment {
                path: path.to_owned(),
                value: format!("{value:?}"),
            })?,
    };
    // `pos` is at most the file length, so rounding it up cannot overflow.
    let data_offset = r.pos.next_multiple_of(alignment);

    let gguf = GgufFile {
        path: path.to_owned(),
        metadata,
        tensors,
        data_offset,
    };
    for tensor in &gguf.tensors {
        if tensor.kind.block().is_some() {
            gguf.data_range(tensor, len)?;
        }
    }
    Ok(gguf)
}

/// A position-tracking reader; `field` names what is being read for error messages.
struct Reader<'a> {
    inner: BufReader<File>,
    path: &'a Path,
    pos: u64,
    len: u64,
    field: String,
}

impl Reader<'_> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Checks that `needed` more bytes exist, returning the count as a `usize` that is safe to
    /// allocate.
    fn ensure(&self, needed: u64) -> Result<usize, GgufError> {
        match usize::try_from(needed) {
            Ok(n) if needed <= self.remaining() => Ok(n),
            _ => Err(GgufError::Truncated {
                path: self.path.to_owned(),
                offset: self.pos,
                field: self.field.clone(),
                needed,
                available: self.remaining(),
            }),
        }
    }

    /// Checks that `count` items of at least `min_bytes` (>= 1) each can still fit in the
    /// file, returning the count as a capacity that is safe to allocate.
    fn capacity_for(&self, count: u64, min_bytes: u64) -> Result<usize, GgufError> {
        self.ensure(count.saturating_mul(min_bytes))?;
        // count <= count * min_bytes, which `ensure` just showed fits in a usize.
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        let n = buf.len() as u64;
        self.ensure(n)?;
        self.inner.read_exact(buf).map_err(|source| GgufError::Io {
            path: self.path.to_owned(),
            context: format!("reading {} at byte {}", self.field, self.pos),
            source,
        })?;
        self.pos += n;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        self.bytes().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        self.bytes().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let start = self.pos;
        let len = self.u64()?;
        let mut buf = vec![0u8; self.ensure(len)?];
        self.fill(&mut buf)?;
        String::from_utf8(buf).map_err(|_| GgufError::InvalidUtf8 {
            path: self.path.to_owned(),
            offset: start,
            field: self.field.clone(),
        })
    }

    /// Reads a value type id, rejecting unknown ones at the offset they were found.
    fn value_kind(&mut self) -> Result<ValueKind, GgufError> {
        let offset = self.pos;
        let type_id = self.u32()?;
        ValueKind::from_id(type_id).ok_or_else(|| GgufError::BadValueType {
            path: self.path.to_owned(),
            offset,
            field: self.field.clone(),
            type_id,
        })
    }

    fn value(&mut self, kind: ValueKind, depth: u32) -> Result<Value, GgufError> {
        Ok(match kind {
            ValueKind::U8 => Value::U8(u8::from_le_bytes(self.bytes()?)),
            ValueKind::I8 => Value::I8(i8::from_le_bytes(self.bytes()?)),
            ValueKind::U16 => Value::U16(u16::from_le_bytes(self.bytes()?)),
            ValueKind::I16 => Value::I16(i16::from_le_bytes(self.bytes()?)),
            ValueKind::U32 => Value::U32(self.u32()?),
            ValueKind::I32 => Value::I32(i32::from_le_bytes(self.bytes()?)),
            ValueKind::F32 => Value::F32(f32::from_le_bytes(self.bytes()?)),
            ValueKind::Bool => Value::Bool(u8::from_le_bytes(self.bytes()?) != 0),
            ValueKind::String => Value::String(self.string()?),
            ValueKind::U64 => Value::U64(self.u64()?),
            ValueKind::I64 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            ValueKind::F64 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            ValueKind::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::NestingTooDeep {
                        path: self.path.to_owned(),
                        offset: self.pos,
                        field: self.field.clone(),
                        max_depth: MAX_ARRAY_DEPTH,
                    });
                }
                let elem = self.value_kind()?;
                let count = self.u64()?;
                let mut items = Vec::with_capacity(self.capacity_for(count, elem.min_bytes())?);
                for _ in 0..count {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(items)
            }
        })
    }

    fn tensor_info(&mut self, name: String) -> Result<TensorInfo, GgufError> {
        self.field = format!("n_dims of tensor {name}");
        let n_dims = self.u32()?;
        if n_dims > MAX_DIMS {
            return Err(self.bad_tensor(&name, format!("has {n_dims} dims, more than {MAX_DIMS}")));
        }
        self.field = format!("dims of tensor {name}");
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64()?);
        }
        if dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(
                self.bad_tensor(&name, format!("element count of shape {dims:?} overflows"))
            );
        }
        self.field = format!("type of tensor {name}");
        let kind = GgmlType::from_id(self.u32()?);
        self.field = format!("offset of tensor {name}");
        let offset = self.u64()?;
        Ok(TensorInfo {
            name,
            dims,
            kind,
            offset,
        })
    }

    fn bad_tensor(&self, name: &str, reason: String) -> GgufError {
        GgufError::BadTensor {
            path: self.path.to_owned(),
            tensor: name.to_owned(),
            reason,
        }
    }
}

/// GGUF metadata value types, by their id in the file.
#[derive(Debug, Clone, Copy)]
enum ValueKind {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueKind {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// The smallest encoding of one value, to bound array lengths before allocating.
    fn min_bytes(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            // A string is at least its u64 length.
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            // Element type and count.
            Self::Array => 4 + 8,
        }
    }
}
