use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF cut short is rejected by `validate`, `inspect`, `tensors`, `debug` and `run`:
    /// the copies end inside the 24-byte header, the key/value section, the tensor infos, the
    /// tensor data, and one byte short of the last tensor's end (positions read from the file's
    /// own header). A reader that accepts a file whose tensors run past its end reports, or
    /// computes with, data that is not there.
    ///
    /// apr 0.72.3 rejects all five in every command.
    pub TruncatedGguf {
        code: "COR101",
        name: "truncated-gguf-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects a GGUF cut short inside each of its sections",
    }
}

impl Check for TruncatedGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::Truncated)
    }
}
