//! Dequantization with the same float32 arithmetic as `gguf/quants.py` (gguf 0.19.0): every f16
//! scale is widened to f32 first, and each value is then the f32 expression quants.py evaluates,
//! one rounding per operation in the same order (Rust never fuses a multiply and an add):
//!
//! - Q4_0, Q5_0, Q8_0: `d * q`; Q4_1, Q5_1: `d * q + m`.
//! - Q2_K: `(d * sc) * q - (dmin * m)` with 4-bit `sc` and `m` per 16 values.
//! - Q3_K: `(d * sc) * q`, `sc` a 6-bit scale less 32 per 16 values, `q` in -4..=3.
//! - Q4_K, Q5_K: `(d * sc) * q - (dmin * m)` with 6-bit `sc` and `m` per 32 values.
//! - Q6_K: `(d * sc) * q`, `sc` a signed byte per 16 values, `q` in -32..=31.
//! - IQ2_XXS, IQ2_XS, IQ2_S: `d * (0.5 + sc) * 0.25 * g * s`, `sc` a 4-bit scale per 32 values
//!   (IQ2_XXS) or 16, `g` a grid magnitude 8, 25 or 43 and `s` the value's sign, +1 or -1.
//! - IQ3_XXS: `d * (0.5 + sc) * 0.5 * g * s`, `sc` a 4-bit scale per 32 values, `g` 4..=62.
//! - IQ3_S: `(d * (1 + 2 * sc)) * g * s`, `sc` a 4-bit scale per 32 values, `g` an odd magnitude
//!   1..=15 from [`IQ3S_GRID`] and `s` the value's sign, +1 or -1.
//! - IQ1_S, IQ1_M: `(d * (1 + 2 * sc)) * (g + delta)`, `sc` a 3-bit scale per 32 values (IQ1_S)
//!   or 16, `g` -1, 0 or 1 from [`IQ1S_GRID`] and `delta` +-0.125 per 32 (IQ1_S) or 8 values.
//! - TQ1_0, TQ2_0: `d * q`, `q` in -1..=1 (five base-3 digits a byte) or -1..=2 (two bits).
//!
//! Most products are exact in f32 (an 11-bit scale times small integers); where one is not, or
//! for the subtraction and addition, f32 rounds once per operation exactly as numpy does.

use crate::GgmlType;
use crate::iq_grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS};
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
    f16_to_f32(u16_at(bytes, at))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
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
        GgmlType::IQ2_XXS => raw.chunks_exact(66).for_each(|b| iq2_xxs(b, emit)),
        GgmlType::IQ2_XS => raw.chunks_exact(74).for_each(|b| iq2_xs(b, emit)),
        GgmlType::IQ2_S => raw.chunks_exact(82).for_each(|b| iq2_s(b, emit)),
        GgmlType::IQ3_XXS => raw.chunks_exact(98).for_each(|b| iq3_xxs(b, emit)),
        GgmlType::IQ1_S => raw.chunks_exact(50).for_each(|b| iq1_s(b, emit)),
        GgmlType::IQ1_M => raw.chunks_exact(56).for_each(|b| iq1_m(b, emit)),
        GgmlType::TQ1_0 => raw.chunks_exact(54).for_each(|b| tq1_0(b, emit)),
        GgmlType::TQ2_0 => {
            for block in raw.chunks_exact(66) {
                let d = f16_at(block, 64);
                (0..256).for_each(|i| emit(d * f32::from(i16::from(crumb(block, i)) - 1)));
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

/// One IQ2_XXS block: per 32 values two little-endian u32s, the first four 8-bit grid indices,
/// the second four 7-bit sign indices (one per 8 values) under a 4-bit scale in its top bits.
fn iq2_xxs(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 0);
    for sub in block[2..].chunks_exact(8) {
        let aux = u32_at(sub, 4);
        // The scale is aux's top nibble, the high nibble of its last byte.
        let db = d * (0.5 + f32::from(sub[7] >> 4)) * 0.25;
        for (k, &index) in sub[..4].iter().enumerate() {
            signed_octet(db, IQ2XXS_GRID[usize::from(index)], sign_byte(aux, k), emit);
        }
    }
}

/// One IQ2_XS block: per 8 values a little-endian u16, a 9-bit grid index under a 7-bit sign
/// index.
fn iq2_xs(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 0);
    let (qs, scales) = block[2..].split_at(64);
    for g in 0..32 {
        let q = u16_at(qs, 2 * g);
        let point = IQ2XS_GRID[usize::from(q & 511)];
        let signs = KSIGNS_IQ2XS[usize::from(q >> 9)];
        signed_octet(iq2_scale(d, scales, g), point, signs, emit);
    }
}

/// One IQ2_S block: per 8 values a 10-bit grid index (a byte of qs, two bits of qh from the
/// lowest pair up) and a byte of sign bits.
fn iq2_s(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 0);
    let (qs, rest) = block[2..].split_at(32);
    let (signs, rest) = rest.split_at(32);
    let (qh, scales) = rest.split_at(8);
    for g in 0..32 {
        let index = usize::from(qs[g]) | (usize::from((qh[g / 4] >> (g % 4 * 2)) & 3) << 8);
        signed_octet(iq2_scale(d, scales, g), IQ2S_GRID[index], signs[g], emit);
    }
}

/// `d * (0.5 + sc) * 0.25` for the 8 values of group `g`: IQ2_XS and IQ2_S keep a 4-bit scale
/// per 16 values, low nibble first.
fn iq2_scale(d: f32, scales: &[u8], g: usize) -> f32 {
    let sc = (scales[g / 4] >> (g / 2 % 2 * 4)) & 0x0f;
    d * (0.5 + f32::from(sc)) * 0.25
}

