use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF with its magic reversed (`FUGG`) is rejected by `validate`, `inspect`,
    /// `tensors`, `debug` and `run`. The magic is the one promise a file makes about what it
    /// is; a reader that ignores it parses anything as a model.
    ///
    /// apr 0.72.3 rejects it in every command.
    pub MagicGguf {
        code: "COR102",
        name: "gguf-bad-magic-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects a GGUF whose magic bytes are wrong",
    }
}

impl Check for MagicGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::Magic)
    }
}
