//! How far one stage of apr's trace is from HF's: over the elements the stage oracle keeps,
//! the relative L2 error, the largest absolute error and the cosine similarity; over every
//! row, the relative error of its L2 norm (which sees the elements the oracle does not keep).

use tmgt_oracle::{OracleStage, sample_indices};

/// One stage's distance from HF.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageError {
    /// ‖apr − HF‖ / ‖HF‖ over the kept elements.
    pub rel_l2: f64,
    pub max_abs: f64,
    pub cosine: f64,
    /// The largest relative error of a full row's norm.
    pub norm_rel: f64,
    /// Elements compared.
    pub elements: usize,
    /// apr wrote a NaN or an infinity.
    pub non_finite: bool,
}

impl StageError {
    /// The error that decides a departure: the worse of the two relative errors.
    #[must_use]
    pub fn worst(&self) -> f64 {
        if self.non_finite {
            f64::INFINITY
        } else {
            self.rel_l2.max(self.norm_rel)
        }
    }

    #[must_use]
    pub fn departs(&self, tolerance: f64) -> bool {
        let worst = self.worst();
        worst.is_nan() || worst > tolerance
    }
}

/// Compares apr's rows of a stage (`rows × row_len`, apr's column order) with the oracle's;
/// `apr_column` maps an HF column to apr's.
///
/// The caller has checked that `apr.len() == stage.rows() * stage.row_len`.
#[must_use]
pub fn compare(
    apr: &[f32],
    stage: &OracleStage,
    row_cap: usize,
    apr_column: impl Fn(usize) -> usize,
) -> StageError {
    let keep = sample_indices(stage.row_len, row_cap);
    let (mut diff2, mut hf2, mut apr2, mut dot, mut max_abs) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut norm_rel = 0f64;
    let mut non_finite = false;
    for (r, hf_norm) in stage.norms.iter().enumerate() {
        let row = &apr[r * stage.row_len..(r + 1) * stage.row_len];
        non_finite |= row.iter().any(|v| !v.is_finite());
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        norm_rel = norm_rel
            .max((norm - f64::from(*hf_norm)).abs() / f64::from(*hf_norm).max(f64::MIN_POSITIVE));
        for (j, &col) in keep.iter().enumerate() {
            let a = f64::from(row[apr_column(col)]);
            let h = f64::from(stage.values[r * keep.len() + j]);
            diff2 += (a - h) * (a - h);
            hf2 += h * h;
            apr2 += a * a;
            dot += a * h;
            max_abs = max_abs.max((a - h).abs());
        }
    }
    let rel_l2 = if hf2 > 0.0 {
        (diff2 / hf2).sqrt()
    } else if diff2 > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let cosine = if hf2 > 0.0 && apr2 > 0.0 {
        dot / (hf2.sqrt() * apr2.sqrt())
    } else if hf2 == apr2 {
        1.0
    } else {
        0.0
    };
    StageError {
        rel_l2,
        max_abs,
        cosine,
        norm_rel,
        elements: stage.rows() * keep.len(),
        non_finite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(rows: &[&[f32]], cap: usize) -> OracleStage {
        let len = rows[0].len();
        let keep = sample_indices(len, cap);
        OracleStage {
            key: "layer-0/attn_norm".into(),
            layer: Some(0),
            stage: "attn_norm".into(),
            row_len: len,
            values: rows
                .iter()
                .flat_map(|r| keep.iter().map(|&i| r[i]))
                .collect(),
            norms: rows
                .iter()
                .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
                .collect(),
        }
    }

    #[test]
    fn identical_rows_have_no_error() {
        let s = stage(&[&[1.0, -2.0, 3.0, 0.5]], 64);
        let e = compare(&[1.0, -2.0, 3.0, 0.5], &s, 64, |c| c);
        assert_eq!((e.rel_l2, e.max_abs, e.elements), (0.0, 0.0, 4));
        assert!((e.cosine - 1.0).abs() < 1e-12 && e.norm_rel < 1e-7);
        assert!(!e.departs(1e-3));
    }

    #[test]
    fn a_scaled_row_departs_with_cosine_one_and_a_swapped_pair_with_the_norm_kept() {
        let s = stage(&[&[1.0, 2.0, 3.0, 4.0]], 64);
        let scaled = compare(&[2.0, 4.0, 6.0, 8.0], &s, 64, |c| c);
        assert!((scaled.rel_l2 - 1.0).abs() < 1e-9 && (scaled.cosine - 1.0).abs() < 1e-9);
        assert!(scaled.departs(1e-3));
        let swapped = compare(&[2.0, 1.0, 3.0, 4.0], &s, 64, |c| c);
        assert!(swapped.departs(1e-3) && swapped.norm_rel < 1e-7);
        // The same swap read through the column map that undoes it agrees.
        let mapped = compare(&[2.0, 1.0, 3.0, 4.0], &s, 64, |c| [1, 0, 2, 3][c]);
        assert!(!mapped.departs(1e-3));
    }

    #[test]
    fn the_norm_sees_elements_the_samples_skip_and_nan_always_departs() {
        // A cap of 2 keeps columns 0 and 2; column 3 differs, only the norm sees it.
        let s = stage(&[&[1.0, 1.0, 1.0, 1.0]], 2);
        let e = compare(&[1.0, 1.0, 1.0, 5.0], &s, 2, |c| c);
        assert_eq!((e.rel_l2, e.elements), (0.0, 2));
        assert!(e.departs(1e-3));
        let nan = compare(&[1.0, f32::NAN, 1.0, 1.0], &s, 2, |c| c);
        assert!(nan.non_finite && nan.departs(1e9));
    }
}
