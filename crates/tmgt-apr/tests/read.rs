//! Reading APR v2 files: hand-made ones (every dtype apr writes, and damaged files), and the
//! real apr's imports of the bundled tiny-llama.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use safetensors::SafeTensors;
use tempfile::TempDir;
use tmgt_apr::{AprDtype, AprError, AprFile, Header, Packing};
use tmgt_gguf::GgmlType;

// ---------------------------------------------------------------------------------------------
// A small APR v2 writer, laid out as apr-format 0.72.3's `AprV2Writer::write` lays it out.
// ---------------------------------------------------------------------------------------------

const HEADER_LEN: u64 = 64;
const LAYOUT_ROW_MAJOR: u16 = 0x0400;

/// One tensor as the writer stores it: the index entry's fields and the data bytes.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    dtype: u8,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn entry(name: &str, dtype: u8, shape: &[u64], data: Vec<u8>) -> Entry {
    Entry {
        name: name.to_owned(),
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

/// A built file and where its parts lie.
#[derive(Debug)]
struct Built {
    bytes: Vec<u8>,
    metadata_size: u32,
    index_offset: u64,
    data_offset: u64,
    /// File offset of each index entry.
    entry_at: Vec<u64>,
    /// Each tensor's data offset, relative to `data_offset`.
    tensor_at: Vec<u64>,
}

const CHECKSUM: u32 = 0xdead_beef;

fn align64(n: usize) -> usize {
    n.div_ceil(64) * 64
}

/// Header, metadata at 64 (padded to 64), the index (padded to 64), every tensor's data at a
/// 64-aligned offset, and apr's 4-byte footer. Tensors stay in the given order.
fn build(flags: u16, metadata: &[u8], entries: &[Entry]) -> Built {
    let mut index = Vec::new();
    let mut entry_rel = Vec::new();
    let mut tensor_at = Vec::new();
    let mut data = Vec::new();
    for e in entries {
        entry_rel.push(index.len() as u64);
        let offset = data.len() as u64;
        tensor_at.push(offset);
        index.extend_from_slice(&u16::try_from(e.name.len()).unwrap().to_le_bytes());
        index.extend_from_slice(e.name.as_bytes());
        index.push(e.dtype);
        index.push(u8::try_from(e.shape.len()).unwrap());
        for d in &e.shape {
            index.extend_from_slice(&d.to_le_bytes());
        }
        index.extend_from_slice(&offset.to_le_bytes());
        index.extend_from_slice(&(e.data.len() as u64).to_le_bytes());
        data.extend_from_slice(&e.data);
        data.resize(align64(data.len()), 0);
    }
    let metadata_offset = HEADER_LEN;
    let index_offset = metadata_offset + align64(metadata.len()) as u64;
    let data_offset = index_offset + align64(index.len()) as u64;
    let metadata_size = u32::try_from(metadata.len()).unwrap();

    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"APR\0");
    bytes.extend_from_slice(&[2, 0]);
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(entries.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(&metadata_offset.to_le_bytes());
    bytes.extend_from_slice(&metadata_size.to_le_bytes());
    bytes.extend_from_slice(&index_offset.to_le_bytes());
    bytes.extend_from_slice(&data_offset.to_le_bytes());
    bytes.extend_from_slice(&CHECKSUM.to_le_bytes());
    bytes.resize(HEADER_LEN as usize, 0);
    bytes.extend_from_slice(metadata);
    bytes.resize(index_offset as usize, 0);
    bytes.extend_from_slice(&index);
    bytes.resize(data_offset as usize, 0);
    bytes.extend_from_slice(&data);
    bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // footer CRC32, unchecked
    Built {
        bytes,
        metadata_size,
        index_offset,
        data_offset,
        entry_at: entry_rel.into_iter().map(|r| index_offset + r).collect(),
        tensor_at,
    }
}

fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Compared as bits so -0, infinities and NaN payloads count.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u16_bytes(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One ggml Q4_K super-block: d, dmin (f16 bits), 12 scale bytes, 128 nibble bytes.
fn q4k_block(d: u16, dmin: u16, scales: [u8; 12], qs: &[u8; 128]) -> Vec<u8> {
    let mut b = Vec::with_capacity(144);
    b.extend_from_slice(&d.to_le_bytes());
    b.extend_from_slice(&dmin.to_le_bytes());
    b.extend_from_slice(&scales);
    b.extend_from_slice(qs);
    assert_eq!(b.len(), 144);
    b
}

/// A deterministic byte pattern (no RNG crate needed).
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The hand-made file with every dtype.
// ---------------------------------------------------------------------------------------------

/// Normal, negative zero, the least normal and subnormal, the greatest finite, a NaN payload.
fn f32_values() -> [f32; 7] {
    [
        1.5,
        -0.0,
        -7.25,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
        f32::from_bits(0x7fc0_1234),
    ]
}

/// f16 bits and their exact values.
const F16_CASES: [(u16, f32); 8] = [
    (0x3c00, 1.0),
    (0xc000, -2.0),
    (0x0001, 1.0 / 16_777_216.0),    // 2^-24, the least subnormal
    (0x03ff, 1023.0 / 16_777_216.0), // the greatest subnormal
    (0x7bff, 65504.0),               // the greatest finite
    (0x3555, 1365.0 / 4096.0),       // (1 + 341/1024) / 4
    (0x8000, -0.0),
    (0x7c00, f32::INFINITY),
];

/// bf16 bits and their exact values.
const BF16_CASES: [(u16, f32); 5] = [
    (0x3f80, 1.0),
    (0xc0a0, -5.0),
    (0x3e20, 0.156_25),
    (0x4049, 3.140_625),
    (0xff80, f32::NEG_INFINITY),
];

/// APR_Q8: one f32 scale, then one i8 per value.
const Q8_SCALE: f32 = 0.1;
const Q8_VALUES: [i8; 6] = [-127, -1, 0, 1, 64, -128];

/// APR_Q4 over 40 values: two blocks, the second holding 8 values and zero padding.
fn apr_q4_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x3800u16.to_le_bytes()); // 0.5
    for i in 0u8..16 {
        b.push(i | ((15 - i) << 4));
    }
    b.extend_from_slice(&0x4200u16.to_le_bytes()); // 3.0
    b.extend_from_slice(&[0x0f, 0x81, 0x7a, 0x35]);
    b.extend_from_slice(&[0; 12]);
    b
}

