//! The crate-level [`dequantize`] on hand-built blocks of the types beyond Q4_0/Q4_1/Q8_0, with
//! values worked out from the block layouts, and on every decodable type against fixtures that
//! gguf-py 0.19.0 dequantized (`fixtures/make_quant_fixtures.py`), bit for bit.

mod common;

use std::path::Path;

use common::{Tensor, write_gguf};
use tmgt_gguf::{GgmlType, GgufFile, dequantize};

const F16_HALF: u16 = 0x3800;
const F16_QUARTER: u16 = 0x3400;
const F16_ONE: u16 = 0x3c00;
const F16_TWO: u16 = 0x4000;
const F16_MINUS_THREE: u16 = 0xc200;

/// Compared as bits so -0 and NaN payloads count.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn decode(kind: GgmlType, block: &[u8]) -> Vec<f32> {
    dequantize(kind, block).unwrap()
}

/// Q5_0/Q5_1 quants after the scales: low nibbles j and high nibbles 15 - j, with the fifth
/// bit set only for elements 1 and 16.
fn five_bit_quants() -> Vec<u8> {
    let mut quants = 0x0001_0002u32.to_le_bytes().to_vec();
    quants.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    quants
}

/// The five-bit values `five_bit_quants` encodes, in element order.
const FIVE_BIT_Q: [u8; 32] = [
    0, 17, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, //
    31, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
];

#[test]
fn q5_0_is_scale_times_five_bits_minus_16() {
    let mut block = F16_TWO.to_le_bytes().to_vec();
    block.extend(five_bit_quants());
    let expected: Vec<f32> = FIVE_BIT_Q.map(|q| 2.0 * (f32::from(q) - 16.0)).to_vec();
    assert_eq!(expected[..2], [-32.0, 2.0]);
    assert_eq!(expected[16], 30.0);
    assert_eq!(decode(GgmlType::Q5_0, &block), expected);
}

#[test]
fn q5_1_is_scale_times_five_bits_plus_min() {
    let mut block = F16_HALF.to_le_bytes().to_vec();
    block.extend(F16_MINUS_THREE.to_le_bytes());
    block.extend(five_bit_quants());
    let expected: Vec<f32> = FIVE_BIT_Q.map(|q| 0.5 * f32::from(q) - 3.0).to_vec();
    assert_eq!(expected[..2], [-3.0, 5.5]);
    assert_eq!(expected[16], 12.5);
    assert_eq!(decode(GgmlType::Q5_1, &block), expected);
}

#[test]
fn q2_k_takes_two_bit_runs_of_32_and_a_scale_and_min_per_16() {
    // Scale byte j: scale j, min 1; d = 0.5, dmin = 2, so y = 0.5 * j * q - 2.
    let mut block: Vec<u8> = (0..16).map(|j| 0x10 | j).collect();
    let mut qs = [0u8; 64];
    // Byte 0's bit pairs are elements 0, 32, 64 and 96; byte 33's top pair is element
    // 128 + 96 + 1.
    qs[0] = 0b11_10_01_00;
    qs[33] = 0b11_00_00_00;
    block.extend(qs);
    block.extend(F16_HALF.to_le_bytes());
    block.extend(F16_TWO.to_le_bytes());

    let mut expected = vec![-2.0f32; 256];
    expected[32] = 0.5 * 2.0 * 1.0 - 2.0;
    expected[64] = 0.5 * 4.0 * 2.0 - 2.0;
    expected[96] = 0.5 * 6.0 * 3.0 - 2.0;
    expected[225] = 0.5 * 14.0 * 3.0 - 2.0;
    assert_eq!(decode(GgmlType::Q2_K, &block), expected);
}

