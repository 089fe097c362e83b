//! Which storage type apr should give a tensor at a quantization level.
//!
//! apr names one type differently per command (`apr tensors`: `q8`, `q4_k`; `apr hex`:
//! `AprQ8`, `Q4K`; `apr diff`: `APR_Q8`), so names are compared after [`normalize`].

use tmgt_check::Quant;

/// Tensors below this many elements are never quantized (apr-cli.md §5.3, and what
/// `apr tensors` shows on imported models).
pub const QUANTIZE_MIN_ELEMENTS: usize = 1024;

/// `q8` for `q8`, `AprQ8`, `APR_Q8`; `q4k` for `q4_k`, `Q4K`; `f32` for `F32`.
pub fn normalize(dtype: &str) -> String {
    let lower = dtype.to_ascii_lowercase().replace('_', "");
    match lower.strip_prefix("apr") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => lower,
    }
}

/// Whether a tensor of this shape is one the level quantizes: a matrix (2-D or more) of at
/// least [`QUANTIZE_MIN_ELEMENTS`] elements. Norms, biases and small tensors stay float.
pub fn is_quantizable(shape: &[u64]) -> bool {
    shape.len() >= 2 && shape.iter().product::<u64>() >= QUANTIZE_MIN_ELEMENTS as u64
}

/// The normalized dtypes apr may store a tensor of this shape in at `quant`.
///
/// * f32: everything `f32`.
/// * int8 / int4 / q4k: matrices `q8` / `q4` / `q4k`, the rest `f32`.
/// * fp16: matrices `f16`; the rest `f16` or `f32` (apr 0.72.3 halves norms and biases too,
///   which is still a faithful half-precision model).
pub fn allowed(quant: Quant, shape: &[u64]) -> &'static [&'static str] {
    let big = is_quantizable(shape);
    match (quant, big) {
        (Quant::F32, _) => &["f32"],
        (Quant::Fp16, true) => &["f16"],
        (Quant::Fp16, false) => &["f16", "f32"],
        (Quant::Int8, true) => &["q8"],
        (Quant::Int4, true) => &["q4"],
        (Quant::Q4k, true) => &["q4k"],
        (Quant::Int8 | Quant::Int4 | Quant::Q4k, false) => &["f32"],
    }
}

/// The bits per weight of an integer quantization level (`None` for float levels).
pub fn quant_bits(quant: Quant) -> Option<u32> {
    match quant {
        Quant::F32 | Quant::Fp16 => None,
        Quant::Int8 => Some(8),
        Quant::Int4 | Quant::Q4k => Some(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_across_commands() {
        for (raw, n) in [
            ("q8", "q8"),
            ("AprQ8", "q8"),
            ("APR_Q4", "q4"),
            ("q4_k", "q4k"),
            ("Q4K", "q4k"),
            ("F32", "f32"),
            ("f16", "f16"),
            ("apr", "apr"),
        ] {
            assert_eq!(normalize(raw), n, "{raw}");
        }
    }

    #[test]
    fn level_rules() {
        let matrix = [32u64, 64];
        let small = [16u64, 32];
        let norm = [4096u64];
        assert_eq!(allowed(Quant::F32, &matrix), ["f32"]);
        assert_eq!(allowed(Quant::Int8, &matrix), ["q8"]);
        assert_eq!(allowed(Quant::Int8, &small), ["f32"]);
        assert_eq!(allowed(Quant::Int4, &norm), ["f32"]);
        assert_eq!(allowed(Quant::Int4, &matrix), ["q4"]);
        assert_eq!(allowed(Quant::Q4k, &matrix), ["q4k"]);
        assert_eq!(allowed(Quant::Fp16, &norm), ["f16", "f32"]);
        assert!(
            is_quantizable(&[1024, 1]) && !is_quantizable(&[1023, 1]) && !is_quantizable(&[2048])
        );
        assert_eq!(
            (
                quant_bits(Quant::Int8),
                quant_bits(Quant::Q4k),
                quant_bits(Quant::Fp16)
            ),
            (Some(8), Some(4), None)
        );
    }
}
