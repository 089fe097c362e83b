use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF whose largest float32 tensor is overwritten with NaN (and, in a second copy,
    /// with +Inf) is refused by `validate` with the non-finite values counted in its document
    /// (its content check), while `inspect`, `tensors`, `debug` and `run` may read or even run
    /// it but must not panic, crash or hang. NaN weights make every logit NaN: a validator
    /// that passes them ships a model that cannot answer.
    ///
    /// apr 0.72.3 `validate` exits 5 and counts the values; nothing crashes.
    pub NonFiniteGguf {
        code: "COR107",
        name: "gguf-non-finite-tensor-unflagged",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr validate flags NaN/Inf tensor data in a GGUF and nothing crashes on it",
    }
}

impl Check for NonFiniteGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::NonFinite)
    }
}
