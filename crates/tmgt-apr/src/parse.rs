//! The header, metadata and tensor index. Every length and offset is checked against the file
//! before it is used, so a damaged file is an [`AprError`] naming the byte, never a panic or a
//! huge allocation.

use crate::{AprDtype, AprError, AprFile, AprTensor, Header};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MAGIC: [u8; 4] = *b"APR\0";
const HEADER_LEN: u64 = 64;
/// Shapes longer than this are not a model's (apr-format writes at most 8 dimensions).
const MAX_DIMS: u8 = 8;
const LZ4: u16 = 0x0001;
const ZSTD: u16 = 0x0002;
const ENCRYPTED: u16 = 0x0004;

pub(crate) fn parse(path: &Path) -> Result<AprFile, AprError> {
    let io = |source, context: &str| AprError::Io {
        path: path.to_path_buf(),
        context: context.to_owned(),
        source,
    };
    let malformed = |offset: u64, problem: String| AprError::Malformed {
        path: path.to_path_buf(),
        offset,
        problem,
    };
    let mut file = File::open(path).map_err(|e| io(e, "opening"))?;
    let file_len = file
        .metadata()
        .map_err(|e| io(e, "reading the file size"))?
        .len();
    if file_len < HEADER_LEN {
        return Err(malformed(
            0,
            format!("{file_len} bytes is shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    let mut h = [0u8; HEADER_LEN as usize];
    file.read_exact(&mut h)
        .map_err(|e| io(e, "reading the header"))?;
    let found = [h[0], h[1], h[2], h[3]];
    if found != MAGIC {
        return Err(AprError::BadMagic {
            path: path.to_path_buf(),
            found,
        });
    }
    let u16_at = |at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let header = Header {
        version: [h[4], h[5]],
        flags: u16_at(6),
        tensor_count: u32_at(8),
        metadata_offset: u64_at(12),
        metadata_size: u32_at(20),
        index_offset: u64_at(24),
        data_offset: u64_at(32),
        checksum: u32_at(40),
    };
    for (bit, what) in [
        (LZ4, "LZ4-compressed"),
        (ZSTD, "zstd-compressed"),
        (ENCRYPTED, "encrypted"),
    ] {
        if header.flags & bit != 0 {
            return Err(AprError::Encoded {
                path: path.to_path_buf(),
                flags: header.flags,
                what,
            });
        }
    }
    let metadata_end = header
        .metadata_offset
        .checked_add(u64::from(header.metadata_size));
    let ordered = header.metadata_offset >= HEADER_LEN
        && metadata_end.is_some_and(|end| end <= header.index_offset)
        && header.index_offset <= header.data_offset
        && header.data_offset <= file_len;
    if !ordered {
        return Err(malformed(
            12,
            format!(
                "header offsets out of order: metadata {}+{}, index {}, data {}, file {file_len}",
                header.metadata_offset,
                header.metadata_size,
                header.index_offset,
                header.data_offset
            ),
        ));
    }

    let mut metadata_bytes = vec![0u8; header.metadata_size as usize];
    file.seek(SeekFrom::Start(header.metadata_offset))
        .and_then(|_| file.read_exact(&mut metadata_bytes))
        .map_err(|e| io(e, "reading the metadata"))?;
    // apr pads the metadata section; the JSON document ends at the first NUL.
    let json_len = metadata_bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(metadata_bytes.len());
    let metadata = if json_len == 0 {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&metadata_bytes[..json_len]).map_err(|e| {
            malformed(
                header.metadata_offset,
                format!("the metadata is not JSON: {e}"),
            )
        })?
    };

    let index_len = header.data_offset - header.index_offset;
    let mut index = vec![0u8; usize::try_from(index_len).unwrap_or(usize::MAX)];
    file.seek(SeekFrom::Start(header.index_offset))
        .and_then(|_| file.read_exact(&mut index))
        .map_err(|e| io(e, "reading the tensor index"))?;
    let mut cursor = Cursor {
        bytes: &index,
        pos: 0,
        base: header.index_offset,
    };
    let data_len = file_len - header.data_offset;
    let mut tensors = Vec::with_capacity(header.tensor_count.min(1 << 16) as usize);
    for _ in 0..header.tensor_count {
        let entry = cursor.pos;
        let tensor = read_entry(&mut cursor).map_err(|(at, problem)| malformed(at, problem))?;
        let end = tensor.offset.checked_add(tensor.size);
        if end.is_none_or(|end| end > data_len) {
            return Err(malformed(
                header.index_offset + entry as u64,
                format!(
                    "tensor {}: {} bytes at data offset {} run past the end of the \
                     {file_len}-byte file",
                    tensor.name, tensor.size, tensor.offset
                ),
            ));
        }
        tensors.push(tensor);
    }
    Ok(AprFile {
        path: path.to_path_buf(),
        header,
        metadata,
        tensors,
    })
}

/// One index entry: u16 name length, name, dtype byte, ndim byte, ndim u64 dims, u64 offset,
/// u64 size.
fn read_entry(c: &mut Cursor<'_>) -> Result<AprTensor, (u64, String)> {
    let name_len = c.u16("a tensor name length")?;
    let at = c.at();
    let name = String::from_utf8(c.take(usize::from(name_len), "a tensor name")?.to_vec())
        .map_err(|_| (at, "a tensor name is not UTF-8".to_owned()))?;
    let dtype = AprDtype::from_byte(c.u8("a dtype")?);
    let ndim = c.u8("a dimension count")?;
    if ndim > MAX_DIMS {
        return Err((
            c.at() - 1,
            format!("tensor {name} has {ndim} dimensions (at most {MAX_DIMS})"),
        ));
    }
    let shape = (0..ndim)
        .map(|_| c.u64("a dimension"))
        .collect::<Result<Vec<_>, _>>()?;
    let offset = c.u64("a data offset")?;
    let size = c.u64("a data size")?;
    Ok(AprTensor {
        name,
        dtype,
        shape,
        offset,
        size,
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The file offset of `bytes[0]`, for messages.
    base: u64,
}

impl<'a> Cursor<'a> {
    fn at(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], (u64, String)> {
        match self.bytes.get(self.pos..self.pos + n) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err((
                self.at(),
                format!("the tensor index ends inside {what} ({n} bytes)"),
            )),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, (u64, String)> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, (u64, String)> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, (u64, String)> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }
}
