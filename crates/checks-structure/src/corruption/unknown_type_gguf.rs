use super::{Family, check_family};
use crate::layout::Format;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A GGUF whose largest tensor's type id is one ggml does not define (250) is refused by
    /// `validate` and `run` with an error that names the id, and `inspect`, `tensors` and
    /// `debug` do not crash on it: what a file from a newer llama.cpp, with a type this apr has
    /// never seen, must meet. Run on apr's own GGUF export and on every quantization rung.
    pub UnknownTypeGguf {
        code: "COR108",
        name: "gguf-unknown-tensor-type-not-refused",
        suite: "corruption",
        scope: Scope::Model,
        summary: "apr refuses a GGUF tensor of an undefined ggml type id, naming the id",
    }
}

impl Check for UnknownTypeGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        check_family(cx, Format::Gguf, Family::UnknownType)
    }
}
