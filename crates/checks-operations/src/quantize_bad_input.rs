use crate::bad_input::judge;
use apr_client::{Invocation, Quantize};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr quantize` refuses a missing input, an empty file, garbage bytes, a model cut in half and
    /// an output in a folder that does not exist: a non-zero exit with a message, never a
    /// panic or a signal, and nothing left at the output path.
    pub QuantizeBadInput {
        code: "QNT004",
        name: "quantize-mishandles-bad-input",
        suite: "quantize",
        scope: Scope::Model,
        summary: "apr quantize refuses bad input cleanly",
    }
}

impl Check for QuantizeBadInput {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge(cx, "quantize", |input, out| {
            Invocation::quantize(input, Quantize::Int8, out)
        })
    }
}