#[test]
fn q3_k_subtracts_4_where_the_high_bit_is_clear() {
    let mut hmask = [0u8; 32];
    let mut qs = [0u8; 64];
    // Element 35: bit 1 of hmask byte 3, bit pair 1 of qs byte 3 (q = 3). Element 255: bit 7
    // of hmask byte 31, the top pair of qs byte 63 (q = 3).
    hmask[3] = 0b10;
    qs[3] = 0b11_00;
    hmask[31] = 0x80;
    qs[63] = 0b11_00_00_00;
    // Six-bit scales less 32: low nibbles 1 (scales 0..8) and 2 (8..16), high pairs 2 except
    // scale 0 (0), 4 (1), 8 (2) and 12 (3), from byte 8's pairs.
    let scales = [
        0x21,
        0x21,
        0x21,
        0x21,
        0x21,
        0x21,
        0x21,
        0x21,
        0b11_10_01_00,
        0xaa,
        0xaa,
        0xaa,
    ];
    let sc = |j: usize| -> f32 {
        match j {
            0 => -31.0,
            4 => -15.0,
            8 => 2.0,
            12 => 18.0,
            j if j < 8 => 1.0,
            _ => 2.0,
        }
    };
    let mut block = [hmask.as_slice(), &qs, &scales].concat();
    block.extend(F16_QUARTER.to_le_bytes());

    // Every other element has q = 0 - 4.
    let mut expected: Vec<f32> = (0..256).map(|i| 0.25 * sc(i / 16) * -4.0).collect();
    expected[35] = 0.25 * 1.0 * 3.0;
    expected[255] = 0.25 * 2.0 * 3.0;
    assert_eq!(expected[..2], [31.0, 31.0]);
    assert_eq!(decode(GgmlType::Q3_K, &block), expected);
}

/// Q4_K/Q5_K's 12 scale bytes for scales 1, 2, 3, 4, 5, 6, 7, 24 and mins 10, 11, 12, 13, 35,
/// 4, 5, 6: the last four of each take their top two bits from bytes 0..8.
const K_SCALES: [u8; 12] = [
    1,
    2,
    3,
    0x40 | 4,
    0x80 | 10,
    11,
    12,
    13,
    0x35,
    0x46,
    0x57,
    0x68,
];
const K_SC: [f32; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 24.0];
const K_MIN: [f32; 8] = [10.0, 11.0, 12.0, 13.0, 35.0, 4.0, 5.0, 6.0];

/// Q4_K/Q5_K nibbles: byte 0 holds elements 0 (1) and 32 (15), byte 127 elements 223 (14) and
/// 255 (9); all others are 0.
fn k_nibbles() -> [u8; 128] {
    let mut qs = [0u8; 128];
    qs[0] = 0xf1;
    qs[127] = 0x9e;
    qs
}

/// With d = 1 and dmin = 0.5: y = sc * q - 0.5 * m, sub-blocks of 32.
fn k_expected(q: impl Fn(usize) -> f32) -> Vec<f32> {
    (0..256)
        .map(|i| K_SC[i / 32] * q(i) - 0.5 * K_MIN[i / 32])
        .collect()
}

#[test]
fn q4_k_unpacks_six_bit_scales_and_mins_per_32() {
    let mut block = [F16_ONE.to_le_bytes(), F16_HALF.to_le_bytes()].concat();
    block.extend(K_SCALES);
    block.extend(k_nibbles());
    let expected = k_expected(|i| match i {
        0 => 1.0,
        32 => 15.0,
        223 => 14.0,
        255 => 9.0,
        _ => 0.0,
    });
    assert_eq!(
        [expected[0], expected[32], expected[64]],
        [-4.0, 24.5, -6.0]
    );
    assert_eq!(
        [expected[128], expected[223], expected[255]],
        [-17.5, 95.5, 213.0]
    );
    assert_eq!(decode(GgmlType::Q4_K, &block), expected);
}

#[test]
fn q5_k_adds_a_fifth_bit_from_32_bytes_of_bit_planes() {
    let mut block = [F16_ONE.to_le_bytes(), F16_HALF.to_le_bytes()].concat();
    block.extend(K_SCALES);
    // Bits 0 and 1 of byte 0: elements 0 and 32; bit 7 of byte 31: element 255.
    let mut qh = [0u8; 32];
    qh[0] = 0b11;
    qh[31] = 0x80;
    block.extend(qh);
    block.extend(k_nibbles());
    let expected = k_expected(|i| match i {
        0 => 17.0,
        32 => 31.0,
        223 => 14.0,
        255 => 25.0,
        _ => 0.0,
    });
    assert_eq!(
        [expected[0], expected[32], expected[255]],
        [12.0, 56.5, 597.0]
    );
    assert_eq!(decode(GgmlType::Q5_K, &block), expected);
}

