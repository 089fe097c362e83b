//! What is wrong with a tensor that departs from its source: the explanations converters'
//! real bugs take. `judge` tries them from the most specific to the least, so a report names
//! the damage instead of a distance.

use serde::Serialize;
use std::fmt;

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
    /// Gemma's norm weights as HF stores them, without the `1 + w` llama.cpp's layout holds.
    NormShiftMissing,
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
            Departure::NormShiftMissing => "norm-shift-missing",
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
            Departure::NormShiftMissing => f.write_str(
                "equals the source without the 1 + w that llama.cpp's layout stores for Gemma's norms",
            ),
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

/// Equal within `tol`, plus a few ulps for arithmetic done by whoever made the values.
pub fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol + 4.0 * f32::EPSILON * a.abs().max(b.abs())
}

pub fn close_all(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| close(x, y, tol))
}
