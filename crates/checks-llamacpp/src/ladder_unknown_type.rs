use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// A copy of a quantization rung whose largest tensor's type id is one ggml does not
    /// define (250) is refused by `apr validate` and `apr run` with an error naming the id,
    /// and `inspect`, `tensors` and `debug` do not crash on it: a type apr does not know must
    /// never run as garbage, whatever the file's other types are. The corruption suite's
    /// `gguf-unknown-tensor-type-not-refused` judges apr's own GGUF export the same way.
    pub LadderUnknownType {
        code: "LAD003",
        name: "rung-unknown-type-not-refused",
        suite: "ladder",
        scope: Scope::Model,
        summary: "apr refuses a rung whose tensor has an undefined ggml type id, naming the id",
    }
}

impl Check for LadderUnknownType {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::ladder::rung_of(cx)?;
        checks_structure::unknown_type_gguf(cx)
    }
}
