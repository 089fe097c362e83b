use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr's GGUF whose header states a wrong key/value count is rejected by `validate`,
    /// `inspect`, `tensors`, `debug` and `run`: `kv_count` set to 2^40 (more keys than the file
    /// could hold) and to one more than there are (the reader walks into the tensor infos). A
    /// count read without a bounds check is how a reader allocates without limit or misreads
    /// every field after it.
    ///
    /// apr 0.72.3 `run` aborts on one key too many (SIGABRT: "memory allocation of
    /// 576460752303423488 bytes failed"); every other case is rejected.
    pub HeaderLengthGguf {
        code: "COR103",
        name: "gguf-wrong-header-length-accepted",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr rejects a GGUF whose header states a wrong key/value count",
    }
}

impl Check for HeaderLengthGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::HeaderLength)
    }
}
