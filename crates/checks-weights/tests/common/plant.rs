//! Damage planted into copies of converted files: a tensor's bytes found by tmgt's own readers
//! (APR v2 or GGUF) and overwritten in place, so the file keeps its size, header and index and
//! only the planted values change.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tmgt_apr::{AprDtype, AprFile};
use tmgt_gguf::{GgmlType, GgufFile};

/// One tensor of a file: where its stored bytes lie and the values they decode to.
#[derive(Debug, Clone)]
pub struct Located {
    pub name: String,
    /// Absolute byte offset of the tensor's data in the file.
    pub at: u64,
    /// Stored bytes.
    pub len: usize,
    /// numpy order (a GGUF's ggml dims reversed).
    pub shape: Vec<usize>,
    /// Decoded by the file's reader, row-major in numpy order.
    pub values: Vec<f32>,
    /// Whether the bytes are the values as little-endian f32, one after another.
    pub plain_f32: bool,
}

impl Located {
    /// Row `r` of a 2-D tensor's values, numpy order.
    pub fn row(&self, r: usize) -> &[f32] {
        let width = self.shape[1..].iter().product::<usize>();
        &self.values[r * width..(r + 1) * width]
    }
}

/// `src` copied into `dir` as `name`: the file damage is planted into.
pub fn copy(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(src, &to).expect("copies the file");
    to
}

/// Tensor `name` of the `.apr` or `.gguf` at `path`, found by the format's reader.
pub fn locate(path: &Path, name: &str) -> Located {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .expect("reads the magic");
    match &magic {
        b"GGUF" => {
            let f = GgufFile::open(path).expect("opens the GGUF");
            let t = f
                .tensor(name)
                .unwrap_or_else(|| panic!("{} has no {name}", path.display()));
            let plain_f32 = t.kind == GgmlType::F32;
            assert!(
                plain_f32,
                "{name} is {:?}: only F32 GGUF tensors are planted",
                t.kind
            );
            Located {
                name: name.to_owned(),
                at: f.data_offset() + t.offset,
                len: usize::try_from(t.elements()).expect("fits") * 4,
                shape: t.dims.iter().rev().map(|&d| d as usize).collect(),
                values: f.read_f32(t).expect("reads the tensor"),
                plain_f32,
            }
        }
        b"APR\0" => {
            let f = AprFile::open(path).expect("opens the APR");
            let t = f
                .tensor(name)
                .unwrap_or_else(|| panic!("{} has no {name}", path.display()));
            Located {
                name: name.to_owned(),
                at: f.header().data_offset + t.offset,
                len: usize::try_from(t.size).expect("fits"),
                shape: t.shape.iter().map(|&d| d as usize).collect(),
                values: f.read_f32(t).expect("reads the tensor"),
                plain_f32: t.dtype == AprDtype::F32,
            }
        }
        other => panic!("{} is neither APR nor GGUF ({other:02x?})", path.display()),
    }
}

/// `len` stored bytes at absolute offset `at`.
pub fn read_bytes(path: &Path, at: u64, len: usize) -> Vec<u8> {
    let mut f = File::open(path).expect("opens");
    let mut out = vec![0u8; len];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut out))
        .expect("reads the bytes");
    out
}

/// Overwrites the bytes at absolute offset `at`; the file's length is unchanged.
pub fn write_bytes(path: &Path, at: u64, bytes: &[u8]) {
    let before = std::fs::metadata(path).expect("stat").len();
    assert!(at + bytes.len() as u64 <= before, "writes inside the file");
    let mut f = OpenOptions::new().write(true).open(path).expect("opens");
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.write_all(bytes))
        .expect("writes the bytes");
}

/// Replaces an F32 tensor's values with `values`, as many as it holds.
pub fn write_f32(path: &Path, t: &Located, values: &[f32]) {
    assert!(t.plain_f32, "{} is not stored as f32", t.name);
    assert_eq!(values.len() * 4, t.len, "{}: same byte length", t.name);
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_bytes(path, t.at, &bytes);
}

/// Swaps two tensors' stored bytes (both the same length).
pub fn swap(path: &Path, a: &str, b: &str) {
    let (a, b) = (locate(path, a), locate(path, b));
    assert_eq!(
        a.len, b.len,
        "{} and {} have the same byte length",
        a.name, b.name
    );
    let (bytes_a, bytes_b) = (read_bytes(path, a.at, a.len), read_bytes(path, b.at, b.len));
    write_bytes(path, a.at, &bytes_b);
    write_bytes(path, b.at, &bytes_a);
}

/// A normal IEEE binary16 value times `2^k`, exactly: its exponent field moved by `k`.
pub fn f16_times_pow2(h: u16, k: i16) -> u16 {
    let exp = ((h >> 10) & 0x1f) as i16;
    let moved = exp + k;
    assert!(
        (1..=30).contains(&exp) && (1..=30).contains(&moved),
        "f16 {h:#06x} times 2^{k} stays normal"
    );
    (h & !(0x1f << 10)) | ((moved as u16) << 10)
}