fn apr_q4_expected() -> Vec<f32> {
    let mut v = Vec::new();
    for i in 0..16 {
        v.push((i as f32 - 8.0) * 0.5); // value 2i: low nibble i
        v.push((7.0 - i as f32) * 0.5); // value 2i+1: high nibble 15 - i
    }
    // 0x0f, 0x81, 0x7a, 0x35: low then high nibble, less 8, times 3.
    v.extend_from_slice(&[21.0, -24.0, -21.0, 0.0, 6.0, -3.0, -9.0, -15.0]);
    v
}

/// Legacy-id APR_Q4 (byte 8), shape [2, 16]: one block, f16 scale -0.25.
fn apr_q4_legacy_bytes() -> Vec<u8> {
    let mut b = 0xb400u16.to_le_bytes().to_vec(); // -0.25
    b.extend((0u8..16).map(|i| (i * 5 % 16) | ((i * 11 % 16) << 4)));
    b
}

fn apr_q4_legacy_expected() -> Vec<f32> {
    (0u8..16)
        .flat_map(|i| {
            [
                (f32::from(i * 5 % 16) - 8.0) * -0.25,
                (f32::from(i * 11 % 16) - 8.0) * -0.25,
            ]
        })
        .collect()
}

/// Q4_K, shape [2, 64], each row padded to 256 and quantized alone (apr's
/// `quantize_q4_k_matrix`): two super-blocks. Only sub-blocks 0 and 1 (values 0..64) of each
/// are the row's; the rest is padding, filled with junk here so dropping it is tested.
fn q4k_rows() -> [Vec<u8>; 2] {
    // Row 0: d = 1.0, dmin = 0.5; sc0 = 3, sc1 = 5, m0 = 2, m1 = 7. The top two bits of bytes
    // 0..8 belong to sub-blocks 4..8 (padding): set them to test the 6-bit masks.
    let mut qs0 = [0u8; 128];
    for (l, q) in qs0.iter_mut().enumerate() {
        let l = l as u8;
        *q = if l < 32 {
            (l % 16) | ((15 - l % 16) << 4)
        } else {
            0xab
        };
    }
    let row0 = q4k_block(
        0x3c00,
        0x3800,
        [
            0xc3, 0x45, 0x81, 0xff, 0xc2, 0x87, 0x3f, 0x40, 0x12, 0x34, 0x56, 0x78,
        ],
        &qs0,
    );
    // Row 1: d = 0.25, dmin = 1.0; sc0 = 63, sc1 = 1, m0 = 63, m1 = 0.
    let mut qs1 = [0u8; 128];
    for (l, q) in qs1.iter_mut().enumerate() {
        let l = l as u8;
        *q = if l < 32 {
            (l * 7 % 16) | (((l * 3 + 5) % 16) << 4)
        } else {
            0x5c
        };
    }
    let row1 = q4k_block(
        0x3400,
        0x3c00,
        [
            0x3f, 0x01, 0x2a, 0x15, 0x7f, 0xc0, 0x01, 0x02, 0x9a, 0xbc, 0xde, 0xf0,
        ],
        &qs1,
    );
    [row0, row1]
}

/// ggml's Q4_K for the first 64 values: value l (l < 32) is `d*sc0*(qs[l] & 15) - dmin*m0`,
/// value l + 32 is `d*sc1*(qs[l] >> 4) - dmin*m1`. Every term is exact in f32 here.
fn q4k_expected() -> Vec<f32> {
    let mut v = Vec::new();
    for l in 0..32u8 {
        v.push(3.0 * f32::from(l % 16) - 1.0);
    }
    for l in 0..32u8 {
        v.push(5.0 * f32::from(15 - l % 16) - 3.5);
    }
    for l in 0..32u8 {
        v.push(15.75 * f32::from(l * 7 % 16) - 63.0);
    }
    for l in 0..32u8 {
        v.push(0.25 * f32::from((l * 3 + 5) % 16));
    }
    v
}

/// Q4_K over [2, 128] as one flat super-block (256 values, no row padding).
fn q4k_flat_block() -> Vec<u8> {
    let mut scales = [0u8; 12];
    scales.copy_from_slice(&pattern(7, 12));
    let mut qs = [0u8; 128];
    qs.copy_from_slice(&pattern(8, 128));
    q4k_block(0x2e66, 0x1c00, scales, &qs)
}

/// Q6_K over [3, 100], each row padded to 256: three super-blocks of 210 bytes with a sane d.
fn q6k_rows() -> Vec<u8> {
    let mut raw = Vec::new();
    for r in 0..3u32 {
        let mut block = pattern(20 + r, 208);
        block.extend_from_slice(&(0x2000u16 + r as u16 * 0x111).to_le_bytes());
        raw.extend_from_slice(&block);
    }
    raw
}

const METADATA: &str =
    r#"{"architecture":"llama","hidden_size":64,"name":"hand ✓","nested":{"a":[1,2.5,null]}}"#;

