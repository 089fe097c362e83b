//! Suite `sampling`: `apr run`'s sampler, which every other suite bypasses with greedy
//! decoding. Exact checks first: at its limits (top-k 1, a top-p that keeps one token, a
//! temperature near 0) it must decode greedily; a seed must reproduce its draw and another seed
//! must not; every token drawn must lie in the top-k and the nucleus HF's warpers give apr's own
//! reported logits; and its repetition penalty must give HF's penalized greedy continuation
//! (`<oracle>/sampling/penalty-<P>/`, made by `tmgt oracle`). All run on llama.cpp's own F32
//! GGUF, whose tokenizer apr reads right, so a departure is the sampler's. apr's two other
//! sampling surfaces, `apr chat` and `apr run --batch-jsonl`, are held to the same limits and
//! seeds on the conversations of the model's first chat template.

mod batch_seeds;
mod calibration;
mod degenerate;
mod draw;
mod penalty;
mod seeds;
mod support;
mod surface_limits;
mod surfaces;
mod warp;
