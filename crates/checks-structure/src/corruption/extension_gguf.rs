use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's intact GGUF named `.apr` is rejected by `validate`, `inspect`, `tensors`, `debug` and
    /// `run`, as tmgt issue #6 asks: a file whose name and content disagree is ambiguous, and
    /// apr's commands must not each resolve the ambiguity their own way.
    ///
    /// apr 0.72.3 reads it in all five commands (exit 0): they go by the magic.
    pub WrongExtensionGguf {
        code: "COR106",
        name: "gguf-wrong-extension-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects an intact GGUF named .apr",
    }
}

impl Check for WrongExtensionGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::WrongExtension)
    }
}
