use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// An empty file named `.gguf` is rejected by `validate`, `inspect`, `tensors`, `debug` and
    /// `run`: a non-zero exit and an error on stderr, not a panic, not a silent success. An
    /// interrupted download or a full disk leaves exactly this behind.
    ///
    /// apr 0.72.3 rejects it in every command.
    pub EmptyGguf {
        code: "COR105",
        name: "empty-gguf-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects an empty .gguf file",
    }
}

impl Check for EmptyGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::Empty)
    }
}
