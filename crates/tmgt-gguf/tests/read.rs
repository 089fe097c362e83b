//! Reading GGUF headers and dequantizing tensors, on files built by `common`.

mod common;

use std::path::PathBuf;

use common::{F16, Q4_0, Q4_1, Q8_0, Tensor, gguf_bytes, write_gguf};
use tempfile::TempDir;
use tmgt_gguf::{GgmlType, GgufError, GgufFile, TensorInfo, Value};

fn write(dir: &TempDir, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join("test.gguf");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn open_one(tensor: Tensor) -> (TempDir, GgufFile) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("one.gguf");
    write_gguf(&path, &[], &[tensor]);
    let gguf = GgufFile::open(&path).unwrap();
    (dir, gguf)
}

fn decode(tensor: Tensor) -> Vec<f32> {
    let (_dir, gguf) = open_one(tensor);
    gguf.read_f32(&gguf.tensors()[0]).unwrap()
}

fn f16_le(bits: u16) -> [u8; 2] {
    bits.to_le_bytes()
}

/// Compared as bits so -0 and NaN payloads count.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn every_value_type() -> Vec<(&'static str, Value)> {
    vec![
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-100)),
        ("u16", Value::U16(60_000)),
        ("i16", Value::I16(-30_000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-2_000_000_000)),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f32", Value::F32(0.1)),
        ("f64", Value::F64(-2.5e300)),
        ("bool.true", Value::Bool(true)),
        ("bool.false", Value::Bool(false)),
        ("string", Value::String("llama ✓".to_owned())),
        ("string.empty", Value::String(String::new())),
        (
            "array.strings",
            Value::Array(vec![
                Value::String("<s>".to_owned()),
                Value::String(String::new()),
            ]),
        ),
        (
            "array.f32",
            Value::Array(vec![Value::F32(-1.5), Value::F32(f32::INFINITY)]),
        ),
        ("array.i8", Value::Array(vec![Value::I8(-1), Value::I8(2)])),
        (
            "array.nested",
            Value::Array(vec![
                Value::Array(vec![Value::U64(1), Value::U64(2)]),
                Value::Array(vec![Value::U64(3)]),
            ]),
        ),
        ("array.empty", Value::Array(vec![])),
        ("int.small", Value::I64(42)),
    ]
}

#[test]
fn metadata_round_trips_every_value_type_in_order() {
    let dir = TempDir::new().unwrap();
    let metadata = every_value_type();
    let path = write(&dir, &gguf_bytes(&metadata, &[]));
    let gguf = GgufFile::open(&path).unwrap();

    assert_eq!(gguf.path(), path);
    let read: Vec<(&str, &Value)> = gguf
        .metadata()
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let expected: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    assert_eq!(read, expected);
    assert!(gguf.tensors().is_empty());

    assert_eq!(gguf.get("i16"), Some(&Value::I16(-30_000)));
    assert_eq!(gguf.get("absent"), None);
    assert_eq!(gguf.get_str("string"), Some("llama ✓"));
    assert_eq!(gguf.get_str("u8"), None);
    assert_eq!(gguf.get_u64("u8"), Some(200));
    assert_eq!(gguf.get_u64("u32"), Some(4_000_000_000));
    assert_eq!(gguf.get_u64("u64"), Some(u64::MAX));
    assert_eq!(gguf.get_u64("int.small"), Some(42));
    assert_eq!(gguf.get_u64("i8"), None, "negative integers do not fit");
    assert_eq!(gguf.get_u64("f32"), None);
    assert_eq!(gguf.get_f64("f32"), Some(f64::from(0.1f32)));
    assert_eq!(gguf.get_f64("f64"), Some(-2.5e300));
    assert_eq!(gguf.get_f64("u8"), None);
}

#[test]
fn version_2_is_read_and_others_are_refused() {
    let dir = TempDir::new().unwrap();
    let mut bytes = gguf_bytes(&[("general.name", Value::String("x".to_owned()))], &[]);
    bytes[4] = 2;
    let gguf = GgufFile::open(&write(&dir, &bytes)).unwrap();
    assert_eq!(gguf.get_str("general.name"), Some("x"));

    bytes[4] = 1;
    let err = GgufFile::open(&write(&dir, &bytes)).unwrap_err();
    assert!(
        matches!(err, GgufError::UnsupportedVersion { version: 1, .. }),
        "{err}"
    );
}