#[test]
fn q6_k_is_signed_scale_per_16_times_six_bits_minus_32() {
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    // ql byte 0: elements 0 (1) and 64 (2); qh byte 0's pairs: elements 0, 32, 64, 96.
    ql[0] = 0x21;
    qh[0] = 0b11_10_01_00;
    // ql byte 127's high nibble and qh byte 63's top pair: element 255 = 15 | 3 << 4.
    ql[127] = 0xf0;
    qh[63] = 0b11_00_00_00;
    // Scale j = 2j - 15, and d = 0.5.
    let scales: Vec<u8> = (0..16i8).map(|j| (2 * j - 15).to_le_bytes()[0]).collect();
    let mut block = [ql.as_slice(), &qh, &scales].concat();
    block.extend(F16_HALF.to_le_bytes());

    let q = |i: usize| -> f32 {
        match i {
            0 => 1.0,
            32 => 16.0,
            64 => 34.0,
            96 => 48.0,
            255 => 63.0,
            _ => 0.0,
        }
    };
    let sc = |j: usize| 2.0 * j as f32 - 15.0;
    let expected: Vec<f32> = (0..256).map(|i| 0.5 * sc(i / 16) * (q(i) - 32.0)).collect();
    assert_eq!(
        [0, 32, 64, 96, 191, 255].map(|i| expected[i]),
        [232.5, 88.0, -7.0, -24.0, -112.0, 232.5]
    );
    assert_eq!(decode(GgmlType::Q6_K, &block), expected);
}

#[test]
fn iq3_s_is_scale_per_32_times_a_signed_grid_magnitude_per_value() {
    let mut qs = [0u8; 64];
    let mut qh = [0u8; 8];
    let mut signs = [0u8; 32];
    // Index 0 is the grid's (1, 1, 1, 1); index 1 is (3, 1, 1, 1) for values 4..8.
    qs[1] = 1;
    // qh byte 1, bit 1: the ninth bit of group 9 (values 36..40), index 256 = (7, 5, 9, 5).
    qh[1] = 0b10;
    // Group 63 (values 252..256): index 511 = (1, 1, 15, 15).
    qs[63] = 0xff;
    qh[7] = 0x80;
    // One sign bit per value: values 5, 38 and 255 negative.
    signs[0] = 1 << 5;
    signs[4] = 1 << 6;
    signs[31] = 1 << 7;
    // Scale j + 1 for sub-block j, low nibble first; d = 0.5, so each 32 values take
    // 0.5 * (1 + 2 * (j + 1)).
    let scales = [0x21, 0x43, 0x65, 0x87];
    let block = [&F16_HALF.to_le_bytes()[..], &qs, &qh, &signs, &scales].concat();

    let magnitude = |i: usize| -> f32 {
        match i {
            4 => 3.0,
            36 => 7.0,
            38 => 9.0,
            37 | 39 => 5.0,
            254 | 255 => 15.0,
            _ => 1.0,
        }
    };
    let sign = |i: usize| if matches!(i, 5 | 38 | 255) { -1.0 } else { 1.0 };
    let expected: Vec<f32> = (0..256)
        .map(|i| 0.5 * (2.0 * (i / 32) as f32 + 3.0) * magnitude(i) * sign(i))
        .collect();
    assert_eq!(
        [0, 4, 5, 36, 38, 254, 255].map(|i| expected[i]),
        [1.5, 4.5, -1.5, 17.5, -22.5, 127.5, -127.5]
    );
    assert_eq!(decode(GgmlType::IQ3_S, &block), expected);
}