fn every_dtype() -> Vec<Entry> {
    let q4k = q4k_rows();
    let mut q8 = Q8_SCALE.to_le_bytes().to_vec();
    q8.extend(Q8_VALUES.iter().map(|&q| q as u8));
    let mut q8_legacy = 2.0f32.to_le_bytes().to_vec();
    q8_legacy.extend([1u8, 0xff, 0x7f]);
    vec![
        entry("f32", 0, &[7], f32_bytes(&f32_values())),
        entry("f16", 1, &[8], u16_bytes(&F16_CASES.map(|c| c.0))),
        entry("bf16", 30, &[5, 1], u16_bytes(&BF16_CASES.map(|c| c.0))),
        entry("q8", 129, &[2, 3], q8),
        entry("q4", 128, &[40], apr_q4_bytes()),
        entry("q4k", 12, &[2, 64], q4k.concat()),
        entry("q4.legacy", 8, &[2, 16], apr_q4_legacy_bytes()),
        entry("q8.legacy", 9, &[3], q8_legacy),
        entry("q4k.flat", 12, &[2, 128], q4k_flat_block()),
        entry("q6k", 14, &[3, 100], q6k_rows()),
        entry("empty.q8", 129, &[0, 4], Vec::new()),
    ]
}

#[test]
fn every_dtype_reads_back_exactly() {
    let dir = TempDir::new().unwrap();
    let entries = every_dtype();
    let built = build(LAYOUT_ROW_MAJOR, METADATA.as_bytes(), &entries);
    let path = write(&dir, "every.apr", &built.bytes);
    let apr = AprFile::open(&path).unwrap();

    assert_eq!(apr.path(), path);
    assert_eq!(
        *apr.header(),
        Header {
            version: [2, 0],
            flags: LAYOUT_ROW_MAJOR,
            tensor_count: entries.len() as u32,
            metadata_offset: 64,
            metadata_size: built.metadata_size,
            index_offset: built.index_offset,
            data_offset: built.data_offset,
            checksum: CHECKSUM,
        }
    );
    let metadata: serde_json::Value = serde_json::from_str(METADATA).unwrap();
    assert_eq!(*apr.metadata(), metadata);
    assert_eq!(apr.metadata()["name"], "hand ✓");

    // The index as written, in its order (not sorted), with every field.
    let names: Vec<&str> = apr.tensors().iter().map(|t| t.name.as_str()).collect();
    let want: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, want);
    for ((t, e), at) in apr.tensors().iter().zip(&entries).zip(&built.tensor_at) {
        assert_eq!(t.shape, e.shape, "{}", e.name);
        assert_eq!(t.dtype, AprDtype::from_byte(e.dtype), "{}", e.name);
        assert_eq!(t.offset, *at, "{}", e.name);
        assert_eq!(t.size, e.data.len() as u64, "{}", e.name);
        assert_eq!(t.elements(), e.shape.iter().product::<u64>(), "{}", e.name);
        assert_eq!(apr.read_raw(t).unwrap(), e.data, "{}", e.name);
    }
    let dtype = |name: &str| apr.tensor(name).unwrap().dtype;
    assert_eq!(dtype("f32"), AprDtype::F32);
    assert_eq!(dtype("f16"), AprDtype::F16);
    assert_eq!(dtype("bf16"), AprDtype::BF16);
    assert_eq!(dtype("q8"), AprDtype::AprQ8);
    assert_eq!(dtype("q8.legacy"), AprDtype::AprQ8);
    assert_eq!(dtype("q4"), AprDtype::AprQ4);
    assert_eq!(dtype("q4.legacy"), AprDtype::AprQ4);
    assert_eq!(dtype("q4k"), AprDtype::Q4K);
    assert_eq!(dtype("q6k"), AprDtype::Q6K);
    assert!(apr.tensor("missing").is_none());

    let packing = |name: &str| apr.tensor(name).unwrap().packing();
    assert_eq!(packing("f32"), Some(Packing::Flat));
    assert_eq!(packing("q4"), Some(Packing::Flat));
    assert_eq!(packing("q4.legacy"), Some(Packing::Flat));
    assert_eq!(
        packing("q4k"),
        Some(Packing::RowPadded {
            row: 64,
            padded: 256
        })
    );
    assert_eq!(packing("q4k.flat"), Some(Packing::Flat));
    assert_eq!(
        packing("q6k"),
        Some(Packing::RowPadded {
            row: 100,
            padded: 256
        })
    );

    let read = |name: &str| apr.read_f32(apr.tensor(name).unwrap()).unwrap();
    assert_eq!(bits(&read("f32")), bits(&f32_values()));
    assert_eq!(bits(&read("f16")), bits(&F16_CASES.map(|c| c.1)));
    assert_eq!(bits(&read("bf16")), bits(&BF16_CASES.map(|c| c.1)));
    let q8: Vec<f32> = Q8_VALUES.iter().map(|&q| f32::from(q) * Q8_SCALE).collect();
    assert_eq!(bits(&read("q8")), bits(&q8));
    assert_eq!(bits(&read("q8.legacy")), bits(&[2.0, -2.0, 254.0]));
    assert_eq!(bits(&read("q4")), bits(&apr_q4_expected()));
    assert_eq!(bits(&read("q4.legacy")), bits(&apr_q4_legacy_expected()));
    assert_eq!(bits(&read("q4k")), bits(&q4k_expected()));
    assert!(read("empty.q8").is_empty());

    // The super-block dtypes against ggml's decoding of the same blocks (tmgt-gguf's, itself
    // tested against gguf-py): the first 64 values of each row's block, for Q4_K.
    let mut ggml_rows = Vec::new();
    for block in q4k_rows() {
        ggml_rows.extend_from_slice(&tmgt_gguf::dequantize(GgmlType::Q4_K, &block).unwrap()[..64]);
    }
    assert_eq!(bits(&ggml_rows), bits(&q4k_expected()));
    let flat = tmgt_gguf::dequantize(GgmlType::Q4_K, &q4k_flat_block()).unwrap();
    assert_eq!(bits(&read("q4k.flat")), bits(&flat));
    let q6k: Vec<f32> = q6k_rows()
        .chunks_exact(210)
        .flat_map(|b| tmgt_gguf::dequantize(GgmlType::Q6_K, b).unwrap()[..100].to_vec())
        .collect();
    let got = read("q6k");
    assert_eq!(got.len(), 300);
    assert!(got.iter().all(|v| v.is_finite()));
    assert_eq!(bits(&got), bits(&q6k));
}