#[test]
fn tensor_infos_give_names_dims_types_and_aligned_offsets() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("t.gguf");
    let tensors = [
        Tensor::f32("a", &[3, 2], &[0.0; 6]),
        Tensor::new("b", &[4], F16, vec![0; 8]),
        Tensor::new("c", &[32, 2], Q4_0, vec![0; 36]),
        Tensor::new("d", &[64], Q4_1, vec![0; 40]),
        Tensor::new("e", &[32], Q8_0, vec![0; 34]),
        Tensor::new("f", &[5], 30, vec![0; 10]),
        // Q4_0_4_4, dropped from ggml: listed and sized unknown, but not decodable.
        Tensor::new("g", &[256], 31, vec![0; 66]),
    ];
    write_gguf(&path, &[], &tensors);
    let gguf = GgufFile::open(&path).unwrap();

    let infos = gguf.tensors();
    let summary: Vec<(&str, &[u64], GgmlType, u64)> = infos
        .iter()
        .map(|t| (t.name.as_str(), t.dims.as_slice(), t.kind, t.offset))
        .collect();
    assert_eq!(
        summary,
        [
            ("a", &[3u64, 2][..], GgmlType::F32, 0),
            ("b", &[4][..], GgmlType::F16, 32),
            ("c", &[32, 2][..], GgmlType::Q4_0, 64),
            ("d", &[64][..], GgmlType::Q4_1, 128),
            ("e", &[32][..], GgmlType::Q8_0, 192),
            ("f", &[5][..], GgmlType::BF16, 256),
            ("g", &[256][..], GgmlType::Other(31), 288),
        ]
    );
    let sizes: Vec<(u64, Option<u64>)> =
        infos.iter().map(|t| (t.elements(), t.byte_len())).collect();
    assert_eq!(
        sizes,
        [
            (6, Some(24)),
            (4, Some(8)),
            (64, Some(36)),
            (64, Some(40)),
            (32, Some(34)),
            (5, Some(10)),
            (256, None),
        ]
    );
    assert_eq!(gguf.tensor("d"), Some(&infos[3]));
    assert_eq!(gguf.tensor("z"), None);

    let names: Vec<String> = infos.iter().map(|t| t.kind.to_string()).collect();
    assert_eq!(
        names,
        ["F32", "F16", "Q4_0", "Q4_1", "Q8_0", "BF16", "type 31"]
    );

    let err = gguf.read_f32(&infos[6]).unwrap_err();
    assert!(
        matches!(&err, GgufError::UnsupportedType { tensor, kind: GgmlType::Other(31), .. } if tensor == "g"),
        "{err}"
    );
}

#[test]
fn custom_alignment_moves_the_data_start() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("t.gguf");
    let metadata = [("general.alignment", Value::U32(64))];
    write_gguf(
        &path,
        &metadata,
        &[
            Tensor::f32("a", &[1], &[1.0]),
            Tensor::f32("b", &[2], &[2.0, 3.0]),
        ],
    );
    let gguf = GgufFile::open(&path).unwrap();
    assert_eq!(gguf.tensors()[1].offset, 64);
    assert_eq!(gguf.read_f32(&gguf.tensors()[1]).unwrap(), [2.0, 3.0]);

    let bad = gguf_bytes(&[("general.alignment", Value::U32(48))], &[]);
    let err = GgufFile::open(&write(&dir, &bad)).unwrap_err();
    assert!(matches!(err, GgufError::BadAlignment { .. }), "{err}");
}

#[test]
fn f32_is_read_bit_for_bit() {
    let values = [
        0.0,
        -0.0,
        1.5,
        f32::MIN_POSITIVE / 2.0,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_1234),
    ];
    let read = decode(Tensor::f32("x", &[6], &values));
    assert_eq!(bits(&read), bits(&values));
}

#[test]
fn f16_widening_is_exact_including_subnormals_infinities_and_nan() {
    // (f16 bits, f32 bits) worked out by hand.
    let cases: [(u16, u32); 12] = [
        (0x0000, 0x0000_0000), // +0
        (0x8000, 0x8000_0000), // -0
        (0x0001, 0x3380_0000), // 2^-24, the least subnormal
        (0x8001, 0xb380_0000), // -2^-24
        (0x03ff, 0x387f_c000), // 1023 * 2^-24, the greatest subnormal
        (0x0400, 0x3880_0000), // 2^-14, the least normal
        (0x3c00, 0x3f80_0000), // 1
        (0xc000, 0xc000_0000), // -2
        (0x3555, 0x3eaa_a000), // 1365/4096 = 0.333251953125
        (0x7bff, 0x477f_e000), // 65504, the greatest finite
        (0xfc00, 0xff80_0000), // -inf
        (0x7e01, 0x7fc0_2000), // quiet NaN, payload kept
    ];
    let data = cases.iter().flat_map(|(h, _)| f16_le(*h)).collect();
    let read = decode(Tensor::new("h", &[12], F16, data));
    let expected: Vec<u32> = cases.iter().map(|(_, f)| *f).collect();
    assert_eq!(bits(&read), expected);
}

