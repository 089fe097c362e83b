//! What is wrong with a tensor that departs from its source: the explanations converters'
//! real bugs take, tried from the most specific to the least, so a report names the damage
//! instead of a distance.

use crate::bound::Bounds;
use crate::map::{Transform, rope_rows, transpose};
use serde::Serialize;
use std::fmt;

/// Rows searched for a moved row; more departing rows than this is not a permutation.
const MAX_ROWS_SEARCHED: usize = 64;
/// Rows listed in a message.
const LISTED: usize = 8;

/// Why a tensor departs from its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Departure {
    NonFinite {
        nan: usize,
        inf: usize,
        first: usize,
    },
    Zeroed,
    /// The source's rows without llama.cpp's RoPE permutation.
    RopeMissing,
    /// The permutation applied twice.
    RopeTwice,
    Transposed,
    Scaled {
        factor: f64,
    },
    Offset {
        by: f64,
    },
    /// Holds another source tensor's values; `swapped` when that tensor holds this one's.
    EqualsOther {
        other: String,
        swapped: bool,
    },
    /// Rows at `rows[i].0` hold the source's rows `rows[i].1`.
    RowsPermuted {
        rows: Vec<(usize, usize)>,
    },
    /// These rows (values of a 1-D tensor) differ; the others agree.
    RowsChanged {
        rows: Vec<usize>,
        of: usize,
    },
    Unexplained {
        rel_l2: f64,
        departing: usize,
        worst: usize,
        got: f32,
        want: f32,
    },
}

impl Departure {
    /// A stable label for grouping.
    pub fn label(&self) -> &'static str {
        match self {
            Departure::NonFinite { .. } => "non-finite",
            Departure::Zeroed => "zeroed",
            Departure::RopeMissing => "rope-permutation-missing",
            Departure::RopeTwice => "rope-permutation-twice",
            Departure::Transposed => "transposed",
            Departure::Scaled { .. } => "scaled",
            Departure::Offset { .. } => "offset",
            Departure::EqualsOther { .. } => "equals-other",
            Departure::RowsPermuted { .. } => "rows-permuted",
            Departure::RowsChanged { .. } => "rows-changed",
            Departure::Unexplained { .. } => "unexplained",
        }
    }
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Departure::NonFinite { nan, inf, first } => {
                write!(
                    f,
                    "{nan} NaN and {inf} infinite values, the first at {first}"
                )
            }
            Departure::Zeroed => f.write_str("zeroed"),
            Departure::RopeMissing => {
                f.write_str("equals the source without llama.cpp's RoPE row permutation")
            }
            Departure::RopeTwice => {
                f.write_str("has llama.cpp's RoPE row permutation applied twice")
            }
            Departure::Transposed => f.write_str("equals the source transposed"),
            Departure::Scaled { factor } => write!(f, "equals the source scaled by {factor:.6}"),
            Departure::Offset { by } => write!(f, "equals the source plus {by:.6}"),
            Departure::EqualsOther { other, swapped } => {
                if *swapped {
                    write!(f, "is swapped with {other}")
                } else {
                    write!(f, "holds {other}'s values")
                }
            }
            Departure::RowsPermuted { rows } => {
                let pairs: Vec<String> = rows
                    .iter()
                    .map(|(at, from)| format!("{at}<-{from}"))
                    .collect();
                write!(
                    f,
                    "has {} rows permuted ({})",
                    rows.len(),
                    tmgt_check::first_few(&pairs, LISTED, ", ")
                )
            }
            Departure::RowsChanged { rows, of } => write!(
                f,
                "has {} of {of} rows changed ({})",
                rows.len(),
                tmgt_check::first_few(rows, LISTED, ", ")
            ),
            Departure::Unexplained {
                rel_l2,
                departing,
                worst,
                got,
                want,
            } => write!(
                f,
                "departs unexplained: {departing} values outside the bound, relative L2 \
                 {rel_l2:.3e}, worst at {worst} ({got} for {want})"
            ),
        }
    }
}

/// One tensor's values and the expectation it departs from.
#[derive(Debug)]
pub struct Case<'a> {
    pub want: &'a [f32],
    pub got: &'a [f32],
    /// The expected numpy shape.
    pub shape: &'a [usize],
    pub bounds: &'a Bounds,
    pub transform: Transform,
    /// The source tensor before `transform`.
    pub source: &'a [f32],
}

