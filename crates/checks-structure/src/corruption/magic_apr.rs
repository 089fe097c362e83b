use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A `.apr` whose magic bytes are reversed (`\0RPA`; the header checksum recomputed so the
    /// magic is the only thing wrong) is rejected by `validate`, `inspect`, `tensors`, `debug`
    /// and `run`. The magic is the one promise a file makes about what it is; a reader that
    /// ignores it parses anything as a model.
    ///
    /// apr 0.72.3 rejects it in every command.
    pub MagicApr {
        code: "COR002",
        name: "apr-bad-magic-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects a .apr whose magic bytes are wrong",
    }
}

impl Check for MagicApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::Magic)
    }
}