#[test]
fn bf16_is_the_high_half_of_f32() {
    let data = [0x3f80u16, 0xc049, 0x0001]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    let read = decode(Tensor::new("b", &[3], 30, data));
    assert_eq!(bits(&read), [0x3f80_0000, 0xc049_0000, 0x0001_0000]);
}

/// Byte j of qs: element j in the low nibble, element j + 16 in the high one.
fn nibble_bytes(low: impl Fn(u8) -> u8, high: impl Fn(u8) -> u8) -> Vec<u8> {
    (0..16u8).map(|j| low(j) | (high(j) << 4)).collect()
}

#[test]
fn q4_0_is_scale_times_nibble_minus_8_in_nibble_order() {
    // Block 0: d = 2, low nibble j, high nibble 15 - j. Block 1: d = -0.5, all nibbles 8 or 0.
    let mut data = f16_le(0x4000).to_vec();
    data.extend(nibble_bytes(|j| j, |j| 15 - j));
    data.extend(f16_le(0xb800));
    data.extend(nibble_bytes(|_| 8, |_| 0));
    let read = decode(Tensor::new("q", &[32, 2], Q4_0, data));

    let mut expected = vec![
        -16.0, -14.0, -12.0, -10.0, -8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0,
        14.0, 14.0, 12.0, 10.0, 8.0, 6.0, 4.0, 2.0, 0.0, -2.0, -4.0, -6.0, -8.0, -10.0, -12.0,
        -14.0, -16.0,
    ];
    expected.extend([0.0; 16]);
    expected.extend([4.0; 16]);
    assert_eq!(read, expected);
}

#[test]
fn q4_1_adds_a_negative_min_after_the_multiply() {
    // d = 0.5, m = -1: element j = 0.5 * j - 1, element j + 16 = 0.5 * (15 - j) - 1.
    let mut data = f16_le(0x3800).to_vec();
    data.extend(f16_le(0xbc00));
    data.extend(nibble_bytes(|j| j, |j| 15 - j));
    // d = 1, m = 2^-14 + 2^-24: 15 + m needs 28 bits, so the f32 add rounds to 15 + 2^-14;
    // 0 + m stays exact.
    data.extend(f16_le(0x3c00));
    data.extend(f16_le(0x0401));
    data.extend(nibble_bytes(|_| 15, |_| 0));
    let read = decode(Tensor::new("q", &[64], Q4_1, data));

    let mut expected: Vec<u32> = [
        -1.0f32, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0,
        6.5, //
        6.5, 6.0, 5.5, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0,
    ]
    .map(f32::to_bits)
    .to_vec();
    expected.extend([0x4170_0040; 16]); // 15 + 2^-14
    expected.extend([0x3880_2000; 16]); // 2^-14 + 2^-24
    assert_eq!(bits(&read), expected);
}

#[test]
fn q8_0_is_scale_times_signed_byte_even_with_a_subnormal_scale() {
    let qs: Vec<i8> = (0..32)
        .map(|k| [-128, -1, 0, 1, 127, 64, -64, 3][k % 8])
        .collect();
    // Block 0: d = 2^-24 (f16 subnormal). Block 1: d = -0.25.
    let mut data = f16_le(0x0001).to_vec();
    data.extend(qs.iter().map(|q| q.to_le_bytes()[0]));
    data.extend(f16_le(0xb400));
    data.extend(qs.iter().map(|q| q.to_le_bytes()[0]));
    let read = decode(Tensor::new("q", &[32, 2], Q8_0, data));

    let tiny: [u32; 8] = [
        0xb700_0000, // -128 * 2^-24 = -2^-17
        0xb380_0000, // -2^-24
        0x0000_0000,
        0x3380_0000, // 2^-24
        0x36fe_0000, // 127 * 2^-24 = (63/64 + 1) * 2^-18
        0x3680_0000, // 2^-18
        0xb680_0000, // -2^-18
        0x3440_0000, // 3 * 2^-24 = 1.5 * 2^-23
    ];
    let quarter = [32.0f32, 0.25, -0.0, -0.25, -31.75, -16.0, 16.0, -0.75].map(f32::to_bits);
    let expected: Vec<u32> = (0..64)
        .map(|k| if k < 32 { tiny[k % 8] } else { quarter[k % 8] })
        .collect();
    assert_eq!(bits(&read), expected);
}

#[test]
fn a_row_that_is_not_whole_blocks_is_refused_at_open() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        &gguf_bytes(&[], &[Tensor::new("q", &[16, 2], Q8_0, vec![0; 34])]),
    );
    let err = GgufFile::open(&path).unwrap_err();
    assert!(
        matches!(&err, GgufError::BadTensor { tensor, .. } if tensor == "q"),
        "{err}"
    );
}

