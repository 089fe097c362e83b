//! How far a stored value may lie from the source value it encodes, derived from the storage
//! type and the source values themselves, never from the file under judgement: a damaged scale
//! must not widen its own tolerance.
//!
//! * F32: bit-exact.
//! * F16 / BF16: one unit in the last place of the source value (rounding to nearest is within
//!   half of it; truncating converters are within one).
//! * Block types: one quantization step of the block, as the type's own quantizer derives it
//!   from the source block (`amax / 127` for Q8_0, `(max - min) / 15` for Q4_1, ...). Rounding
//!   to nearest is within half a step; one step leaves room for another scale choice. K-quants
//!   also store their sub-block scales quantized (6 or 8 bits), which adds that rounding times
//!   the largest level.

use crate::file::Storage;
use tmgt_gguf::GgmlType;

/// Per-element tolerances of one tensor.
#[derive(Debug, Clone)]
pub struct Bounds {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// One tolerance for every value.
    Uniform(f32),
    /// One ulp of a float with this many explicit mantissa bits and this least normal exponent.
    Ulp {
        mantissa: i32,
        min_exp: i32,
    },
    /// One tolerance per `per` values of the padded rows.
    Blocks {
        row: usize,
        padded: usize,
        per: usize,
        values: Vec<f32>,
    },
}

impl Bounds {
    /// The tolerances of `expected` (row-major, logical order) stored as `storage`.
    pub fn new(storage: Storage, expected: &[f32]) -> Bounds {
        let n = expected.len();
        let kind = match storage {
            Storage::F32 => Kind::Exact,
            Storage::F16 => Kind::Ulp {
                mantissa: 10,
                min_exp: -14,
            },
            Storage::BF16 => Kind::Ulp {
                mantissa: 7,
                min_exp: -126,
            },
            Storage::AprQ8 => blocks(expected, n.max(1), n.max(1), n.max(1), &|b, out| {
                out.push(amax(b) / 127.0)
            }),
            // The f16 scale's own rounding moves a value by at most 8 levels of 2^-11.
            Storage::AprQ4 => blocks(expected, n.max(1), n.div_ceil(32) * 32, 32, &|b, out| {
                out.push(amax(b) / 7.0 * (1.0 + 1.0 / 128.0))
            }),
            Storage::Ggml { kind, row, padded } => ggml(kind, expected, row, padded),
        };
        Bounds { kind }
    }

    /// One tolerance for every value: APR_Q8's step, whose scale is the whole tensor's, so a
    /// slice of it cannot derive it.
    pub fn uniform(step: f32) -> Bounds {
        Bounds {
            kind: Kind::Uniform(step),
        }
    }

    /// The tolerance of value `i`, whose source value is `expected`.
    pub fn at(&self, i: usize, expected: f32) -> f32 {
        match &self.kind {
            Kind::Exact => 0.0,
            Kind::Uniform(step) => *step,
            Kind::Ulp { mantissa, min_exp } => {
                let a = expected.abs();
                let exp = if a > 0.0 && a.is_finite() {
                    (a.log2().floor() as i32).max(*min_exp)
                } else {
                    *min_exp
                };
                2f32.powi(exp - mantissa)
            }
            Kind::Blocks {
                row,
                padded,
                per,
                values,
            } => {
                let at = i / row * padded + i % row;
                values.get(at / per).copied().unwrap_or(0.0)
            }
        }
    }

    /// The largest tolerance of any value: used where values are compared out of place.
    pub fn largest(&self, expected: &[f32]) -> f32 {
        match &self.kind {
            Kind::Exact => 0.0,
            Kind::Uniform(step) => *step,
            Kind::Blocks { values, .. } => values.iter().copied().fold(0.0, f32::max),
            Kind::Ulp { .. } => expected
                .iter()
                .enumerate()
                .map(|(i, &e)| self.at(i, e))
                .fold(0.0, f32::max),
        }
    }

