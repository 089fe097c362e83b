use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A `.apr` whose header states a wrong metadata length is rejected by `validate`, `inspect`,
    /// `tensors`, `debug` and `run`: `metadata_size` set past the end of the file, and halved
    /// (the JSON metadata cut mid-document), each with the header checksum recomputed so the
    /// length is the only thing wrong. A length read without a bounds check is how a reader
    /// runs off the end of its buffer.
    ///
    /// apr 0.72.3 `inspect` reads the copy with the halved length (exit 0); every other case is
    /// rejected.
    pub HeaderLengthApr {
        code: "COR003",
        name: "apr-wrong-header-length-accepted",
        suite: "corruption",
        scope: Scope::ModelQuant,
        summary: "apr rejects a .apr whose header states a wrong metadata length",
    }
}

impl Check for HeaderLengthApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Apr, Family::HeaderLength)
    }
}