#[test]
fn iq2_xxs_is_scale_per_32_times_a_signed_grid_magnitude_per_value() {
    // Per 32 values two u32s: four grid indices (one per 8 values), then four 7-bit sign
    // indices from bit 0 up and a 4-bit scale in bits 28..32; d = 0.5, so db = 0.5 * (0.5 +
    // sc) * 0.25.
    let mut subs = [[0u8; 8]; 8];
    // Values 8..16 take index 1, (43, 8, 8, 8, 8, 8, 8, 8); values 0..8 sign index 1, whose
    // sign byte 0x81 negates values 0 and 7. Scale 0: db = 0.0625.
    subs[0] = [0, 1, 0, 0, 1, 0, 0, 0];
    // Values 248..256 take index 255, (8, 25, 8, 8, 25, 43, 43, 43), and sign index 127, whose
    // sign byte 0xff negates all 8. Scale 15: db = 1.9375.
    let aux = (15u32 << 28) | (127 << 21);
    subs[7][3] = 255;
    subs[7][4..].copy_from_slice(&aux.to_le_bytes());
    let block = [&F16_HALF.to_le_bytes()[..], subs.as_flattened()].concat();

    // Every other index is 0, all magnitudes 8, and every other sign index 0, no signs.
    let magnitude = |i: usize| -> f32 {
        match i {
            8 | 253..=255 => 43.0,
            249 | 252 => 25.0,
            _ => 8.0,
        }
    };
    let sign = |i: usize| {
        if matches!(i, 0 | 7 | 248..) {
            -1.0
        } else {
            1.0
        }
    };
    let db = |i: usize| if i < 224 { 0.0625 } else { 1.9375 };
    let expected: Vec<f32> = (0..256).map(|i| db(i) * magnitude(i) * sign(i)).collect();
    assert_eq!(
        [0, 1, 8, 32, 224, 248, 249, 255].map(|i| expected[i]),
        [-0.5, 0.5, 2.6875, 0.5, 15.5, -15.5, -48.4375, -83.3125]
    );
    assert_eq!(decode(GgmlType::IQ2_XXS, &block), expected);
}

#[test]
fn iq1_s_is_scale_per_32_times_a_shifted_ternary_grid_value() {
    // Per 8 values an 11-bit grid index: a byte of qs and 3 bits of the u16 for its 32 values,
    // which also holds a 3-bit scale in bits 12..=14 and the shift's sign in bit 15. d = 0.5.
    let mut qs = [0u8; 32];
    let mut qh = [0u16; 8];
    // Values 8..16 take index 1, (1, -1, -1, -1, -1, -1, -1, -1).
    qs[1] = 1;
    // Values 128..136 take index 4 << 8 = 1024, (0, 1, -1, 0, 0, 0, 0, 0).
    qh[4] = 4;
    // Values 248..256 take index 7 << 8 | 255 = 2047, all 1; values 224..256 scale 7 and the
    // shift -0.125.
    qs[31] = 0xff;
    qh[7] = 0x8000 | (7 << 12) | (7 << 9);
    let mut block = F16_HALF.to_le_bytes().to_vec();
    block.extend(qs);
    block.extend(qh.iter().flat_map(|h| h.to_le_bytes()));

    // Index 0 is all -1; elsewhere scale 0 and shift +0.125: y = 0.5 * (1 + 2 * sc) * (g + delta).
    let g = |i: usize| -> f32 {
        match i {
            8 | 129 | 248.. => 1.0,
            128 | 131..136 => 0.0,
            _ => -1.0,
        }
    };
    let dl = |i: usize| if i < 224 { 0.5 } else { 7.5 };
    let delta = |i: usize| if i < 224 { 0.125 } else { -0.125 };
    let expected: Vec<f32> = (0..256).map(|i| dl(i) * (g(i) + delta(i))).collect();
    assert_eq!(
        [0, 8, 9, 128, 129, 130, 224, 255].map(|i| expected[i]),
        [
            -0.4375, 0.5625, -0.4375, 0.0625, 0.5625, -0.4375, -8.4375, 6.5625
        ]
    );
    assert_eq!(decode(GgmlType::IQ1_S, &block), expected);
}

