use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A `.apr` with one byte of its 64-byte header flipped is rejected by `validate`, `inspect`,
    /// `tensors`, `debug` and `run`: one copy per header field (version, flags, tensor count,
    /// metadata offset and size, index offset, data offset, checksum, reserved), the byte and
    /// its XOR mask drawn from a fixed seed. The APR v2 header carries a CRC-32 of itself, so
    /// every such flip is detectable.
    ///
    /// apr 0.72.3 `inspect` never checks the CRC: it reads every flip that leaves the offsets
    /// usable (version, flags, tensor count, metadata offset, index offset, checksum,
    /// reserved); `run` reads flipped version, tensor count, checksum and reserved bytes (exit
    /// 0); `validate`, `tensors` and `debug` reject all nine.
    pub HeaderFlipApr {
        code: "COR004",
        name: "apr-header-flip-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects a .apr with a flipped byte in its header",
    }
}

impl Check for HeaderFlipApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::HeaderFlip)
    }
}
