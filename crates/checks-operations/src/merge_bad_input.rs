use crate::bad_input::judge;
use apr_client::Invocation;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr merge` refuses a missing input, an empty file, garbage bytes, a model cut in half and
    /// an output in a folder that does not exist: a non-zero exit with a message, never a
    /// panic or a signal, and nothing left at the output path.
    pub MergeBadInput {
        code: "MRG007",
        name: "merge-mishandles-bad-input",
        suite: "merge",
        scope: Scope::Model,
        summary: "apr merge refuses bad input cleanly",
    }
}

impl Check for MergeBadInput {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge(cx, "merge", |input, out| {
            Invocation::merge(&[input, input], "average", None, None, out)
        })
    }
}
