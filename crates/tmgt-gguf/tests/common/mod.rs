//! A minimal GGUF v3 writer, so tests build their files in code instead of committing binary
//! fixtures. Tensor data is given already encoded; offsets and padding follow gguf-py
//! (every tensor starts at a multiple of the alignment).
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::path::Path;

use tmgt_gguf::Value;

pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q4_1: u32 = 3;
pub const Q8_0: u32 = 8;

pub struct Tensor {
    pub name: String,
    /// ggml order.
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn new(name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) -> Self {
        Self {
            name: name.to_owned(),
            dims: dims.to_vec(),
            type_id,
            data,
        }
    }

    pub fn f32(name: &str, dims: &[u64], values: &[f32]) -> Self {
        Self::new(name, dims, F32, f32_bytes(values))
    }
}

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn gguf_bytes(metadata: &[(&str, Value)], tensors: &[Tensor]) -> Vec<u8> {
    let alignment = metadata
        .iter()
        .find_map(|(k, v)| match v {
            Value::U32(a) if *k == "general.alignment" => Some(*a as usize),
            _ => None,
        })
        .unwrap_or(32);
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut out, key);
        out.extend(type_id(value).to_le_bytes());
        put_value(&mut out, value);
    }
    let mut offset = 0usize;
    for t in tensors {
        put_string(&mut out, &t.name);
        out.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.type_id.to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        offset = (offset + t.data.len()).next_multiple_of(alignment);
    }
    for t in tensors {
        out.resize(out.len().next_multiple_of(alignment), 0);
        out.extend(&t.data);
    }
    out
}

pub fn write_gguf(path: &Path, metadata: &[(&str, Value)], tensors: &[Tensor]) {
    std::fs::write(path, gguf_bytes(metadata, tensors)).unwrap();
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn type_id(value: &Value) -> u32 {
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

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.extend(v.to_le_bytes()),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(items) => {
            // An empty array needs some element type; u32 is as good as any.
            let elem = items.first().map_or(4, type_id);
            out.extend(elem.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}