/// A range of any tensor reads as that slice of the whole, whether it starts and ends inside a
/// block, a padded row or the whole-tensor scale; one past the end is refused.
#[test]
fn ranges_read_as_slices_of_the_whole() {
    let dir = TempDir::new().unwrap();
    let built = build(LAYOUT_ROW_MAJOR, METADATA.as_bytes(), &every_dtype());
    let apr = AprFile::open(&write(&dir, "every.apr", &built.bytes)).unwrap();
    for t in apr.tensors() {
        let whole = apr.read_f32(t).unwrap();
        let n = whole.len();
        let mut ranges = vec![0..n, n / 2..n, n / 3..n / 3];
        if n > 2 {
            ranges.extend([1..n - 1, n / 3..2 * n / 3 + 1]);
        }
        for r in ranges {
            let got = apr
                .read_f32_range(t, r.start as u64..r.end as u64)
                .unwrap_or_else(|e| panic!("{} {r:?}: {e}", t.name));
            assert_eq!(bits(&got), bits(&whole[r.clone()]), "{} {r:?}", t.name);
        }
        assert!(
            matches!(
                apr.read_f32_range(t, 0..n as u64 + 1),
                Err(AprError::BadTensor { .. })
            ),
            "{}",
            t.name
        );
    }
}

#[test]
fn metadata_padded_with_nuls_or_empty() {
    let dir = TempDir::new().unwrap();
    let e = [entry("w", 0, &[1], f32_bytes(&[2.0]))];

    // apr's metadata section may carry NUL padding inside metadata_size: JSON ends at the NUL.
    let mut padded = br#"{"k":"v"}"#.to_vec();
    padded.resize(64, 0);
    let path = write(&dir, "padded.apr", &build(0, &padded, &e).bytes);
    let apr = AprFile::open(&path).unwrap();
    assert_eq!(*apr.metadata(), serde_json::json!({"k": "v"}));
    assert_eq!(apr.header().metadata_size, 64);

    let path = write(&dir, "empty.apr", &build(0, b"", &e).bytes);
    let apr = AprFile::open(&path).unwrap();
    assert_eq!(*apr.metadata(), serde_json::Value::Null);
    assert_eq!(apr.header().index_offset, 64);
    assert_eq!(
        bits(&apr.read_f32(&apr.tensors()[0]).unwrap()),
        bits(&[2.0])
    );
}

#[test]
fn no_tensors() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "none.apr", &build(0, b"{}", &[]).bytes);
    let apr = AprFile::open(&path).unwrap();
    assert!(apr.tensors().is_empty());
    assert_eq!(apr.header().tensor_count, 0);
}

// ---------------------------------------------------------------------------------------------
// Damaged files: a typed error naming the file and the byte, never a panic.
// ---------------------------------------------------------------------------------------------

/// A valid file with two F32 tensors, `a` [2, 3] and `b` [4].
fn base() -> Built {
    build(
        LAYOUT_ROW_MAJOR,
        br#"{"architecture":"llama"}"#,
        &[
            entry("a", 0, &[2, 3], f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
            entry("b", 0, &[4], f32_bytes(&[7.0; 4])),
        ],
    )
}

fn open_err(dir: &TempDir, name: &str, bytes: &[u8]) -> (PathBuf, AprError) {
    let path = write(dir, name, bytes);
    let err = AprFile::open(&path).expect_err("a damaged file must not open");
    (path, err)
}

/// The message names the file and, where given, the byte.
fn assert_names(err: &AprError, path: &Path, byte: Option<u64>) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} does not name {}",
        path.display()
    );
    if let Some(byte) = byte {
        assert!(
            msg.contains(&format!("byte {byte}")),
            "{msg:?} does not name byte {byte}"
        );
    }
}

fn malformed_at(err: &AprError) -> u64 {
    match err {
        AprError::Malformed { offset, .. } => *offset,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn the_base_file_opens() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "base.apr", &base().bytes);
    let apr = AprFile::open(&path).unwrap();
    assert_eq!(apr.tensors().len(), 2);
    let b = apr.read_f32(apr.tensor("b").unwrap()).unwrap();
    assert_eq!(b, [7.0; 4]);
}

#[test]
fn bad_magic() {
    let dir = TempDir::new().unwrap();
    let mut bytes = base().bytes;
    bytes[..4].copy_from_slice(b"GGUF");
    let (path, err) = open_err(&dir, "magic.apr", &bytes);
    assert!(
        matches!(&err, AprError::BadMagic { path: p, found } if p == &path && found == b"GGUF"),
        "{err:?}"
    );
    assert_names(&err, &path, Some(0));

    // APR v1's magic is not v2's either.
    bytes[..4].copy_from_slice(b"APRN");
    let (_, err) = open_err(&dir, "v1.apr", &bytes);
    assert!(
        matches!(err, AprError::BadMagic { found, .. } if &found == b"APRN"),
        "{err:?}"
    );
}

#[test]
fn shorter_than_the_header() {
    let dir = TempDir::new().unwrap();
    for len in [0, 3, 40, 63] {
        let bytes = &base().bytes[..len];
        let (path, err) = open_err(&dir, &format!("short{len}.apr"), bytes);
        assert_eq!(malformed_at(&err), 0, "{err}");
        assert_names(&err, &path, Some(0));
        assert!(err.to_string().contains(&format!("{len} bytes")), "{err}");
    }
}