#[test]
fn tq1_0_takes_five_base_3_digits_per_byte_most_significant_first() {
    // A byte holds digits (2, 0, 1, 2, 0) as ceil(177 * 256 / 243) = 187; each digit less 1 is
    // a value. Byte j of qs[..32] holds values j + 32k, of qs[32..48] values 160 + j + 16k, and
    // of qh (4 digits) values 240 + j + 4k, digit k. Zero bytes are all digits 0, values -1.
    let mut block = [0u8; 54];
    block[0] = 187;
    block[32 + 15] = 187;
    block[48 + 3] = 187;
    block[52..].copy_from_slice(&F16_HALF.to_le_bytes());

    let mut q = [-1.0f32; 256];
    for (k, digit) in [2.0, 0.0, 1.0, 2.0, 0.0].into_iter().enumerate() {
        q[32 * k] = digit - 1.0;
        q[175 + 16 * k] = digit - 1.0;
        if k < 4 {
            q[243 + 4 * k] = digit - 1.0;
        }
    }
    let expected: Vec<f32> = q.iter().map(|q| 0.5 * q).collect();
    assert_eq!(
        [0, 32, 64, 96, 128, 175, 239, 243, 251, 255].map(|i| expected[i]),
        [0.5, -0.5, 0.0, 0.5, -0.5, 0.5, -0.5, 0.5, 0.0, 0.5]
    );
    assert_eq!(decode(GgmlType::TQ1_0, &block), expected);
}

#[test]
fn tq2_0_is_scale_times_two_bits_minus_1_in_runs_of_32() {
    // As Q2_K's quants: byte j of each 32 holds four runs of 32 values from the lowest bit pair
    // up. Pairs of 1 are q = 0, which d = -3 turns into -0.0 as numpy's `d * q` does.
    let mut qs = [0x55u8; 64];
    // Byte 0: values 0 (1), 32 (0), 64 (2) and 96 (3); byte 63's top pair: value 255 (0).
    qs[0] = 0b11_10_00_01;
    qs[63] = 0b00_01_01_01;
    let block = [&qs[..], &F16_MINUS_THREE.to_le_bytes()].concat();

    let mut expected = [-0.0f32; 256];
    expected[32] = 3.0;
    expected[64] = -3.0;
    expected[96] = -6.0;
    expected[255] = 3.0;
    assert_eq!(bits(&decode(GgmlType::TQ2_0, &block)), bits(&expected));
}

#[test]
fn types_round_trip_their_ids_names_and_block_sizes() {
    let table = [
        (GgmlType::Q5_0, 6, "Q5_0", (32, 22)),
        (GgmlType::Q5_1, 7, "Q5_1", (32, 24)),
        (GgmlType::Q2_K, 10, "Q2_K", (256, 84)),
        (GgmlType::Q3_K, 11, "Q3_K", (256, 110)),
        (GgmlType::Q4_K, 12, "Q4_K", (256, 144)),
        (GgmlType::Q5_K, 13, "Q5_K", (256, 176)),
        (GgmlType::Q6_K, 14, "Q6_K", (256, 210)),
        (GgmlType::IQ2_XXS, 16, "IQ2_XXS", (256, 66)),
        (GgmlType::IQ2_XS, 17, "IQ2_XS", (256, 74)),
        (GgmlType::IQ3_XXS, 18, "IQ3_XXS", (256, 98)),
        (GgmlType::IQ1_S, 19, "IQ1_S", (256, 50)),
        (GgmlType::IQ3_S, 21, "IQ3_S", (256, 110)),
        (GgmlType::IQ2_S, 22, "IQ2_S", (256, 82)),
        (GgmlType::IQ1_M, 29, "IQ1_M", (256, 56)),
        (GgmlType::TQ1_0, 34, "TQ1_0", (256, 54)),
        (GgmlType::TQ2_0, 35, "TQ2_0", (256, 66)),
    ];
    for (kind, id, name, block) in table {
        assert_eq!(GgmlType::from_id(id), kind);
        assert_eq!(kind.id(), id);
        assert_eq!(kind.to_string(), name);
        assert_eq!(kind.block(), Some(block));
    }
    // Q4_0_4_4, dropped from ggml: kept by id, not decodable.
    assert_eq!(GgmlType::from_id(31), GgmlType::Other(31));
    assert_eq!(GgmlType::Other(31).id(), 31);
    assert_eq!(GgmlType::Other(31).block(), None);
    assert_eq!(GgmlType::Other(31).to_string(), "type 31");
}