/// One IQ3_XXS block: 64 grid indices of 4 values, then per 32 values a little-endian u32 as
/// IQ2_XXS's second: four 7-bit sign indices under a 4-bit scale.
fn iq3_xxs(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 0);
    let (qs, scales) = block[2..].split_at(64);
    for (indices, aux) in qs.chunks_exact(8).zip(scales.chunks_exact(4)) {
        let db = d * (0.5 + f32::from(aux[3] >> 4)) * 0.5;
        let aux = u32_at(aux, 0);
        for (k, pair) in indices.chunks_exact(2).enumerate() {
            let point = u64::from(IQ3XXS_GRID[usize::from(pair[0])])
                | (u64::from(IQ3XXS_GRID[usize::from(pair[1])]) << 32);
            signed_octet(db, point, sign_byte(aux, k), emit);
        }
    }
}

/// The sign byte for group `k` of 4: its 7-bit index is bits `7k..7k + 7` of `aux`.
fn sign_byte(aux: u32, k: usize) -> u8 {
    KSIGNS_IQ2XS[(aux >> (7 * k)) as usize & 0x7f]
}

/// Eight values `db * g * s` from a grid point of byte magnitudes `g`, the first in the least
/// significant byte, each negated where its bit of `signs` is set.
fn signed_octet(db: f32, point: u64, signs: u8, emit: &mut impl FnMut(f32)) {
    for (b, g) in point.to_le_bytes().into_iter().enumerate() {
        let sign = [1.0, -1.0][usize::from((signs >> b) & 1)];
        emit(db * f32::from(g) * sign);
    }
}

/// The shift IQ1 values take off the grid: gguf-py's `np.float32(0.125)` (ggml's
/// `IQ1S_DELTA`), negated where the block's sign bit for it is set.
fn iq1_delta(negative: bool) -> f32 {
    if negative { -0.125 } else { 0.125 }
}

/// One IQ1_S block: per 8 values an 11-bit grid index, a byte of qs and three bits of a
/// little-endian u16 per 32 values, whose bits 12..=14 hold the scale and bit 15 the shift's
/// sign.
fn iq1_s(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 0);
    let (qs, qh) = block[2..].split_at(32);
    for (g, &low) in qs.iter().enumerate() {
        let h = u16_at(qh, g / 4 * 2);
        let index = usize::from(low) | (usize::from((h >> (g % 4 * 3)) & 7) << 8);
        let dl = d * f32::from(2 * ((h >> 12) & 7) + 1);
        let delta = iq1_delta(h & 0x8000 != 0);
        shifted_octet(dl, IQ1S_GRID[index], delta, emit);
    }
}

/// One IQ1_M block: per 8 values an 11-bit grid index, a byte of qs and the low three bits of
/// a qh nibble (low nibble first), whose fourth bit is the shift's sign; four little-endian
/// u16 scale words, each with four 3-bit scales (one per 16 values) from the lowest bits up.
fn iq1_m(block: &[u8], emit: &mut impl FnMut(f32)) {
    let (qs, rest) = block.split_at(32);
    let (qh, scales) = rest.split_at(16);
    let words = [0, 2, 4, 6].map(|at| u16_at(scales, at));
    let d = f16_to_f32(iq1_m_d(words));
    for (g, &low) in qs.iter().enumerate() {
        let sc = (words[g / 8] >> (g / 2 % 4 * 3)) & 7;
        let dl = d * f32::from(2 * sc + 1);
        let h = (qh[g / 2] >> (g % 2 * 4)) & 0x0f;
        let index = usize::from(low) | (usize::from(h & 7) << 8);
        let delta = iq1_delta(h & 8 != 0);
        shifted_octet(dl, IQ1S_GRID[index], delta, emit);
    }
}

/// IQ1_M's f16 super-block scale: the top nibbles of its four scale words, the first lowest.
fn iq1_m_d(words: [u16; 4]) -> u16 {
    (words[0] >> 12) | ((words[1] & 0xf000) >> 8) | ((words[2] & 0xf000) >> 4) | (words[3] & 0xf000)
}

/// Eight values `dl * (g + delta)` from a grid point of signed bytes `g`, the first in the
/// least significant byte.
fn shifted_octet(dl: f32, point: u64, delta: f32, emit: &mut impl FnMut(f32)) {
    for g in point.to_le_bytes() {
        emit(dl * (f32::from(i8::from_le_bytes([g])) + delta));
    }
}

/// One TQ1_0 block: 48 bytes of five base-3 digits and 4 of four, then the f16 scale. Each run
/// of bytes (qs[..32], qs[32..], qh) gives, per digit from the most significant, one value per
/// byte.
fn tq1_0(block: &[u8], emit: &mut impl FnMut(f32)) {
    let d = f16_at(block, 52);
    for (run, digits) in [(&block[..32], 5), (&block[32..48], 5), (&block[48..52], 4)] {
        for power in [1u8, 3, 9, 27, 81].into_iter().take(digits) {
            for &q in run {
                emit(d * f32::from(trit(q.wrapping_mul(power))));
            }
        }
    }
}

/// The leading base-3 digit, less 1, of a byte that stores a fraction of 243 as `q / 256`:
/// multiplying by 3^k (wrapping, as numpy's uint8 does) shifts digit k to the front.
fn trit(q: u8) -> i16 {
    ((i16::from(q) * 3) >> 8) - 1
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