#[test]
fn offsets_out_of_order() {
    let dir = TempDir::new().unwrap();
    let b = base();
    let len = b.bytes.len() as u64;
    let cases: [(&str, usize, u64); 5] = [
        // metadata inside the header
        ("metadata-in-header", 12, 32),
        // index before the metadata ends
        ("index-in-metadata", 24, 70),
        // data before the index
        ("data-before-index", 32, b.index_offset - 1),
        // data past the end of the file
        ("data-past-end", 32, len + 1),
        // metadata offset so large that offset + size overflows
        ("metadata-overflow", 12, u64::MAX - 2),
    ];
    for (name, at, value) in cases {
        let mut bytes = b.bytes.clone();
        put_u64(&mut bytes, at, value);
        let (path, err) = open_err(&dir, &format!("{name}.apr"), &bytes);
        assert_eq!(malformed_at(&err), 12, "{name}: {err}");
        assert_names(&err, &path, Some(12));
        assert!(err.to_string().contains("out of order"), "{name}: {err}");
    }
    // metadata size running into the index
    let mut bytes = b.bytes.clone();
    put_u32(&mut bytes, 20, (b.index_offset - 64 + 1) as u32);
    let (path, err) = open_err(&dir, "metadata-size.apr", &bytes);
    assert_eq!(malformed_at(&err), 12, "{err}");
    assert_names(&err, &path, Some(12));
}

#[test]
fn truncated_file() {
    // Cut inside the tensor data: the header's data offset still lies in the file, so the
    // error is the tensor's range; cut inside the index: data_offset is past the end.
    let dir = TempDir::new().unwrap();
    let b = base();
    let cut = (b.data_offset + 10) as usize;
    let (path, err) = open_err(&dir, "cut-data.apr", &b.bytes[..cut]);
    assert_eq!(malformed_at(&err), b.entry_at[0], "{err}");
    assert_names(&err, &path, Some(b.entry_at[0]));
    assert!(err.to_string().contains("tensor a"), "{err}");

    let cut = (b.index_offset + 10) as usize;
    let (path, err) = open_err(&dir, "cut-index.apr", &b.bytes[..cut]);
    assert_eq!(malformed_at(&err), 12, "{err}");
    assert_names(&err, &path, Some(12));
}

#[test]
fn index_ends_inside_an_entry() {
    // Entry `a` [2, 3]: name length (2), name (1), dtype (1), ndim (1), dims (16), data offset
    // (8), size (8). Truncate inside each field, with data_offset moved to the cut (the index
    // section ends there), and the error names the field's first byte.
    let dir = TempDir::new().unwrap();
    let b = base();
    let e = b.entry_at[0];
    let fields: [(&str, u64, u64); 7] = [
        ("a tensor name length", 0, 1),
        ("a tensor name", 2, 2),
        ("a dtype", 3, 3),
        ("a dimension count", 4, 4),
        ("a dimension", 13, 20),
        ("a data offset", 21, 25),
        ("a data size", 29, 36),
    ];
    for (what, field_at, cut) in fields {
        let cut = e + cut;
        let mut bytes = b.bytes[..cut as usize].to_vec();
        put_u64(&mut bytes, 32, cut);
        let (path, err) = open_err(&dir, "cut-entry.apr", &bytes);
        assert_eq!(malformed_at(&err), e + field_at, "{what}: {err}");
        assert_names(&err, &path, Some(e + field_at));
        assert!(err.to_string().contains(&format!("inside {what}")), "{err}");
    }

    // The index section (up to data_offset) ending inside the second entry, the first whole
    // and its data in the file: the count says two. (Entries are range-checked as they are
    // read, so the first one's data must lie past the cut.)
    let e1 = b.entry_at[1];
    let cut = e1 + 5;
    let mut bytes = b.bytes.clone();
    put_u64(&mut bytes, 32, cut);
    let (path, err) = open_err(&dir, "cut-second.apr", &bytes);
    assert_eq!(malformed_at(&err), e1 + 5, "{err}");
    assert_names(&err, &path, Some(e1 + 5));

    // More tensors counted than the index holds.
    let mut bytes = b.bytes.clone();
    put_u32(&mut bytes, 8, 1000);
    let (path, err) = open_err(&dir, "count.apr", &bytes);
    assert!(matches!(err, AprError::Malformed { .. }), "{err:?}");
    assert_names(&err, &path, None);
}

#[test]
fn bad_entries() {
    let dir = TempDir::new().unwrap();
    let b = base();
    let e = b.entry_at[0] as usize;

    // Nine dimensions: the ndim byte is named.
    let mut bytes = b.bytes.clone();
    bytes[e + 4] = 9;
    let (path, err) = open_err(&dir, "ndim.apr", &bytes);
    assert_eq!(malformed_at(&err), (e + 4) as u64, "{err}");
    assert_names(&err, &path, Some((e + 4) as u64));

    // A name that is not UTF-8.
    let mut bytes = b.bytes.clone();
    bytes[e + 2] = 0xff;
    let (path, err) = open_err(&dir, "name.apr", &bytes);
    assert_eq!(malformed_at(&err), (e + 2) as u64, "{err}");
    assert_names(&err, &path, Some((e + 2) as u64));
}

