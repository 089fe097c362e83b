//! How apr orders the columns of a stage against HF's, written once.
//!
//! RoPE rotates pairs of a head's dimensions. HF's LLaMA and Qwen2 pair dimension `i` with
//! `i + d/2` (halves, `rotate_half`); GGUF's LLaMA convention permutes Q and K rows so pairs
//! are adjacent, `2i` with `2i + 1` (interleaved). A converter that keeps one order and a
//! runtime that rotates the other is exactly the fault to find, so tmgt compares Q and K in the
//! order their projection (`qkv_matmul`) matches best and keeps that order for the rotated
//! stages: a projection that matches in one order and a rotation that matches in neither is a
//! RoPE fault.

/// The order of the dimensions within each head of Q and K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadOrder {
    /// HF's order: pairs `(i, i + d/2)`.
    Halves,
    /// Adjacent pairs `(2i, 2i + 1)`: HF dimension `i < d/2` at `2i`, `i + d/2` at `2i + 1`.
    Interleaved,
}

impl HeadOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            HeadOrder::Halves => "halves",
            HeadOrder::Interleaved => "interleaved",
        }
    }

    /// apr's position, within one head of `head_dim`, of HF dimension `i`.
    #[must_use]
    pub fn apr_dim(self, head_dim: usize, i: usize) -> usize {
        let half = head_dim / 2;
        match self {
            HeadOrder::Halves => i,
            HeadOrder::Interleaved if i < half => 2 * i,
            HeadOrder::Interleaved => 2 * (i - half) + 1,
        }
    }
}

/// The widths that decide a stage's column order.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// apr's column, in a row of `stage`, of HF's column `col`.
#[must_use]
pub fn apr_column(stage: &str, shape: Shape, order: HeadOrder, col: usize) -> usize {
    let d = shape.head_dim;
    let in_heads = |c: usize| (c / d) * d + order.apr_dim(d, c % d);
    match stage {
        "q_post_rope" | "k_post_rope" => in_heads(col),
        "qkv_matmul" | "qkv_bias" => {
            let q = shape.heads * d;
            let k = shape.kv_heads * d;
            if col < q {
                in_heads(col)
            } else if col < q + k {
                q + in_heads(col - q)
            } else {
                col
            }
        }
        _ => col,
    }
}

/// Whether a stage's columns depend on the head order.
#[must_use]
pub fn ordered(stage: &str) -> bool {
    matches!(
        stage,
        "q_post_rope" | "k_post_rope" | "qkv_matmul" | "qkv_bias"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        heads: 2,
        kv_heads: 1,
        head_dim: 4,
    };

    #[test]
    fn interleaving_pairs_each_dimension_with_its_rotation_partner() {
        // HF pairs (0,2) and (1,3) in a head of 4; interleaved puts each pair side by side.
        let o = HeadOrder::Interleaved;
        assert_eq!(
            (0..4).map(|i| o.apr_dim(4, i)).collect::<Vec<_>>(),
            [0, 2, 1, 3]
        );
        let o = HeadOrder::Interleaved;
        assert_eq!(
            (0..8).map(|i| o.apr_dim(8, i)).collect::<Vec<_>>(),
            [0, 2, 4, 6, 1, 3, 5, 7]
        );
        assert_eq!(HeadOrder::Halves.apr_dim(8, 5), 5);
    }

    #[test]
    fn fused_qkv_permutes_q_and_k_heads_and_leaves_v() {
        let o = HeadOrder::Interleaved;
        let map: Vec<usize> = (0..16)
            .map(|c| apr_column("qkv_matmul", SHAPE, o, c))
            .collect();
        // Q: two heads of 4; K: one head of 4 at 8; V: 12..16 untouched.
        assert_eq!(map, [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 13, 14, 15]);
        assert_eq!(apr_column("attn_norm", SHAPE, o, 5), 5);
        assert_eq!(apr_column("k_post_rope", SHAPE, o, 1), 2);
    }

    #[test]
    fn every_order_is_a_permutation() {
        for order in [HeadOrder::Halves, HeadOrder::Interleaved] {
            let mut seen: Vec<usize> = (0..16)
                .map(|c| apr_column("qkv_bias", SHAPE, order, c))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..16).collect::<Vec<_>>());
        }
    }
}
