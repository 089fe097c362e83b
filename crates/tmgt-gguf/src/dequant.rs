//! Dequantization with the same float32 arithmetic as `gguf/quants.py` (gguf 0.19.0): every f16
//! scale is widened to f32 first, and each value is then the f32 expression quants.py evaluates,
//! one rounding per operation in the same order (Rust never fuses a multiply and an add):
//!
//! - Q4_0, Q5_0, Q8_0: `d * q`; Q4_1, Q5_1: `d * q + m`.
//! - Q2_K: `(d * sc) * q - (dmin * m)` with 4-bit `sc` and `m` per 16 values.
//! - Q3_K: `(d * sc) * q`, `sc` a 6-bit scale less 32 per 16 values, `q` in -4..=3.
//! - Q4_K, Q5_K: `(d * sc) * q - (dmin * m)` with 6-bit `sc` and `m` per 32 values.
//! - Q6_K: `(d * sc) * q`, `sc` a signed byte per 16 values, `q` in -32..=31.
//! - IQ3_S: `(d * (1 + 2 * sc)) * g * s`, `sc` a 4-bit scale per 32 values, `g` an odd magnitude
//!   1..=15 from [`IQ3S_GRID`] and `s` the value's sign, +1 or -1.
//!
//! Most products are exact in f32 (an 11-bit scale times small integers); where one is not, or
//! for the subtraction and addition, f32 rounds once per operation exactly as numpy does.

use crate::GgmlType;
use crate::iq3s_grid::IQ3S_GRID;

/// 2^-24, the value of the least f16 subnormal.
const F16_SUBNORMAL_UNIT: f32 = 1.0 / 16_777_216.0;