#[test]
fn tensor_range_past_the_end() {
    let dir = TempDir::new().unwrap();
    let b = base();
    let len = b.bytes.len() as u64;
    let data_len = len - b.data_offset;
    // Entry `b` [4]: size at +2+1+1+1+8, offset just before it.
    let e = b.entry_at[1];
    let offset_at = (e + 13) as usize;
    let size_at = (e + 21) as usize;
    let cases: [(&str, usize, u64); 3] = [
        ("size", size_at, data_len - b.tensor_at[1] + 1),
        ("offset", offset_at, data_len),
        ("overflow", offset_at, u64::MAX - 8),
    ];
    for (name, at, value) in cases {
        let mut bytes = b.bytes.clone();
        put_u64(&mut bytes, at, value);
        let (path, err) = open_err(&dir, &format!("range-{name}.apr"), &bytes);
        assert_eq!(malformed_at(&err), e, "{name}: {err}");
        assert_names(&err, &path, Some(e));
        assert!(err.to_string().contains("tensor b"), "{name}: {err}");
    }
    // Exactly to the end (into the footer) is in the file.
    let mut bytes = b.bytes.clone();
    put_u64(&mut bytes, size_at, data_len - b.tensor_at[1]);
    let path = write(&dir, "to-the-end.apr", &bytes);
    let apr = AprFile::open(&path).unwrap();
    assert_eq!(apr.tensor("b").unwrap().size, data_len - b.tensor_at[1]);
}

#[test]
fn encoded_data_is_refused() {
    let dir = TempDir::new().unwrap();
    for (flag, what) in [
        (0x0001u16, "LZ4-compressed"),
        (0x0002, "zstd-compressed"),
        (0x0004, "encrypted"),
    ] {
        let mut bytes = base().bytes;
        put_u16(&mut bytes, 6, LAYOUT_ROW_MAJOR | flag);
        let (path, err) = open_err(&dir, &format!("flag{flag}.apr"), &bytes);
        match &err {
            AprError::Encoded {
                path: p,
                flags,
                what: w,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*flags, LAYOUT_ROW_MAJOR | flag);
                assert_eq!(*w, what);
            }
            other => panic!("expected Encoded, got {other:?}"),
        }
        assert_names(&err, &path, None);
        assert!(err.to_string().contains(what), "{err}");
    }
    // Flags that say nothing about the data (quantized, vocab, row-major) are fine.
    let mut bytes = base().bytes;
    put_u16(&mut bytes, 6, 0x0420 | 0x0200);
    let path = write(&dir, "plain-flags.apr", &bytes);
    assert_eq!(AprFile::open(&path).unwrap().header().flags, 0x0620);
}

#[test]
fn unsupported_dtypes() {
    let dir = TempDir::new().unwrap();
    let built = build(
        0,
        b"{}",
        &[
            entry("ids", 4, &[3], vec![1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]),
            entry("f64", 3, &[1], 1.0f64.to_le_bytes().to_vec()),
            entry("odd", 200, &[2], vec![0; 2]),
        ],
    );
    let path = write(&dir, "ints.apr", &built.bytes);
    let apr = AprFile::open(&path).unwrap();
    for (name, dtype) in [
        ("ids", AprDtype::I32),
        ("f64", AprDtype::F64),
        ("odd", AprDtype::Unknown(200)),
    ] {
        let t = apr.tensor(name).unwrap();
        assert_eq!(t.dtype, dtype);
        // The bytes are there; only decoding is refused.
        assert_eq!(apr.read_raw(t).unwrap().len() as u64, t.size);
        let err = apr.read_f32(t).unwrap_err();
        match &err {
            AprError::UnsupportedDtype {
                path: p,
                tensor,
                dtype: d,
            } => {
                assert_eq!(p, &path);
                assert_eq!(tensor, name);
                assert_eq!(*d, dtype);
            }
            other => panic!("{name}: expected UnsupportedDtype, got {other:?}"),
        }
        assert_names(&err, &path, None);
        assert!(err.to_string().contains(&format!("tensor {name}")), "{err}");
    }
}

#[test]
fn stored_size_that_does_not_fit_the_shape() {
    let dir = TempDir::new().unwrap();
    let cases = [
        entry("f32", 0, &[2, 3], vec![0; 20]),
        entry("f16", 1, &[3], vec![0; 8]),
        entry("bf16", 30, &[3], vec![0; 5]),
        entry("q8", 129, &[4], vec![0; 4 + 3]),
        entry("q8.empty", 129, &[0], vec![0; 4]),
        entry("q4", 128, &[40], vec![0; 18]),
        entry("q4k", 12, &[2, 64], vec![0; 200]),
        entry("q4k.short", 12, &[2, 64], vec![0; 143]),
        entry("q6k", 14, &[3, 100], vec![0; 210 * 4]),
    ];
    let built = build(0, b"{}", &cases);
    let path = write(&dir, "sizes.apr", &built.bytes);
    let apr = AprFile::open(&path).unwrap();
    for case in &cases {
        let t = apr.tensor(&case.name).unwrap();
        let err = apr.read_f32(t).unwrap_err();
        match &err {
            AprError::BadTensor {
                path: p, tensor, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(tensor, &case.name);
            }
            other => panic!("{}: expected BadTensor, got {other:?}", case.name),
        }
        assert_names(&err, &path, None);
        assert!(
            err.to_string().contains(&format!("tensor {}:", case.name)),
            "{err}"
        );
    }
    for name in ["q4", "q4k", "q4k.short", "q6k"] {
        assert_eq!(apr.tensor(name).unwrap().packing(), None, "{name}");
    }
}

