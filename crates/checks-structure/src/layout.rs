//! tmgt's own reading of the two containers apr writes, APR v2 and GGUF: where the fixed header,
//! the metadata, the tensor index and the tensor data lie, and each tensor's byte range. The
//! corruption suite places its damage from this layout, not from guessed offsets, so a
//! truncation "inside the tensor index" is inside it whatever the model. Only the header,
//! metadata and index are read; tensor data never is.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// `APR\0`.
pub const APR_MAGIC: [u8; 4] = *b"APR\0";
/// `GGUF`.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Size of the fixed APR v2 header.
pub const APR_HEADER_LEN: u64 = 64;
/// Size of the fixed GGUF header (magic, version, tensor count, key/value count).
pub const GGUF_HEADER_LEN: u64 = 24;
/// GGUF's data alignment when `general.alignment` is absent.
const GGUF_DEFAULT_ALIGNMENT: u64 = 32;
/// More tensors or keys than this is not a model tmgt made; refuse rather than loop.
const MAX_ENTRIES: u64 = 1_000_000;
/// The longest string (tensor name, metadata key or value) tmgt reads from a header.
const MAX_STRING: u64 = 64 * 1024 * 1024;

/// Why [`Layout::read`] could not lay a file out.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot stat {}: {source}", path.display())]
    Stat { path: PathBuf, source: io::Error },
    /// The file is shorter than a magic; its message has never named the file.
    #[error(transparent)]
    NoMagic(Malformed),
    #[error("{}: {problem}", path.display())]
    Malformed { path: PathBuf, problem: Malformed },
}

/// What stops tmgt reading a file's layout, found at a byte of it; [`LayoutError`] adds which
/// file. Positions are absolute byte offsets.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("ends at byte {pos}: {source}")]
    EndsAt { pos: u64, source: io::Error },
    #[error("read error at byte {pos}: {source}")]
    Read { pos: u64, source: io::Error },
    /// A length field larger than tmgt reads.
    #[error("a {len}-byte field at byte {pos}")]
    FieldTooLong { len: u64, pos: u64 },
    /// The file ends inside a field that starts at `pos`.
    #[error("ends inside a {len}-byte field at byte {pos}")]
    EndsInField { len: u64, pos: u64 },
    /// The file ends at `pos`, inside a field being skipped.
    #[error("ends at byte {pos} inside a {len}-byte field")]
    EndsInSkipped { pos: u64, len: u64 },
    #[error("a name at byte {pos} is not UTF-8")]
    NotUtf8 { pos: u64 },
    #[error("magic {0:02x?} is neither APR v2 nor GGUF")]
    UnknownMagic([u8; 4]),
    #[error("{0} tensors is implausible")]
    ImplausibleTensors(u64),
    #[error("{tensors} tensors and {keys} keys is implausible")]
    ImplausibleEntries { tensors: u64, keys: u64 },
    #[error(
        "header offsets out of order: metadata {metadata_offset}+{metadata_size}, index \
         {index_offset}, data {data_offset}, file {file_len}"
    )]
    OffsetsOutOfOrder {
        metadata_offset: u64,
        metadata_size: u64,
        index_offset: u64,
        data_offset: u64,
        file_len: u64,
    },
    #[error("the tensor index ends at byte {end} past the data section at {data_offset}")]
    IndexPastData { end: u64, data_offset: u64 },
    #[error("its tensors end at byte {end} but the file has {file_len}")]
    TensorsPastEnd { end: u64, file_len: u64 },
    #[error("GGUF version {0} (tmgt reads 2 and 3)")]
    GgufVersion(u32),
    #[error("general.alignment {0} is not a power of two")]
    Alignment(u64),
    #[error("a {0}-byte string")]
    StringTooLong(u64),
    #[error("an array of {0} items")]
    ArrayTooLong(u64),
    #[error("GGUF value type {0}")]
    UnknownValueType(u32),
    #[error("tensor {tensor}: offset {offset} overflows")]
    OffsetOverflows { tensor: String, offset: u64 },
    #[error("tensor {tensor}: size {size} overflows")]
    SizeOverflows { tensor: String, size: u64 },
    #[error("tensor {tensor} has {ndim} dimensions")]
    TooManyDimensions { tensor: String, ndim: u32 },
    #[error("tensor {tensor}: element count overflows")]
    ElementsOverflow { tensor: String },
    #[error("tensor {tensor}: ggml type {kind} unknown to tmgt")]
    UnknownGgmlType { tensor: String, kind: u32 },
    #[error("tensor {tensor}: {elements} elements do not fill {block}-element blocks")]
    PartialBlock {
        tensor: String,
        elements: u64,
        block: u64,
    },
}

