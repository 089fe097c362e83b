use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A `.apr` cut short is rejected by `validate`, `inspect`, `tensors`, `debug` and `run`: the
    /// copies end inside the fixed header, the JSON metadata, the tensor index, the tensor data,
    /// and one byte short of the last tensor's end (positions read from the file's own header).
    /// A reader that accepts a file whose tensors run past its end reports, or computes with,
    /// data that is not there.
    ///
    /// apr 0.72.3 `inspect` and `debug` read a copy cut inside the tensor data, or one byte
    /// short, as if it were whole (exit 0); `validate`, `tensors` and `run` reject all five.
    pub TruncatedApr {
        code: "COR001",
        name: "truncated-apr-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects a .apr cut short inside each of its sections",
    }
}

impl Check for TruncatedApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::Truncated)
    }
}