/// A shape whose byte count overflows u64 (or whose element count does) is a damaged index,
/// and reading it must be a `BadTensor`, not an arithmetic overflow.
#[test]
fn shapes_whose_size_overflows() {
    let dir = TempDir::new().unwrap();
    let cases = [
        entry("f32", 0, &[1 << 62], Vec::new()),
        entry("f16", 1, &[1 << 63], Vec::new()),
        entry("q8", 129, &[1 << 32, 1 << 32], Vec::new()),
        entry("q4", 128, &[1 << 40, 1 << 40], Vec::new()),
        entry("q4k", 12, &[1 << 60, 1], Vec::new()),
        entry("q6k", 14, &[1 << 60, 3], Vec::new()),
    ];
    let path = write(&dir, "huge.apr", &build(0, b"{}", &cases).bytes);
    let apr = AprFile::open(&path).unwrap();
    let mut wrong = Vec::new();
    for case in &cases {
        let t = apr.tensor(&case.name).unwrap();
        match std::panic::catch_unwind(|| t.packing()) {
            Ok(None | Some(Packing::Flat)) => {}
            Ok(other) => wrong.push(format!("{}: packing() {other:?}", case.name)),
            Err(_) => wrong.push(format!("{}: packing() panicked", case.name)),
        }
        match std::panic::catch_unwind(|| apr.read_f32(t)) {
            Ok(Err(AprError::BadTensor { tensor, .. })) if tensor == case.name => {}
            Ok(other) => wrong.push(format!(
                "{}: read_f32 gave {:?}",
                case.name,
                other.map(|v| v.len())
            )),
            Err(_) => wrong.push(format!("{}: read_f32 panicked", case.name)),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn metadata_not_json() {
    let dir = TempDir::new().unwrap();
    for (name, metadata) in [
        ("garbage", &b"{not json"[..]),
        ("trailing", &br#"{"a":1} x"#[..]),
        ("utf8", &[b'"', 0xff, b'"'][..]),
    ] {
        let built = build(0, metadata, &[entry("w", 0, &[1], f32_bytes(&[1.0]))]);
        let (path, err) = open_err(&dir, &format!("{name}.apr"), &built.bytes);
        assert_eq!(malformed_at(&err), 64, "{name}: {err}");
        assert_names(&err, &path, Some(64));
        assert!(err.to_string().contains("not JSON"), "{name}: {err}");
    }
}

#[test]
fn missing_file_is_io() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("absent.apr");
    let err = AprFile::open(&path).unwrap_err();
    assert!(
        matches!(&err, AprError::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert_names(&err, &path, None);
}

// ---------------------------------------------------------------------------------------------
// apr's own files.
// ---------------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$TMGT_APR`, else `apr` on PATH. Absent: `None` (the test says so and passes), except
/// under CI, where apr is installed and its absence is a failure.
fn real_apr() -> Option<PathBuf> {
    let apr = std::env::var_os("TMGT_APR").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("apr"))
                .find(|p| p.is_file())
        })
    });
    if apr.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have apr: run scripts/install-apr or set TMGT_APR"
        );
        eprintln!("skipping: no `apr` on PATH and TMGT_APR unset");
    }
    apr
}

