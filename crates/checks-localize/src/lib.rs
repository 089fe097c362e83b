//! The localize suite: where a divergence starts. apr traces the f32 `.apr` of a model whose
//! tokens diverge (`apr trace --save-tensor all`), and every stage of every layer is held
//! against HF's activations for the same ids, in forward order, so the first stage beyond
//! float noise names the part of the network at fault: the RoPE, the attention, a norm, the
//! MLP, the head.

pub mod layout;
pub mod metrics;
mod thresholds;
mod trace;

pub use thresholds::LocalizeThresholds;

mod localize;
mod localize_gguf;