#[test]
fn read_f32_reads_only_the_requested_tensor() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("t.gguf");
    write_gguf(
        &path,
        &[("general.architecture", Value::String("llama".to_owned()))],
        &[
            Tensor::f32("a", &[2], &[1.0, 2.0]),
            Tensor::f32("b", &[3], &[3.0, 4.0, 5.0]),
        ],
    );
    let gguf = GgufFile::open(&path).unwrap();
    assert_eq!(
        gguf.read_f32(gguf.tensor("b").unwrap()).unwrap(),
        [3.0, 4.0, 5.0]
    );

    // A tensor info pointing past the end is caught at read time too.
    let forged = TensorInfo {
        offset: 1 << 20,
        ..gguf.tensor("b").unwrap().clone()
    };
    let err = gguf.read_f32(&forged).unwrap_err();
    assert!(
        matches!(&err, GgufError::BadTensor { tensor, .. } if tensor == "b"),
        "{err}"
    );
}

#[test]
fn every_truncation_is_a_typed_error() {
    let dir = TempDir::new().unwrap();
    let metadata = every_value_type();
    let tensors = [
        Tensor::f32("a", &[3], &[1.0, 2.0, 3.0]),
        Tensor::new("q", &[32], Q8_0, vec![7; 34]),
    ];
    let full = gguf_bytes(&metadata, &tensors);
    GgufFile::open(&write(&dir, &full)).unwrap();
    for cut in 0..full.len() {
        let err = GgufFile::open(&write(&dir, &full[..cut])).expect_err(&format!("cut at {cut}"));
        assert!(
            matches!(
                err,
                GgufError::Truncated { .. } | GgufError::BadTensor { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn wrong_magic_is_a_typed_error() {
    let dir = TempDir::new().unwrap();
    let mut bytes = gguf_bytes(&[], &[]);
    bytes[..4].copy_from_slice(b"GGML");
    let err = GgufFile::open(&write(&dir, &bytes)).unwrap_err();
    assert!(
        matches!(err, GgufError::BadMagic { found, .. } if &found == b"GGML"),
        "{err}"
    );
    assert!(err.to_string().contains("test.gguf"), "{err}");
}

#[test]
fn absurd_lengths_fail_before_allocating() {
    let dir = TempDir::new().unwrap();
    let good = gguf_bytes(&[("k", Value::String("v".to_owned()))], &[]);
    // Key length at 24, value type at 33, string length at 37.
    let mut huge_string = good.clone();
    huge_string[37..45].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = GgufFile::open(&write(&dir, &huge_string)).unwrap_err();
    match &err {
        GgufError::Truncated {
            offset,
            field,
            needed,
            ..
        } => {
            assert_eq!(
                (*offset, field.as_str(), *needed),
                (45, "value of k", u64::MAX)
            );
        }
        other => panic!("{other}"),
    }

    let mut huge_array = gguf_bytes(&[("k", Value::Array(vec![Value::U64(1)]))], &[]);
    huge_array[41..49].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    let err = GgufFile::open(&write(&dir, &huge_array)).unwrap_err();
    assert!(matches!(err, GgufError::Truncated { .. }), "{err}");

    let mut huge_counts = good.clone();
    huge_counts[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = GgufFile::open(&write(&dir, &huge_counts)).unwrap_err();
    assert!(matches!(err, GgufError::Truncated { .. }), "{err}");

    let mut bad_type = good;
    bad_type[33..37].copy_from_slice(&13u32.to_le_bytes());
    let err = GgufFile::open(&write(&dir, &bad_type)).unwrap_err();
    assert!(
        matches!(
            err,
            GgufError::BadValueType {
                offset: 33,
                type_id: 13,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn deep_array_nesting_is_refused() {
    let dir = TempDir::new().unwrap();
    let mut value = Value::U8(0);
    for _ in 0..20 {
        value = Value::Array(vec![value]);
    }
    let path = write(&dir, &gguf_bytes(&[("deep", value)], &[]));
    let err = GgufFile::open(&path).unwrap_err();
    assert!(matches!(err, GgufError::NestingTooDeep { .. }), "{err}");
}

#[test]
fn invalid_utf8_names_the_field() {
    let dir = TempDir::new().unwrap();
    let mut bytes = gguf_bytes(&[("k", Value::String("v".to_owned()))], &[]);
    bytes[45] = 0xff;
    let err = GgufFile::open(&write(&dir, &bytes)).unwrap_err();
    assert!(
        matches!(&err, GgufError::InvalidUtf8 { offset: 37, field, .. } if field == "value of k"),
        "{err}"
    );
}
