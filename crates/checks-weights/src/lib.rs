//! Suite `weights`: every tensor of every file tmgt checks (each `.apr` level, apr's GGUF
//! export, the round trip, llama.cpp's native GGUFs, a ready-made file) held against the
//! source safetensors, read by tmgt's own readers. A departing tensor is classified before it
//! is reported (swapped, transposed, RoPE rows, scaled, offset, rows moved or changed, zeroed,
//! non-finite), so a wrong file names its cause: the tensor, the layer and the kind of damage.

pub mod bound;
pub mod classify;
pub mod file;
pub mod judge;
pub mod map;

mod apr_file;
mod gguf_export;
mod native;
mod roundtrip;
mod verdict;