/// Widens IEEE binary16 bits to f32 exactly, like numpy's `astype(np.float32)`: subnormals
/// become normal f32 values, infinities stay infinite and NaN payloads are kept.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from(h >> 10) & 0x1f;
    let man = u32::from(h & 0x03ff);
    let bits = match exp {
        // Zero and subnormals: man * 2^-24, exact since man < 2^10.
        0 => sign | (f32::from(h & 0x03ff) * F16_SUBNORMAL_UNIT).to_bits(),
        0x1f => sign | 0x7f80_0000 | (man << 13),
        // Rebias the exponent from 15 to 127.
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Decodes `raw`, a whole number of blocks of `kind`, passing each value to `emit` in element
/// order. Sinks differ (a `Vec<f32>` for callers, little-endian bytes for the HF writer), hence
/// the callback rather than a returned vector.
pub(crate) fn dequantize(kind: GgmlType, raw: &[u8], emit: &mut impl FnMut(f32)) {
    match kind {
        GgmlType::F32 => raw
            .chunks_exact(4)
            .for_each(|b| emit(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => raw.chunks_exact(2).for_each(|b| emit(f16_at(b, 0))),
        GgmlType::BF16 => raw.chunks_exact(2).for_each(|b| {
            emit(f32::from_bits(
                u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
            ))
        }),
        GgmlType::Q4_0 => {
            for block in raw.chunks_exact(18) {
                let d = f16_at(block, 0);
                nibbles(&block[2..], &mut |q| emit(d * f32::from(i16::from(q) - 8)));
            }
        }
        GgmlType::Q4_1 => {
            for block in raw.chunks_exact(20) {
                let d = f16_at(block, 0);
                let m = f16_at(block, 2);
                nibbles(&block[4..], &mut |q| emit(d * f32::from(q) + m));
            }
        }
        GgmlType::Q5_0 => {
            for block in raw.chunks_exact(22) {
                let d = f16_at(block, 0);
                five_bits(&block[2..], &mut |q| emit(d * f32::from(i16::from(q) - 16)));
            }
        }
        GgmlType::Q5_1 => {
            for block in raw.chunks_exact(24) {
                let d = f16_at(block, 0);
                let m = f16_at(block, 2);
                five_bits(&block[4..], &mut |q| emit(d * f32::from(q) + m));
            }
        }
        GgmlType::Q8_0 => {
            for block in raw.chunks_exact(34) {
                let d = f16_at(block, 0);
                block[2..]
                    .iter()
                    .for_each(|&q| emit(d * f32::from(i8::from_le_bytes([q]))));
            }
        }
        GgmlType::Q2_K => {
            for block in raw.chunks_exact(84) {
                let (scales, qs) = block.split_at(16);
                let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
                for i in 0..256 {
                    let (sc, m) = (scales[i / 16] & 0x0f, scales[i / 16] >> 4);
                    let q = crumb(qs, i);
                    emit(d * f32::from(sc) * f32::from(q) - dmin * f32::from(m));
                }
            }
        }
        GgmlType::Q3_K => {
            for block in raw.chunks_exact(110) {
                let (hmask, rest) = block.split_at(32);
                let (qs, scales) = rest.split_at(64);
                let d = f16_at(block, 108);
                for i in 0..256 {
                    let sc = q3_k_scale(scales, i / 16);
                    // A clear high bit subtracts 4; a set one adds nothing.
                    let q = i16::from(crumb(qs, i)) - if bit(hmask, i) == 1 { 0 } else { 4 };
                    emit(d * f32::from(sc) * f32::from(q));
                }
            }
        }
        GgmlType::Q4_K => {
            for block in raw.chunks_exact(144) {
                let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                let (scales, qs) = block[4..].split_at(12);
                for i in 0..256 {
                    let (sc, m) = k_scale_min(scales, i / 32);
                    let q = nibble(qs, i, 32);
                    emit(d * f32::from(sc) * f32::from(q) - dmin * f32::from(m));
                }
            }
        }
        GgmlType::Q5_K => {
            for block in raw.chunks_exact(176) {
                let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                let (scales, rest) = block[4..].split_at(12);
                let (qh, qs) = rest.split_at(32);
                for i in 0..256 {
                    let (sc, m) = k_scale_min(scales, i / 32);
                    let q = nibble(qs, i, 32) | (bit(qh, i) << 4);
                    emit(d * f32::from(sc) * f32::from(q) - dmin * f32::from(m));
                }
            }
        }
        GgmlType::Q6_K => {
            for block in raw.chunks_exact(210) {
                let (ql, rest) = block.split_at(128);
                let (qh, scales) = rest.split_at(64);
                let d = f16_at(block, 208);
                for i in 0..256 {
                    let sc = i8::from_le_bytes([scales[i / 16]]);
                    let q = i16::from(nibble(ql, i, 64) | (crumb(qh, i) << 4)) - 32;
                    emit(d * f32::from(sc) * f32::from(q));
                }
            }
        }
        GgmlType::IQ3_S => {
            for block in raw.chunks_exact(110) {
                let d = f16_at(block, 0);
                let (qs, rest) = block[2..].split_at(64);
                let (qh, rest) = rest.split_at(8);
                let (signs, scales) = rest.split_at(32);
                for i in 0..256 {
                    // Each 32 values share a scale: byte i / 64, low nibble first.
                    let sc = (scales[i / 64] >> (i / 32 % 2 * 4)) & 0x0f;
                    let db = d * f32::from(1 + 2 * sc);
                    // Each 4 values share a 9-bit grid index: a byte of qs and a bit of qh.
                    let g = i / 4;
                    let index = usize::from(qs[g]) | (usize::from((qh[g / 8] >> (g % 8)) & 1) << 8);
                    let magnitude = IQ3S_GRID[index].to_le_bytes()[i % 4];
                    // One sign bit per value, from the lowest bit of each byte.
                    let sign = [1.0, -1.0][usize::from((signs[i / 8] >> (i % 8)) & 1)];
                    emit(db * f32::from(magnitude) * sign);
                }
            }
        }
        GgmlType::IQ4_NL => {
            for block in raw.chunks_exact(18) {
                let d = f16_at(block, 0);
                nibbles(&block[2..], &mut |q| {
                    emit(d * f32::from(IQ4_LEVELS[usize::from(q)]));
                });
            }
        }
        GgmlType::IQ4_XS => {
            for block in raw.chunks_exact(136) {
                let d = f16_at(block, 0);
                let high = u16::from_le_bytes([block[2], block[3]]);
                let (low, qs) = block[4..].split_at(4);
                for (sub, quants) in qs.chunks_exact(16).enumerate() {
                    let scale = ((low[sub / 2] >> (4 * (sub % 2))) & 0xf)
                        | ((((high >> (2 * sub)) & 3) as u8) << 4);
                    let dl = d * f32::from(i16::from(scale) - 32);
                    nibbles(quants, &mut |q| {
                        emit(dl * f32::from(IQ4_LEVELS[usize::from(q)]));
                    });
                }
            }
        }
        // Callers check `GgmlType::block` first, which is `None` for these.
        GgmlType::Other(_) => {}
    }
}

/// ggml's `kvalues_iq4nl`: the 16 levels a 4-bit IQ4 index names.
const IQ4_LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// The 32 four-bit values of a block in element order: byte j holds element j in its low
/// nibble and element j + 16 in its high nibble.
fn nibbles(qs: &[u8], emit: &mut impl FnMut(u8)) {
    (0..32).for_each(|i| emit(nibble(qs, i, 16)));
}

/// The four-bit value of element `i` where each `run` bytes hold `run` elements in their low
/// nibbles, then the next `run` elements in their high nibbles.
fn nibble(qs: &[u8], i: usize, run: usize) -> u8 {
    (qs[i / (2 * run) * run + i % run] >> (i / run % 2 * 4)) & 0x0f
}

/// The two-bit value of element `i` of a K-quant: each 32 bytes hold four runs of 32
/// elements, from the lowest bit pair up.
fn crumb(qs: &[u8], i: usize) -> u8 {
    (qs[i / 128 * 32 + i % 32] >> (i / 32 % 4 * 2)) & 0x03
}

/// The high bit of element `i` of a K-quant: bit `i / 32` of byte `i % 32`.
fn bit(qh: &[u8], i: usize) -> u8 {
    (qh[i % 32] >> (i / 32)) & 1
}

/// Q5_0 and Q5_1 values (the bytes after the scales): element i's four low bits as in
/// [`nibbles`], its fifth bit bit i of the little-endian u32 before them.
fn five_bits(block: &[u8], emit: &mut impl FnMut(u8)) {
    let (qh, qs) = block.split_at(4);
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    (0..32).for_each(|i| emit(nibble(qs, i, 16) | (u8::from((qh >> i) & 1 == 1) << 4)));
}

/// Scale `j` of 16 in Q3_K's 12 bytes: its low four bits are nibbles of bytes 0..8 (as in
/// [`nibble`] with runs of 8), its high two bits pairs of bytes 8..12 (runs of 4), less 32.
fn q3_k_scale(scales: &[u8], j: usize) -> i16 {
    let low = nibble(&scales[..8], j, 8);
    let high = (scales[8 + j % 4] >> (j / 4 * 2)) & 0x03;
    i16::from(low | (high << 4)) - 32
}

/// Scale and min `j` of 8 in the 12 bytes Q4_K and Q5_K share (ggml's `get_scale_min_k4`):
/// six-bit values, the first four whole in bytes 0..8, the last four split between the low
/// bits of bytes 8..12 and the top two bits of bytes 0..8.
fn k_scale_min(scales: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 0x3f, scales[j + 4] & 0x3f)
    } else {
        (
            (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}
