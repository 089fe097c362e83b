//! A copy of a GGUF with its metadata edited (keys left out, set or added), optionally its
//! tensor index too, and every tensor's bytes untouched.
//!
//! tmgt checks a ready-made GGUF against raw-prompt oracles; a chat template in its metadata
//! makes runtimes wrap the prompt, so the copy drops it and keeps everything that decides the
//! numbers (tensor table, offsets relative to the data section, and the data itself). The
//! metadata suite's tests set one field at a time to show each check fails on it.

use crate::hf::temp_path;
use crate::parse::{DEFAULT_ALIGNMENT, MAGIC};
use crate::{GgufError, GgufFile, TensorInfo, Value};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// Writes `gguf` to `out` without the metadata `keys` (GGUF version 3, same tensor data);
/// returns the bytes written. Written beside `out` and renamed, so a failure leaves no file.
pub fn copy_without_keys(gguf: &GgufFile, out: &Path, keys: &[&str]) -> Result<u64, GgufError> {
    copy_with_metadata(gguf, out, |metadata| {
        metadata.retain(|(k, _)| !keys.contains(&k.as_str()));
    })
}

/// Writes `gguf` to `out` with its metadata as `edit` leaves it (entries set, added or
/// removed; GGUF version 3, same tensor data); returns the bytes written. Written beside `out`
/// and renamed, so a failure leaves no file.
pub fn copy_with_metadata(
    gguf: &GgufFile,
    out: &Path,
    edit: impl FnOnce(&mut Vec<(String, Value)>),
) -> Result<u64, GgufError> {
    copy_with_index(gguf, out, |metadata, _| edit(metadata))
}

/// Writes `gguf` to `out` with its metadata and its tensor index (names, shapes, types,
/// offsets) as `edit` leaves them, the tensor data section copied unchanged: how tests make
/// a file whose index contradicts its data. Returns the bytes written.
pub fn copy_with_index(
    gguf: &GgufFile,
    out: &Path,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<TensorInfo>),
) -> Result<u64, GgufError> {
    let mut metadata = gguf.metadata.clone();
    let mut tensors = gguf.tensors.clone();
    edit(&mut metadata, &mut tensors);
    let tmp = temp_path(out)?;
    let result = write_copy(gguf, &tmp, &metadata, &tensors).and_then(|bytes| {
        std::fs::rename(&tmp, out)
            .map(|()| bytes)
            .map_err(|source| io(out, "renaming the finished copy into place", source))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn io(path: &Path, context: &str, source: std::io::Error) -> GgufError {
    GgufError::Io {
        path: path.to_owned(),
        context: context.to_string(),
        source,
    }
}

fn write_copy(
    gguf: &GgufFile,
    tmp: &Path,
    kept: &[(String, Value)],
    tensors: &[TensorInfo],
) -> Result<u64, GgufError> {
    let file = File::create(tmp).map_err(|e| io(tmp, "creating the copy", e))?;
    let mut w = BufWriter::new(file);
    let mut header = Vec::new();
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    header.extend_from_slice(&(kept.len() as u64).to_le_bytes());
    for (key, value) in kept {
        put_string(&mut header, key);
        header.extend_from_slice(&value_type(value).to_le_bytes());
        put_value(&mut header, value);
    }
    for t in tensors {
        put_string(&mut header, &t.name);
        header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            header.extend_from_slice(&d.to_le_bytes());
        }
        header.extend_from_slice(&t.kind.id().to_le_bytes());
        header.extend_from_slice(&t.offset.to_le_bytes());
    }
    let alignment = gguf
        .get_u64("general.alignment")
        .unwrap_or(DEFAULT_ALIGNMENT);
    let padded = (header.len() as u64).next_multiple_of(alignment);
    header.resize(padded as usize, 0);
    w.write_all(&header)
        .map_err(|e| io(tmp, "writing the header", e))?;
    let mut src = File::open(&gguf.path).map_err(|e| io(&gguf.path, "opening the source", e))?;
    src.seek(SeekFrom::Start(gguf.data_offset))
        .map_err(|e| io(&gguf.path, "seeking to the tensor data", e))?;
    let data =
        std::io::copy(&mut src, &mut w).map_err(|e| io(tmp, "copying the tensor data", e))?;
    let file = w
        .into_inner()
        .map_err(|e| io(tmp, "flushing the copy", e.into_error()))?;
    file.sync_all()
        .map_err(|e| io(tmp, "syncing the copy", e))?;
    Ok(padded + data)
}

fn value_type(value: &Value) -> u32 {
    match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(items) => {
            // An empty array keeps no element type once read; u8 is as good as any.
            let elem = items.first().map_or(0, value_type);
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}
