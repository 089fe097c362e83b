use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// An intact `.apr` named `.gguf` is rejected by `validate`, `inspect`, `tensors`, `debug` and
    /// `run`, as tmgt issue #6 asks: a file whose name and content disagree is ambiguous, and
    /// apr's commands must not each resolve the ambiguity their own way.
    ///
    /// apr 0.72.3 `validate`, `inspect`, `tensors` and `debug` go by the magic and read it
    /// (exit 0); `run` fails it with a misleading "no tokenizer in APR metadata" (exit 8).
    pub WrongExtensionApr {
        code: "COR006",
        name: "apr-wrong-extension-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects an intact .apr named .gguf",
    }
}

impl Check for WrongExtensionApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::WrongExtension)
    }
}