/// The container formats apr reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Apr,
    Gguf,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Apr => "apr",
            Format::Gguf => "gguf",
        }
    }

    pub fn magic(self) -> [u8; 4] {
        match self {
            Format::Apr => APR_MAGIC,
            Format::Gguf => GGUF_MAGIC,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Apr => "APR v2",
            Format::Gguf => "GGUF",
        })
    }
}

/// A numeric field of the fixed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    pub name: &'static str,
    pub offset: u64,
    pub len: u64,
}

/// One tensor's place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpan {
    pub name: String,
    /// The format's own dtype label (`F32`, `Q4_K`, `AprQ8`, ...).
    pub dtype: String,
    /// Whether the data is plain little-endian float32.
    pub is_f32: bool,
    /// Absolute offset of the tensor's type code in the index (APR: one byte; GGUF: a
    /// little-endian u32).
    pub type_at: u64,
    /// Absolute byte range in the file.
    pub bytes: Range<u64>,
}

/// Where everything lies in one file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub format: Format,
    pub file_len: u64,
    /// The fixed header bytes as found.
    pub header: Vec<u8>,
    /// The header's numeric fields (magic excluded).
    pub fields: Vec<HeaderField>,
    /// APR: the JSON metadata; GGUF: the key/value section.
    pub metadata: Range<u64>,
    /// APR: the tensor index; GGUF: the tensor infos.
    pub index: Range<u64>,
    /// From the start of the data section to the end of the last tensor.
    pub data: Range<u64>,
    /// Every tensor, in index order.
    pub tensors: Vec<TensorSpan>,
}

