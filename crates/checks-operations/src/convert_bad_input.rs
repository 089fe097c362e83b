use crate::bad_input::judge;
use apr_client::Invocation;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr convert` refuses a missing input, an empty file, garbage bytes, a model cut in half and
    /// an output in a folder that does not exist: a non-zero exit with a message, never a
    /// panic or a signal, and nothing left at the output path.
    pub ConvertBadInput {
        code: "CNV003",
        name: "convert-mishandles-bad-input",
        suite: "convert",
        scope: Scope::Model,
        summary: "apr convert refuses bad input cleanly",
    }
}

impl Check for ConvertBadInput {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge(cx, "convert", |input, out| {
            Invocation::convert_compressed(input, "zstd", out)
        })
    }
}
