use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF with one byte of its fixed header flipped is rejected by `validate`,
    /// `inspect`, `tensors`, `debug` and `run`: one copy per header field (version, tensor
    /// count, key/value count), the byte and its XOR mask drawn from a fixed seed. GGUF has no
    /// checksum, so the damage must be caught by bounds checks; a crash or an allocation of
    /// the garbage count is the failure this guards against.
    ///
    /// apr 0.72.3: a flipped version byte (3 becomes 738197507) passes `validate`, `inspect`,
    /// `tensors` and `debug` (only `run` checks the version); a flipped tensor count makes
    /// `run` read tensor entries out of the metadata and allocate without bound: SIGABRT on
    /// tiny-llama's GGUF, a capacity-overflow panic on tiny-qwen2's.
    pub HeaderFlipGguf {
        code: "COR104",
        name: "gguf-header-flip-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects a GGUF with a flipped byte in its header",
    }
}

impl Check for HeaderFlipGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::HeaderFlip)
    }
}
