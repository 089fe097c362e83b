//! Summary statistics of a tensor, computed by tmgt from the source values, and the
//! comparison of apr's reported statistics against them.

use crate::source::SourceError;
use serde::Serialize;

/// min, max, mean and population standard deviation (divide by n) of a tensor's values,
/// accumulated in f64.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TensorStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub count: usize,
}

impl TensorStats {
    /// `None` for an empty tensor or one holding NaN or infinity (the tests' view of
    /// [`Self::of_blocks`]).
    #[cfg(test)]
    pub fn of(values: &[f32]) -> Option<TensorStats> {
        let whole = |each: &mut dyn FnMut(&[f32])| -> Result<(), SourceError> {
            each(values);
            Ok(())
        };
        TensorStats::of_blocks(whole).ok().flatten()
    }

    /// The same from a tensor read a block at a time, twice (the mean first, then the
    /// deviations from it, exactly as [`TensorStats::of`] on the whole): `visit` hands every
    /// block of values to its argument in order.
    pub fn of_blocks(
        visit: impl Fn(&mut dyn FnMut(&[f32])) -> Result<(), SourceError>,
    ) -> Result<Option<TensorStats>, SourceError> {
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        let (mut count, mut finite) = (0usize, true);
        visit(&mut |block| {
            for &v in block {
                finite &= v.is_finite();
                let v = f64::from(v);
                min = min.min(v);
                max = max.max(v);
                sum += v;
            }
            count += block.len();
        })?;
        if count == 0 || !finite {
            return Ok(None);
        }
        let mean = sum / count as f64;
        let mut squares = 0.0;
        // One running sum in element order: the same rounding whatever the blocks.
        visit(&mut |block| {
            for &v in block {
                squares += (f64::from(v) - mean).powi(2);
            }
        })?;
        Ok(Some(TensorStats {
            min,
            max,
            mean,
            std: (squares / count as f64).sqrt(),
            count,
        }))
    }

    /// The four statistics by name, in report order.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("min", self.min),
            ("max", self.max),
            ("mean", self.mean),
            ("std", self.std),
        ]
    }
}

/// How far apr's statistics may be from tmgt's, by how the tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Precision {
    /// Stored as float: |apr - tmgt| <= rel * max(|tmgt|, std), the std flooring the scale so
    /// a mean near zero is not held to an impossible relative bound.
    Float { rel: f64 },
    /// Quantized to `bits`-bit integers: mean and std within `k` * std; min and max within
    /// the larger of `k` * std and half a quantization step of the tensor's range,
    /// absmax / (2 * (2^(bits-1) - 1)): rounding to the nearest level legitimately moves an
    /// extreme value by up to half a step, which for 4 bits is several tenths of a std.
    Quantized { bits: u32, k: f64 },
}

impl Precision {
    /// The largest difference allowed for one statistic.
    pub fn allowed(&self, stat: &str, value: f64, s: &TensorStats) -> f64 {
        match *self {
            Precision::Float { rel } => rel * value.abs().max(s.std),
            Precision::Quantized { bits, k } => {
                let spread = k * s.std;
                if matches!(stat, "min" | "max") {
                    let levels = f64::from(2u32.pow(bits.clamp(2, 31) - 1) - 1);
                    spread.max(s.min.abs().max(s.max.abs()) / (2.0 * levels))
                } else {
                    spread
                }
            }
        }
    }
}

/// One statistic compared.
#[derive(Debug, Clone, Serialize)]
pub struct StatComparison {
    pub stat: &'static str,
    pub expected: f64,
    pub reported: f64,
    pub allowed: f64,
    pub ok: bool,
}

/// Compares apr's four statistics (in [`TensorStats::named`] order) with tmgt's.
pub fn compare(
    expected: &TensorStats,
    reported: [(&'static str, f64); 4],
    precision: Precision,
) -> Vec<StatComparison> {
    expected
        .named()
        .into_iter()
        .zip(reported)
        .map(|((stat, e), (_, r))| {
            let allowed = precision.allowed(stat, e, expected);
            StatComparison {
                stat,
                expected: e,
                reported: r,
                allowed,
                ok: r.is_finite() && (r - e).abs() <= allowed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_statistics() {
        let s = TensorStats::of(&[1.0, 2.0, 3.0, 4.0]).expect("finite");
        assert_eq!((s.min, s.max, s.mean, s.count), (1.0, 4.0, 2.5, 4));
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        assert!(TensorStats::of(&[]).is_none());
        assert!(TensorStats::of(&[1.0, f32::NAN]).is_none());
        assert_eq!(TensorStats::of(&[2.0; 5]).expect("finite").std, 0.0);
    }

    #[test]
    fn float_and_quantized_precision() {
        let e = TensorStats {
            min: -1.0,
            max: 1.0,
            mean: 0.0,
            std: 0.5,
            count: 10,
        };
        let float = Precision::Float { rel: 1e-4 };
        let exact = compare(&e, e.named(), float);
        assert!(exact.iter().all(|c| c.ok));
        // Mean 0: the scale falls back to the std, so 1e-5 off is within 1e-4 * 0.5.
        let near = compare(
            &e,
            [
                ("min", -1.00005),
                ("max", 1.0),
                ("mean", 1e-5),
                ("std", 0.5),
            ],
            float,
        );
        assert!(near.iter().all(|c| c.ok), "{near:?}");
        let off = compare(
            &e,
            [
                ("min", -1.001),
                ("max", 1.0),
                ("mean", 0.0),
                ("std", f64::NAN),
            ],
            float,
        );
        assert_eq!(failing(&off), ["min", "std"]);
        // 8 bits: half a step is 1/254 of the range, below 0.1 std: the std bound rules.
        let int8 = Precision::Quantized { bits: 8, k: 0.1 };
        let q8 = compare(
            &e,
            [("min", -1.04), ("max", 0.96), ("mean", 0.06), ("std", 0.5)],
            int8,
        );
        assert_eq!(failing(&q8), ["mean"]);
        // 4 bits: an extreme may move half a step, 1/14 of the range (0.071 here), not the mean.
        let int4 = Precision::Quantized { bits: 4, k: 0.1 };
        let q4 = compare(
            &e,
            [("min", -1.07), ("max", 1.08), ("mean", 0.04), ("std", 0.56)],
            int4,
        );
        assert_eq!(failing(&q4), ["max", "std"]);
        assert!((int4.allowed("max", 1.0, &e) - 1.0 / 14.0).abs() < 1e-12);
        assert!((int4.allowed("mean", 0.0, &e) - 0.05).abs() < 1e-12);
    }

    fn failing(rows: &[StatComparison]) -> Vec<&'static str> {
        rows.iter().filter(|c| !c.ok).map(|c| c.stat).collect()
    }
}
