//! Dequantization with the same float32 arithmetic as `gguf/quants.py` (gguf 0.19.0): the f16
//! scale is widened to f32 first, then one f32 multiply and, for Q4_1, a separate f32 add. The
//! products are exact in f32 anyway (11-bit scale times an at most 8-bit integer), so only the
//! Q4_1 add rounds, exactly once, as numpy's does.

use crate::GgmlType;

/// 2^-24, the value of the least f16 subnormal.
const F16_SUBNORMAL_UNIT: f32 = 1.0 / 16_777_216.0;

/// Widens IEEE binary16 bits to f32 exactly, like numpy's `astype(np.float32)`: subnormals
/// become normal f32 values, infinities stay infinite and NaN payloads are kept.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
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
        GgmlType::Q8_0 => {
            for block in raw.chunks_exact(34) {
                let d = f16_at(block, 0);
                block[2..]
                    .iter()
                    .for_each(|&q| emit(d * f32::from(i8::from_le_bytes([q]))));
            }
        }
        // Callers check `TensorInfo::byte_len` first, which is `None` for these.
        GgmlType::Other(_) => {}
    }
}

/// The 32 four-bit values of a block in element order: byte j holds element j in its low
/// nibble and element j + 16 in its high nibble.
fn nibbles(qs: &[u8], emit: &mut impl FnMut(u8)) {
    qs.iter().for_each(|&b| emit(b & 0x0f));
    qs.iter().for_each(|&b| emit(b >> 4));
}