/// `apr import models/tiny-llama` at `quant` (`None`: float32) into `dir`.
fn apr_import(apr: &Path, quant: Option<&str>, dir: &Path) -> PathBuf {
    let out = dir.join(format!("tiny-llama-{}.apr", quant.unwrap_or("f32")));
    let mut cmd = Command::new(apr);
    cmd.arg("import").arg(
        repo_root()
            .join("models/tiny-llama")
            .canonicalize()
            .unwrap(),
    );
    if let Some(q) = quant {
        cmd.args(["--quantize", q]);
    }
    let output = cmd
        .arg("-o")
        .arg(&out)
        .env("SOVEREIGN_DISABLE_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("apr runs");
    assert!(
        output.status.success(),
        "apr import --quantize {quant:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The source model's tensors, as float32.
fn source_tensors() -> Vec<(String, Vec<u64>, Vec<f32>)> {
    let bytes = std::fs::read(repo_root().join("models/tiny-llama/model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let shape = view.shape().iter().map(|&d| d as u64).collect();
            (name, shape, values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Everything every file apr writes must satisfy: 21 tensors, each range in the file, each
/// readable to `elements()` finite values.
fn check_apr_file(path: &Path) -> AprFile {
    let apr = AprFile::open(path).unwrap();
    let file_len = std::fs::metadata(path).unwrap().len();
    assert_eq!(apr.header().version[0], 2);
    assert_eq!(apr.header().tensor_count, 21);
    assert_eq!(apr.tensors().len(), 21);
    assert!(apr.metadata().is_object(), "{:?}", apr.metadata());
    for t in apr.tensors() {
        let end = apr.header().data_offset + t.offset + t.size;
        assert!(end <= file_len, "{}: ends at {end} of {file_len}", t.name);
        assert!(t.packing().is_some(), "{}", t.name);
        let values = apr.read_f32(t).unwrap();
        assert_eq!(values.len() as u64, t.elements(), "{}", t.name);
        assert!(values.iter().all(|v| v.is_finite()), "{}", t.name);
    }
    apr
}

#[test]
fn apr_float32_import_matches_the_source() {
    let Some(apr_bin) = real_apr() else { return };
    let dir = TempDir::new().unwrap();
    let apr = check_apr_file(&apr_import(&apr_bin, None, dir.path()));
    let source = source_tensors();
    assert_eq!(source.len(), 21);
    for t in apr.tensors() {
        assert_eq!(t.dtype, AprDtype::F32, "{}", t.name);
    }
    let embed = apr.tensor("model.embed_tokens.weight").unwrap();
    let (_, shape, values) = source
        .iter()
        .find(|(n, _, _)| n == "model.embed_tokens.weight")
        .unwrap();
    assert_eq!(embed.shape, *shape);
    assert_eq!(embed.shape, [2048, 64]);
    assert_eq!(bits(&apr.read_f32(embed).unwrap()), bits(values));

    // Every tensor, in fact: a float32 import is a copy.
    for (name, shape, values) in &source {
        let t = apr.tensor(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.shape, *shape, "{name}");
        assert_eq!(bits(&apr.read_f32(t).unwrap()), bits(values), "{name}");
    }
}

/// The quantized imports decode close to the source: within half a quantization step of apr's
/// scale (global max/127 for APR_Q8; per 32 values, max/7 rounded to f16, for APR_Q4). A
/// wrong nibble order or sign would miss by whole steps.
#[test]
fn apr_quantized_imports_decode_near_the_source() {
    let Some(apr_bin) = real_apr() else { return };
    let dir = TempDir::new().unwrap();
    let source = source_tensors();
    for (quant, dtype) in [("int8", AprDtype::AprQ8), ("int4", AprDtype::AprQ4)] {
        let apr = check_apr_file(&apr_import(&apr_bin, Some(quant), dir.path()));
        let mut quantized = 0;
        for (name, shape, src) in &source {
            let t = apr
                .tensor(name)
                .unwrap_or_else(|| panic!("{quant}: {name} missing"));
            assert_eq!(t.shape, *shape, "{quant}: {name}");
            let got = apr.read_f32(t).unwrap();
            if t.dtype == AprDtype::F32 {
                assert_eq!(bits(&got), bits(src), "{quant}: {name}");
                continue;
            }
            assert_eq!(t.dtype, dtype, "{quant}: {name}");
            assert_eq!(t.packing(), Some(Packing::Flat), "{quant}: {name}");
            quantized += 1;
            let block = if dtype == AprDtype::AprQ8 {
                src.len()
            } else {
                32
            };
            for (i, (g, s)) in got.chunks(block).zip(src.chunks(block)).enumerate() {
                let max = s.iter().fold(0f32, |m, v| m.max(v.abs()));
                let step = if dtype == AprDtype::AprQ8 {
                    max / 127.0
                } else {
                    max / 7.0
                };
                let tolerance = step * 0.51 + 1e-7;
                for (j, (g, s)) in g.iter().zip(s).enumerate() {
                    assert!(
                        (g - s).abs() <= tolerance,
                        "{quant}: {name} value {}: {g} decoded, {s} in the source (step {step})",
                        i * block + j
                    );
                }
            }
        }
        assert_eq!(quantized, 16, "{quant}: the 2-D weights are quantized");
    }
}

/// `apr convert <file> --quantize <quant>` into `out`.
fn apr_convert(apr: &Path, file: &Path, quant: &str, out: &Path) {
    let output = Command::new(apr)
        .arg("convert")
        .arg(file)
        .args(["--quantize", quant, "-o"])
        .arg(out)
        .env("SOVEREIGN_DISABLE_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("apr runs");
    assert!(
        output.status.success(),
        "apr convert --quantize {quant}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// ||got - src|| / ||src||.
fn relative_error(got: &[f32], src: &[f32]) -> f64 {
    let err: f64 = got
        .iter()
        .zip(src)
        .map(|(g, s)| f64::from(g - s).powi(2))
        .sum();
    let norm: f64 = src.iter().map(|s| f64::from(*s).powi(2)).sum();
    (err / norm).sqrt()
}

/// apr's own Q4_K files: `apr convert --quantize q4k` of the float32 import writes each 2-D
/// weight row by row, every 64- or 128-value row padded to a 256-value super-block. Each
/// decodes near its source row (4-bit error is ~8% relative; a misread layout puts values in
/// the wrong rows, ~140%), and the float32 tensors it keeps are exact.
#[test]
fn apr_q4k_convert_decodes_near_the_source() {
    let Some(apr_bin) = real_apr() else { return };
    let dir = TempDir::new().unwrap();
    let f32_file = apr_import(&apr_bin, None, dir.path());
    let out = dir.path().join("tiny-llama-q4k.apr");
    apr_convert(&apr_bin, &f32_file, "q4k", &out);
    let apr = check_apr_file(&out);
    let mut quantized = 0;
    for (name, shape, src) in source_tensors() {
        let t = apr
            .tensor(&name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.shape, shape, "{name}");
        let got = apr.read_f32(t).unwrap();
        if t.dtype == AprDtype::F32 {
            assert_eq!(bits(&got), bits(&src), "{name}");
            continue;
        }
        assert_eq!(t.dtype, AprDtype::Q4K, "{name}");
        let row = shape[1];
        assert_eq!(
            t.packing(),
            Some(Packing::RowPadded { row, padded: 256 }),
            "{name}"
        );
        assert_eq!(t.size, shape[0] * 144, "{name}");
        quantized += 1;
        let whole = relative_error(&got, &src);
        assert!(whole < 0.12, "{name}: relative error {whole}");
        for (r, (g, s)) in got
            .chunks(row as usize)
            .zip(src.chunks(row as usize))
            .enumerate()
        {
            let e = relative_error(g, s);
            assert!(e < 0.3, "{name} row {r}: relative error {e}");
        }
    }
    assert_eq!(quantized, 15, "the 2-D weights but the embedding are Q4_K");
}

/// `apr import --quantize fp16`: every tensor F16, each value the source's rounded to f16.
#[test]
fn apr_fp16_import_decodes_near_the_source() {
    let Some(apr_bin) = real_apr() else { return };
    let dir = TempDir::new().unwrap();
    let apr = check_apr_file(&apr_import(&apr_bin, Some("fp16"), dir.path()));
    for (name, shape, src) in source_tensors() {
        let t = apr
            .tensor(&name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.shape, shape, "{name}");
        assert_eq!(t.dtype, AprDtype::F16, "{name}");
        let got = apr.read_f32(t).unwrap();
        for (i, (g, s)) in got.iter().zip(&src).enumerate() {
            // Half an f16 ulp of a normal value is 2^-11 relative; of a subnormal, 2^-25.
            let tolerance = s.abs() / 2048.0 + 1.0 / 33_554_432.0;
            assert!(
                (g - s).abs() <= tolerance,
                "{name} value {i}: {g} decoded, {s} in the source"
            );
        }
    }
}