#[test]
fn dequantize_refuses_partial_blocks_and_unknown_types() {
    assert_eq!(dequantize(GgmlType::Q4_K, &[0; 144 * 2 - 1]), None);
    assert_eq!(dequantize(GgmlType::Q6_K, &[0; 1]), None);
    assert_eq!(dequantize(GgmlType::Other(31), &[0; 66]), None);
    assert_eq!(dequantize(GgmlType::Q4_K, &[]), Some(vec![]));
    assert_eq!(
        dequantize(GgmlType::Q6_K, &[0; 420]).map(|v| v.len()),
        Some(512)
    );
}

/// One fixture file's chunks: raw blocks and gguf-py's values as f32 bits.
fn fixture(kind: GgmlType) -> Vec<(Vec<u8>, Vec<u32>)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/quants/{kind}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split(' ');
            let hex = fields.next().unwrap();
            let raw = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
                .collect();
            let values = fields
                .map(|v| u32::from_str_radix(v, 16).unwrap())
                .collect();
            (raw, values)
        })
        .collect()
}

/// Every type `block` calls decodable, by id, so a type added later needs a fixture too.
fn decodable_types() -> Vec<GgmlType> {
    (0..64)
        .map(GgmlType::from_id)
        .filter(|kind| kind.block().is_some())
        .collect()
}

#[test]
fn every_decodable_type_matches_gguf_py_bit_for_bit() {
    let kinds = decodable_types();
    assert_eq!(kinds.len(), 24, "{kinds:?}");
    for kind in kinds {
        let chunks = fixture(kind);
        assert!(!chunks.is_empty(), "{kind}");
        for (n, (raw, expected)) in chunks.iter().enumerate() {
            let values = dequantize(kind, raw).unwrap();
            assert_eq!(bits(&values), *expected, "{kind} chunk {n}");
        }
        let (raw, expected) = joined(&chunks);
        assert_eq!(bits(&dequantize(kind, &raw).unwrap()), expected, "{kind}");
    }
}

/// All chunks as one run of blocks, and all their values.
fn joined(chunks: &[(Vec<u8>, Vec<u32>)]) -> (Vec<u8>, Vec<u32>) {
    let raw = chunks
        .iter()
        .flat_map(|(raw, _)| raw.iter().copied())
        .collect();
    let values = chunks.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    (raw, values)
}

#[test]
fn gguf_tensors_of_every_decodable_type_read_as_gguf_py_dequantizes_them() {
    let kinds = decodable_types();
    let fixtures: Vec<_> = kinds.iter().map(|&kind| joined(&fixture(kind))).collect();
    let tensors: Vec<Tensor> = kinds
        .iter()
        .zip(&fixtures)
        .map(|(kind, (raw, values))| {
            let elements = u64::try_from(values.len()).unwrap();
            Tensor::new(&kind.to_string(), &[elements], kind.id(), raw.clone())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("every-type.gguf");
    write_gguf(&path, &[], &tensors);

    let gguf = GgufFile::open(&path).unwrap();
    for (kind, (_, expected)) in kinds.iter().zip(&fixtures) {
        let tensor = gguf.tensor(&kind.to_string()).unwrap();
        assert_eq!(tensor.kind, *kind);
        assert_eq!(bits(&gguf.read_f32(tensor).unwrap()), *expected, "{kind}");
        // A range reads only the blocks that hold it, whatever blocks it starts and ends in.
        let n = expected.len();
        for range in [0..n, 1..n - 1, n / 3..n / 2 + 7, n - 1..n, 5..5] {
            let got = gguf
                .read_f32_range(tensor, range.start as u64..range.end as u64)
                .unwrap();
            assert_eq!(bits(&got), expected[range.clone()], "{kind} {range:?}");
        }
        assert!(
            gguf.read_f32_range(tensor, 0..n as u64 + 1).is_err(),
            "{kind}"
        );
    }
}
