use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A `.apr` whose largest tensor's dtype code is one APR does not define (200) is refused
    /// by `validate` and `run` with an error that names the code, and `inspect`, `tensors` and
    /// `debug` do not crash on it. A reader that guesses a layout for a code it does not know
    /// runs garbage; one that refuses without the code leaves the user guessing.
    pub UnknownTypeApr {
        code: "COR008",
        name: "apr-unknown-tensor-type-not-refused",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr refuses a .apr tensor of an undefined dtype code, naming the code",
    }
}

impl Check for UnknownTypeApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::UnknownType)
    }
}