    /// Whether stored value `got` encodes source value `want` (index `i`).
    pub fn holds(&self, i: usize, want: f32, got: f32) -> bool {
        if self.is_exact() {
            return got.to_bits() == want.to_bits() || got == want;
        }
        (got - want).abs() <= self.at(i, want)
    }

    pub fn is_exact(&self) -> bool {
        matches!(self.kind, Kind::Exact)
    }
}

fn amax(b: &[f32]) -> f32 {
    b.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The step of an asymmetric block with `levels` steps: its range, with zero kept inside.
fn range(b: &[f32]) -> f32 {
    let max = b.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = b.iter().copied().fold(f32::INFINITY, f32::min).min(0.0);
    (max - min).max(0.0)
}

fn neg_min(b: &[f32]) -> f32 {
    -b.iter().copied().fold(0.0f32, f32::min)
}

/// Runs `each` over blocks of `block` values of the zero-padded rows; `each` pushes one
/// tolerance per `per` values of its block.
fn blocks(
    expected: &[f32],
    row: usize,
    padded: usize,
    per: usize,
    each: &dyn Fn(&[f32], &mut Vec<f32>),
) -> Kind {
    blocks_of(expected, row, padded, per, per, each)
}

fn blocks_of(
    expected: &[f32],
    row: usize,
    padded: usize,
    block: usize,
    per: usize,
    each: &dyn Fn(&[f32], &mut Vec<f32>),
) -> Kind {
    let mut values = Vec::with_capacity(expected.len() / per + 1);
    let mut buf = vec![0.0f32; padded];
    for r in expected.chunks(row.max(1)) {
        buf[..r.len()].copy_from_slice(r);
        buf[r.len()..].fill(0.0);
        for b in buf.chunks(block) {
            each(b, &mut values);
        }
    }
    Kind::Blocks {
        row: row.max(1),
        padded,
        per,
        values,
    }
}

fn ggml(kind: GgmlType, expected: &[f32], row: usize, padded: usize) -> Kind {
    let simple = |f: fn(&[f32]) -> f32| -> Kind {
        blocks(expected, row, padded, 32, &|b, out| out.push(f(b)))
    };
    match kind {
        GgmlType::Q8_0 => simple(|b| amax(b) / 127.0),
        GgmlType::Q4_0 => simple(|b| amax(b) / 8.0),
        GgmlType::Q5_0 => simple(|b| amax(b) / 16.0),
        GgmlType::Q4_1 => simple(|b| range(b) / 15.0),
        GgmlType::Q5_1 => simple(|b| range(b) / 31.0),
        GgmlType::Q4_K => kquant(expected, row, padded, 32, 15.0, 63.0, true),
        GgmlType::Q5_K => kquant(expected, row, padded, 32, 31.0, 63.0, true),
        GgmlType::Q2_K => kquant(expected, row, padded, 16, 3.0, 15.0, true),
        GgmlType::Q3_K => kquant(expected, row, padded, 16, 4.0, 31.0, false),
        GgmlType::Q6_K => kquant(expected, row, padded, 16, 32.0, 127.0, false),
        GgmlType::IQ4_NL => simple(|b| amax(b) * IQ4_STEP),
        GgmlType::IQ4_XS => iq4_xs(expected, row, padded),
        GgmlType::IQ3_S => iq3_s(expected, row, padded),
        GgmlType::TQ1_0 | GgmlType::TQ2_0 => super_blocks(expected, row, padded, 0.5),
        GgmlType::IQ3_XXS | GgmlType::IQ2_S => super_blocks(expected, row, padded, 1.0),
        GgmlType::IQ2_XXS | GgmlType::IQ2_XS => super_blocks(expected, row, padded, 1.4),
        GgmlType::IQ1_S | GgmlType::IQ1_M => super_blocks(expected, row, padded, 1.7),
        // Plain float types never reach here; an undecodable type has no values to bound.
        _ => Kind::Exact,
    }
    .widened_by_f16_scale()
}

impl Kind {
    /// ggml stores block scales as f16: rounding one moves a value by up to its level (at most
    /// 2^5 steps in these types, times 2^-11), under 1/64 of a step; Q4_0's clamped end
    /// reaches one step, so the step alone would be exceeded by that rounding.
    fn widened_by_f16_scale(self) -> Kind {
        match self {
            Kind::Blocks {
                row,
                padded,
                per,
                values,
            } => Kind::Blocks {
                row,
                padded,
                per,
                values: values.into_iter().map(|v| v * (1.0 + 1.0 / 64.0)).collect(),
            },
            other => other,
        }
    }
}

/// IQ4's error per unit of a block's largest magnitude: its 16 levels (-127 .. 113, times the
/// scale) lie at most 24 apart, so rounding moves a value by at most 12 scale units, and
/// llama.cpp's search keeps the scale at or above amax/113 (below it, the table's end clamps).
const IQ4_STEP: f32 = 12.0 / 113.0;

/// IQ4_XS: IQ4's table in sub-blocks of 32, whose scales are 6-bit multiples of one f16 unit
/// per 256 values (about the largest sub-block scale over 31). llama.cpp chooses each
/// sub-block's multiple by the error it gives, not by rounding, so a sub-block's scale may sit
/// a whole unit from its own best, which moves a value by up to 127 units. On tiny-llama-wide
/// every IQ4_XS block stays within 0.89 of this bound.
fn iq4_xs(expected: &[f32], row: usize, padded: usize) -> Kind {
    blocks_of(expected, row, padded, 256, 32, &|b, out| {
        let unit = b.chunks(32).map(amax).fold(0.0, f32::max) / 113.0 / 31.0;
        out.extend(b.chunks(32).map(|s| amax(s) * IQ4_STEP + 127.0 * unit));
    })
}

/// IQ3_S: each value is an odd multiple 1..=15 of its sub-block's scale `d * (1 + 2 * sc)`,
/// the multiples of four values at a time one of 512 grid points. llama.cpp fits each
/// sub-block's scale `s` (about amax / 15) and rounds each value to the nearest odd multiple,
/// within `s`; but most rounded quadruples are not on the grid, and it then takes the
/// neighbour that costs least by an error weighted by |x|, among the grid points at the three
/// nearest distances, which moves a coordinate up to 8 multiples (4 grid steps): up to 9 `s`
/// in all, and a small value in a group of large ones pays it. The scales are then stored as
/// odd multiples 1..=31 of `d`, the largest `s` over 31, with `d` raised by 3.3%: a scale
/// moves by up to about 2 `d`, and a value by 15 times that. On tiny-llama-wide every IQ3_S
/// block stays within 0.64 of this bound.
fn iq3_s(expected: &[f32], row: usize, padded: usize) -> Kind {
    blocks_of(expected, row, padded, 256, 32, &|b, out| {
        let d = b.chunks(32).map(amax).fold(0.0, f32::max) / 15.0 / 31.0;
        out.extend(b.chunks(32).map(|s| amax(s) / 15.0 * 9.0 + 30.0 * d));
    })
}

/// The 1- to 3-bit types, bounded per 256-value super-block by `share` of its largest
/// magnitude. TQ1_0 and TQ2_0 are ternary with the block's largest magnitude as their scale, so
/// rounding moves a value by at most half of it. The grid types (IQ3_XXS, IQ2_*, IQ1_*) choose
/// sign patterns and grid points together by a weighted search, which puts a value anywhere
/// within about the scale; their shares are about twice the worst llama.cpp wrote on both
/// width-256 tiny models (IQ3_XXS 0.49, IQ2_S 0.48, IQ2_XXS 0.66, IQ2_XS 0.68, IQ1_S 0.83,
/// IQ1_M 0.85). Bounds this wide catch a misread scale or grid, not a slightly worse search.
fn super_blocks(expected: &[f32], row: usize, padded: usize, share: f32) -> Kind {
    blocks_of(expected, row, padded, 256, 256, &|b, out| {
        out.push(amax(b) * share);
    })
}

/// A 256-value super-block of sub-blocks of `sub` values with `levels` steps each, and
/// sub-block scales (and mins, when `with_min`) quantized to `scale_levels` steps of the
/// largest.
fn kquant(
    expected: &[f32],
    row: usize,
    padded: usize,
    sub: usize,
    levels: f32,
    scale_levels: f32,
    with_min: bool,
) -> Kind {
    blocks_of(expected, row, padded, 256, sub, &|b, out| {
        let steps: Vec<f32> = b
            .chunks(sub)
            .map(|s| if with_min { range(s) } else { amax(s) } / levels)
            .collect();
        let d_unit = steps.iter().copied().fold(0.0, f32::max) / scale_levels;
        let m_unit = if with_min {
            b.chunks(sub).map(neg_min).fold(0.0, f32::max) / scale_levels
        } else {
            0.0
        };
        out.extend(steps.iter().map(|s| s + levels / 2.0 * d_unit + m_unit));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_is_exact_and_f16_allows_one_ulp() {
        let b = Bounds::new(Storage::F32, &[1.0]);
        assert!(b.holds(0, 1.0, 1.0) && !b.holds(0, 1.0, 1.0 + f32::EPSILON));
        let h = Bounds::new(Storage::F16, &[1.0]);
        assert_eq!(h.at(0, 1.0), 1.0 / 1024.0);
        assert!(h.holds(0, 1.0, 1.0 + 1.0 / 1024.0) && !h.holds(0, 1.0, 1.003));
    }

    #[test]
    fn block_steps_come_from_the_source_block() {
        // Two Q8_0 blocks: the second's amax is 127, so its step is 1; the first's is 1/127.
        let mut v = vec![0.0f32; 64];
        v[0] = 1.0;
        v[40] = -127.0;
        let b = Bounds::new(
            Storage::Ggml {
                kind: GgmlType::Q8_0,
                row: 64,
                padded: 64,
            },
            &v,
        );
        // One step, widened by the f16 scale's rounding.
        let widen = 1.0 + 1.0 / 64.0;
        assert_eq!(b.at(5, 0.0), 1.0 / 127.0 * widen);
        assert_eq!(b.at(33, 0.0), widen);
        // apr's Q4_K pads each 64-value row to 256: two rows are two super-blocks.
        let rows: Vec<f32> = (0..128).map(|i| if i < 64 { 0.1 } else { 1.5 }).collect();
        let k = Bounds::new(
            Storage::Ggml {
                kind: GgmlType::Q4_K,
                row: 64,
                padded: 256,
            },
            &rows,
        );
        assert!(k.at(0, 0.1) < k.at(64, 1.5));
        assert!(k.at(64, 1.5) < 0.2, "{}", k.at(64, 1.5));
    }

    #[test]
    fn iq3_s_allows_nine_sub_block_scales_and_thirty_scale_units() {
        // One super-block: sub-block 0's amax is 15 (scale 1), the others' 1.5 (scale 0.1);
        // the scale unit is 1 / 31.
        let v: Vec<f32> = (0..256)
            .map(|i| match i {
                0 => 15.0,
                _ if i % 32 == 0 => -1.5,
                _ => 0.0,
            })
            .collect();
        let b = Bounds::new(
            Storage::Ggml {
                kind: GgmlType::IQ3_S,
                row: 256,
                padded: 256,
            },
            &v,
        );
        let widen = 1.0 + 1.0 / 64.0;
        for (i, want) in [(1, 9.0 + 30.0 / 31.0), (255, 0.9f32 + 30.0 / 31.0)] {
            let got = b.at(i, 0.0);
            assert!((got - want * widen).abs() < 1e-6, "{i}: {got}");
        }
        // A zero beside large values may be sent 4 grid steps (8 scales) away, and the scale
        // itself rounded by 2 units at the largest multiple, 15.
        assert!(b.holds(40, 0.0, 0.1 * 8.0 + 15.0 * 2.0 / 31.0));
        assert!(!b.holds(40, 0.0, 2.0));
    }
}