impl Layout {
    /// Reads the layout of an APR v2 or GGUF file, whichever its magic says.
    pub fn read(path: &Path) -> Result<Layout, LayoutError> {
        let file = File::open(path).map_err(|source| LayoutError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let file_len = file
            .metadata()
            .map_err(|source| LayoutError::Stat {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let mut r = Reader::new(BufReader::new(file));
        let magic: [u8; 4] = r.array().map_err(LayoutError::NoMagic)?;
        match magic {
            APR_MAGIC => read_apr(&mut r, file_len),
            GGUF_MAGIC => read_gguf(&mut r, file_len),
            other => Err(Malformed::UnknownMagic(other)),
        }
        .and_then(|layout| {
            if layout.data.end > file_len {
                return Err(Malformed::TensorsPastEnd {
                    end: layout.data.end,
                    file_len,
                });
            }
            Ok(layout)
        })
        .map_err(|problem| LayoutError::Malformed {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// The largest float32 tensor (the first of equal sizes), if any.
    pub fn largest_f32(&self) -> Option<&TensorSpan> {
        self.tensors
            .iter()
            .filter(|t| t.is_f32 && !t.bytes.is_empty())
            .fold(None, |best: Option<&TensorSpan>, t| match best {
                Some(b) if b.bytes.end - b.bytes.start >= t.bytes.end - t.bytes.start => Some(b),
                _ => Some(t),
            })
    }
}

fn read_apr<R: Read>(r: &mut Reader<R>, file_len: u64) -> Result<Layout, Malformed> {
    let mut header = APR_MAGIC.to_vec();
    header.extend_from_slice(&r.bytes(APR_HEADER_LEN - 4)?);
    let u32_at = |at: usize| {
        u64::from(u32::from_le_bytes([
            header[at],
            header[at + 1],
            header[at + 2],
            header[at + 3],
        ]))
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let tensor_count = u32_at(8);
    let metadata_offset = u64_at(12);
    let metadata_size = u32_at(20);
    let index_offset = u64_at(24);
    let data_offset = u64_at(32);
    if tensor_count > MAX_ENTRIES {
        return Err(Malformed::ImplausibleTensors(tensor_count));
    }
    if !(APR_HEADER_LEN <= metadata_offset
        && metadata_offset + metadata_size <= index_offset
        && index_offset <= data_offset
        && data_offset <= file_len)
    {
        return Err(Malformed::OffsetsOutOfOrder {
            metadata_offset,
            metadata_size,
            index_offset,
            data_offset,
            file_len,
        });
    }
    r.skip(index_offset - r.pos)?;
    let mut tensors = Vec::new();
    let mut data_end = data_offset;
    for _ in 0..tensor_count {
        let name_len = u64::from(r.u16()?);
        let name = r.string(name_len)?;
        let type_at = r.pos;
        let dtype = r.u8()?;
        let ndim = r.u8()?;
        for _ in 0..ndim {
            r.u64()?;
        }
        let offset = r.u64()?;
        let size = r.u64()?;
        let start = data_offset
            .checked_add(offset)
            .ok_or_else(|| Malformed::OffsetOverflows {
                tensor: name.clone(),
                offset,
            })?;
        let end = start
            .checked_add(size)
            .ok_or_else(|| Malformed::SizeOverflows {
                tensor: name.clone(),
                size,
            })?;
        data_end = data_end.max(end);
        tensors.push(TensorSpan {
            name,
            dtype: apr_dtype(dtype),
            is_f32: dtype == 0,
            type_at,
            bytes: start..end,
        });
    }
    if r.pos > data_offset {
        return Err(Malformed::IndexPastData {
            end: r.pos,
            data_offset,
        });
    }
    let fields = [
        ("version", 4, 2),
        ("flags", 6, 2),
        ("tensor_count", 8, 4),
        ("metadata_offset", 12, 8),
        ("metadata_size", 20, 4),
        ("tensor_index_offset", 24, 8),
        ("data_offset", 32, 8),
        ("checksum", 40, 4),
        ("reserved", 44, 20),
    ]
    .into_iter()
    .map(|(name, offset, len)| HeaderField { name, offset, len })
    .collect();
    Ok(Layout {
        format: Format::Apr,
        file_len,
        header,
        fields,
        metadata: metadata_offset..metadata_offset + metadata_size,
        index: index_offset..r.pos,
        data: data_offset..data_end,
        tensors,
    })
}

/// APR v2 dtype codes (apr-format `TensorDType`).
fn apr_dtype(code: u8) -> String {
    match code {
        0 => "F32".into(),
        1 => "F16".into(),
        3 => "F64".into(),
        4 => "I32".into(),
        5 => "I64".into(),
        6 => "I8".into(),
        7 => "U8".into(),
        12 => "Q4_K".into(),
        14 => "Q6_K".into(),
        30 => "BF16".into(),
        128 => "AprQ4".into(),
        129 => "AprQ8".into(),
        other => format!("dtype {other}"),
    }
}

fn read_gguf<R: Read>(r: &mut Reader<R>, file_len: u64) -> Result<Layout, Malformed> {
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(Malformed::GgufVersion(version));
    }
    let tensor_count = r.u64()?;
    let kv_count = r.u64()?;
    if tensor_count > MAX_ENTRIES || kv_count > MAX_ENTRIES {
        return Err(Malformed::ImplausibleEntries {
            tensors: tensor_count,
            keys: kv_count,
        });
    }
    let mut header = GGUF_MAGIC.to_vec();
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&tensor_count.to_le_bytes());
    header.extend_from_slice(&kv_count.to_le_bytes());
    let kv_start = r.pos;
    let mut alignment = GGUF_DEFAULT_ALIGNMENT;
    for _ in 0..kv_count {
        let key_len = r.u64()?;
        let key = r.string(key_len)?;
        let kind = r.u32()?;
        if key == "general.alignment" && kind == GGUF_U32 {
            alignment = u64::from(r.u32()?);
            if alignment == 0 || !alignment.is_power_of_two() {
                return Err(Malformed::Alignment(alignment));
            }
        } else {
            skip_gguf_value(r, kind)?;
        }
    }
    let infos_start = r.pos;
    let mut infos = Vec::new();
    for _ in 0..tensor_count {
        let name_len = r.u64()?;
        let name = r.string(name_len)?;
        let ndim = r.u32()?;
        if ndim > 8 {
            return Err(Malformed::TooManyDimensions { tensor: name, ndim });
        }
        let mut elements: u64 = 1;
        for _ in 0..ndim {
            elements =
                elements
                    .checked_mul(r.u64()?)
                    .ok_or_else(|| Malformed::ElementsOverflow {
                        tensor: name.clone(),
                    })?;
        }
        let type_at = r.pos;
        let kind = r.u32()?;
        let offset = r.u64()?;
        let Some((block, bytes)) = ggml_block(kind) else {
            return Err(Malformed::UnknownGgmlType { tensor: name, kind });
        };
        if elements % block != 0 {
            return Err(Malformed::PartialBlock {
                tensor: name,
                elements,
                block,
            });
        }
        infos.push((name, kind, type_at, offset, elements / block * bytes));
    }
    let infos_end = r.pos;
    let data_start = infos_end.div_ceil(alignment) * alignment;
    let mut data_end = data_start;
    let mut tensors = Vec::new();
    for (name, kind, type_at, offset, size) in infos {
        let start = data_start
            .checked_add(offset)
            .ok_or_else(|| Malformed::OffsetOverflows {
                tensor: name.clone(),
                offset,
            })?;
        let end = start + size;
        data_end = data_end.max(end);
        tensors.push(TensorSpan {
            name,
            dtype: ggml_name(kind),
            is_f32: kind == 0,
            type_at,
            bytes: start..end,
        });
    }
    let fields = [
        ("version", 4, 4),
        ("tensor_count", 8, 8),
        ("kv_count", 16, 8),
    ]
    .into_iter()
    .map(|(name, offset, len)| HeaderField { name, offset, len })
    .collect();
    Ok(Layout {
        format: Format::Gguf,
        file_len,
        header,
        fields,
        metadata: kv_start..infos_start,
        index: infos_start..infos_end,
        data: data_start..data_end,
        tensors,
    })
}

const GGUF_U32: u32 = 4;
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;

/// Skips one GGUF metadata value of type `kind`.
fn skip_gguf_value<R: Read>(r: &mut Reader<R>, kind: u32) -> Result<(), Malformed> {
    match kind {
        GGUF_STRING => {
            let len = r.u64()?;
            if len > MAX_STRING {
                return Err(Malformed::StringTooLong(len));
            }
            r.skip(len)
        }
        GGUF_ARRAY => {
            let item = r.u32()?;
            let count = r.u64()?;
            if count > 100 * MAX_ENTRIES {
                return Err(Malformed::ArrayTooLong(count));
            }
            match gguf_scalar_size(item) {
                Some(size) => r.skip(count * size),
                None => (0..count).try_for_each(|_| skip_gguf_value(r, item)),
            }
        }
        other => r.skip(gguf_scalar_size(other).ok_or(Malformed::UnknownValueType(other))?),
    }
}

fn gguf_scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// (elements per block, bytes per block) of a ggml tensor type.
fn ggml_block(kind: u32) -> Option<(u64, u64)> {
    Some(match kind {
        0 => (1, 4),
        1 | 30 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        10 => (256, 84),
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        16 | 35 => (256, 66),
        17 => (256, 74),
        18 => (256, 98),
        19 => (256, 50),
        20 => (32, 18),
        21 => (256, 110),
        22 => (256, 82),
        23 => (256, 136),
        29 => (256, 56),
        34 => (256, 54),
        24 => (1, 1),
        25 => (1, 2),
        26 => (1, 4),
        27 | 28 => (1, 8),
        _ => return None,
    })
}

fn ggml_name(kind: u32) -> String {
    match kind {
        0 => "F32".into(),
        1 => "F16".into(),
        2 => "Q4_0".into(),
        3 => "Q4_1".into(),
        6 => "Q5_0".into(),
        7 => "Q5_1".into(),
        8 => "Q8_0".into(),
        9 => "Q8_1".into(),
        10 => "Q2_K".into(),
        11 => "Q3_K".into(),
        12 => "Q4_K".into(),
        13 => "Q5_K".into(),
        14 => "Q6_K".into(),
        15 => "Q8_K".into(),
        16 => "IQ2_XXS".into(),
        17 => "IQ2_XS".into(),
        18 => "IQ3_XXS".into(),
        19 => "IQ1_S".into(),
        20 => "IQ4_NL".into(),
        21 => "IQ3_S".into(),
        22 => "IQ2_S".into(),
        23 => "IQ4_XS".into(),
        29 => "IQ1_M".into(),
        30 => "BF16".into(),
        34 => "TQ1_0".into(),
        35 => "TQ2_0".into(),
        other => format!("ggml type {other}"),
    }
}

/// A little-endian reader that knows its position.
struct Reader<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Reader<R> {
    fn new(inner: R) -> Reader<R> {
        Reader { inner, pos: 0 }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|source| Malformed::EndsAt {
                pos: self.pos,
                source,
            })?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, Malformed> {
        if n > MAX_STRING {
            return Err(Malformed::FieldTooLong {
                len: n,
                pos: self.pos,
            });
        }
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(n)
            .read_to_end(&mut buf)
            .map_err(|source| Malformed::Read {
                pos: self.pos,
                source,
            })?;
        if buf.len() as u64 != n {
            return Err(Malformed::EndsInField {
                len: n,
                pos: self.pos,
            });
        }
        self.pos += n;
        Ok(buf)
    }

    fn string(&mut self, n: u64) -> Result<String, Malformed> {
        let pos = self.pos;
        String::from_utf8(self.bytes(n)?).map_err(|_| Malformed::NotUtf8 { pos })
    }

    fn skip(&mut self, n: u64) -> Result<(), Malformed> {
        let copied =
            io::copy(&mut (&mut self.inner).take(n), &mut io::sink()).map_err(|source| {
                Malformed::Read {
                    pos: self.pos,
                    source,
                }
            })?;
        if copied != n {
            return Err(Malformed::EndsInSkipped {
                pos: self.pos + copied,
                len: n,
            });
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gguf(alignment: Option<u32>) -> Vec<u8> {
        let mut b = GGUF_MAGIC.to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes()); // tensors
        b.extend_from_slice(&(2 + u64::from(alignment.is_some())).to_le_bytes()); // keys
        let key = |b: &mut Vec<u8>, k: &str| {
            b.extend_from_slice(&(k.len() as u64).to_le_bytes());
            b.extend_from_slice(k.as_bytes());
        };
        key(&mut b, "general.name");
        b.extend_from_slice(&GGUF_STRING.to_le_bytes());
        key(&mut b, "tiny");
        key(&mut b, "tokens");
        b.extend_from_slice(&GGUF_ARRAY.to_le_bytes());
        b.extend_from_slice(&GGUF_STRING.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        key(&mut b, "a");
        key(&mut b, "bc");
        if let Some(a) = alignment {
            key(&mut b, "general.alignment");
            b.extend_from_slice(&GGUF_U32.to_le_bytes());
            b.extend_from_slice(&a.to_le_bytes());
        }
        let meta_end = b.len();
        for (name, dims, kind, offset) in [("w", [4u64, 2], 0u32, 0u64), ("q", [256, 1], 12, 64)] {
            key(&mut b, name);
            b.extend_from_slice(&2u32.to_le_bytes());
            for d in dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
        }
        let a = u64::from(alignment.unwrap_or(32)) as usize;
        let data = b.len().div_ceil(a) * a;
        b.resize(data + 64 + 144, 0);
        assert!(meta_end > 24);
        b
    }

    fn read(bytes: &[u8], ext: &str) -> Result<Layout, LayoutError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("m.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        Layout::read(&path)
    }

    #[test]
    fn gguf_sections_and_tensor_ranges() {
        for alignment in [None, Some(64)] {
            let bytes = gguf(alignment);
            let l = read(&bytes, "gguf").unwrap();
            assert_eq!(l.format, Format::Gguf);
            assert_eq!(l.metadata.start, GGUF_HEADER_LEN);
            assert_eq!(l.metadata.end, l.index.start);
            let a = u64::from(alignment.unwrap_or(32));
            assert_eq!(l.data.start % a, 0);
            assert!(l.data.start >= l.index.end && l.data.start - l.index.end < a);
            assert_eq!(l.data.end, bytes.len() as u64);
            assert_eq!(l.tensors[0].bytes, l.data.start..l.data.start + 32);
            assert!(l.tensors[0].is_f32);
            assert_eq!(l.tensors[1].dtype, "Q4_K");
            assert_eq!(l.largest_f32().unwrap().name, "w");
            assert_eq!(l.header.len() as u64, GGUF_HEADER_LEN);
        }
    }

    #[test]
    fn apr_sections_and_tensor_ranges() {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(&APR_MAGIC);
        b[4] = 2;
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[12..20].copy_from_slice(&64u64.to_le_bytes());
        b[20..24].copy_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(b"{\"a\":1} ");
        let index = b.len() as u64;
        for (name, dtype, offset, size) in [("n", 0u8, 0u64, 16u64), ("e", 129, 64, 36)] {
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.push(dtype);
            b.push(1);
            b.extend_from_slice(&4u64.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
        }
        let index_end = b.len() as u64;
        let data = index_end.div_ceil(64) * 64;
        b[24..32].copy_from_slice(&index.to_le_bytes());
        b[32..40].copy_from_slice(&data.to_le_bytes());
        b.resize(data as usize + 128 + 4, 0);
        let l = read(&b, "apr").unwrap();
        assert_eq!(l.format, Format::Apr);
        assert_eq!(l.metadata, 64..72);
        assert_eq!(l.index, index..index_end);
        assert_eq!(l.data, data..data + 100);
        assert_eq!(l.tensors[1].dtype, "AprQ8");
        assert_eq!(l.largest_f32().unwrap().name, "n");
        assert_eq!(l.fields.len(), 9);
        // A file cut inside its data is not a layout tmgt can corrupt further.
        assert!(read(&b[..data as usize + 50], "apr").is_err());
    }

    #[test]
    fn foreign_and_damaged_files_are_refused() {
        // The messages are the ones reports have always carried.
        let foreign = read(b"PK\x03\x04rest", "apr").unwrap_err().to_string();
        assert!(
            foreign.ends_with("m.apr: magic [50, 4b, 03, 04] is neither APR v2 nor GGUF"),
            "{foreign}"
        );
        assert_eq!(
            read(b"", "apr").unwrap_err().to_string(),
            "ends at byte 0: failed to fill whole buffer"
        );
        let mut bytes = gguf(None);
        bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            read(&bytes, "gguf")
                .unwrap_err()
                .to_string()
                .contains("implausible")
        );
    }
}