impl Case<'_> {
    /// Whether every value agrees within its bound (and the shapes match).
    pub fn agrees(&self) -> bool {
        self.got.len() == self.want.len()
            && self
                .got
                .iter()
                .zip(self.want)
                .enumerate()
                .all(|(i, (&g, &w))| self.bounds.holds(i, w, g))
    }

    /// The explanation of a departure. `others` is asked, after the explanations that need
    /// only this tensor, whether the values are another source tensor's.
    pub fn classify(&self, others: &mut dyn FnMut() -> Option<Departure>) -> Departure {
        let tol = self.bounds.largest(self.want);
        let (nan, inf) = self.got.iter().fold((0, 0), |(n, i), v| {
            (
                n + usize::from(v.is_nan()),
                i + usize::from(v.is_infinite()),
            )
        });
        if nan + inf > 0 {
            let first = self.got.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Departure::NonFinite { nan, inf, first };
        }
        if self.got.len() == self.want.len() {
            if self.got.iter().all(|&v| v == 0.0) {
                return Departure::Zeroed;
            }
            if let Transform::RopeRows { heads } = self.transform {
                if close_all(self.got, self.source, tol) {
                    return Departure::RopeMissing;
                }
                let twice = rope_rows(self.want, self.shape, heads, false);
                if close_all(self.got, &twice, tol) {
                    return Departure::RopeTwice;
                }
            }
            if self.shape.len() == 2 && close_all(self.got, &transpose(self.want, self.shape), tol)
            {
                return Departure::Transposed;
            }
            if let Some(d) = self.scaled_or_offset(tol) {
                return d;
            }
        }
        if let Some(d) = others() {
            return d;
        }
        if self.got.len() == self.want.len()
            && let Some(d) = self.rows()
        {
            return d;
        }
        self.unexplained()
    }

    fn scaled_or_offset(&self, tol: f32) -> Option<Departure> {
        let (dot, norm) =
            self.got
                .iter()
                .zip(self.want)
                .fold((0.0f64, 0.0f64), |(d, n), (&g, &w)| {
                    (
                        d + f64::from(g) * f64::from(w),
                        n + f64::from(w) * f64::from(w),
                    )
                });
        if norm > 0.0 {
            let factor = dot / norm;
            let fits = self.got.iter().zip(self.want).all(|(&g, &w)| {
                close(g, (factor * f64::from(w)) as f32, tol * factor.abs() as f32)
            });
            if fits && (factor - 1.0).abs() > 1e-6 {
                return Some(Departure::Scaled { factor });
            }
        }
        let n = self.got.len().max(1) as f64;
        let by = self
            .got
            .iter()
            .zip(self.want)
            .map(|(&g, &w)| f64::from(g) - f64::from(w))
            .sum::<f64>()
            / n;
        let fits = self
            .got
            .iter()
            .zip(self.want)
            .all(|(&g, &w)| close(g, (f64::from(w) + by) as f32, tol));
        (fits && by.abs() > f64::from(tol)).then_some(Departure::Offset { by })
    }

    /// Rows that moved or changed while the others agree.
    fn rows(&self) -> Option<Departure> {
        let rows = *self.shape.first()?;
        let width = self.want.len() / rows.max(1);
        if rows == 0 || width == 0 {
            return None;
        }
        let departing: Vec<usize> = (0..rows)
            .filter(|&r| {
                (r * width..(r + 1) * width)
                    .any(|i| !self.bounds.holds(i, self.want[i], self.got[i]))
            })
            .collect();
        if departing.len() * 2 > rows {
            return None;
        }
        let tol = self.bounds.largest(self.want);
        if departing.len() <= MAX_ROWS_SEARCHED {
            let sums: Vec<f64> = (0..rows)
                .map(|r| {
                    self.want[r * width..(r + 1) * width]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum()
                })
                .collect();
            let moved: Option<Vec<(usize, usize)>> = departing
                .iter()
                .map(|&r| {
                    let got = &self.got[r * width..(r + 1) * width];
                    let sum: f64 = got.iter().map(|&v| f64::from(v)).sum();
                    let slack = f64::from(tol) * width as f64 + 1e-5 * sum.abs().max(1.0);
                    (0..rows)
                        .filter(|&j| j != r && (sums[j] - sum).abs() <= slack)
                        .find(|&j| close_all(got, &self.want[j * width..(j + 1) * width], tol))
                        .map(|j| (r, j))
                })
                .collect();
            if let Some(rows) = moved {
                return Some(Departure::RowsPermuted { rows });
            }
        }
        (departing.len() * 4 <= rows).then_some(Departure::RowsChanged {
            rows: departing,
            of: rows,
        })
    }

    fn unexplained(&self) -> Departure {
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        let (mut worst, mut worst_by, mut departing) = (0, -1.0f32, 0);
        for (i, (&g, &w)) in self.got.iter().zip(self.want).enumerate() {
            let d = g - w;
            diff += f64::from(d) * f64::from(d);
            norm += f64::from(w) * f64::from(w);
            if !self.bounds.holds(i, w, g) {
                departing += 1;
            }
            if d.abs() > worst_by {
                (worst, worst_by) = (i, d.abs());
            }
        }
        Departure::Unexplained {
            rel_l2: (diff / norm.max(f64::MIN_POSITIVE)).sqrt(),
            departing: departing + self.got.len().abs_diff(self.want.len()),
            worst,
            got: self.got.get(worst).copied().unwrap_or(f32::NAN),
            want: self.want.get(worst).copied().unwrap_or(f32::NAN),
        }
    }
}

/// Equal within `tol`, plus a few ulps for arithmetic done by whoever made the values.
pub fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol + 4.0 * f32::EPSILON * a.abs().max(b.abs())
}

pub fn close_all(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| close(x, y, tol))
}
