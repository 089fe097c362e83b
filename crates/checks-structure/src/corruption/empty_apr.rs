use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// An empty file named `.apr` is rejected by `validate`, `inspect`, `tensors`, `debug` and
    /// `run`: a non-zero exit and an error on stderr, not a panic, not a silent success. An
    /// interrupted download or a full disk leaves exactly this behind.
    ///
    /// apr 0.72.3 rejects it in every command.
    pub EmptyApr {
        code: "COR005",
        name: "empty-apr-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects an empty .apr file",
    }
}

impl Check for EmptyApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::Empty)
    }
}
