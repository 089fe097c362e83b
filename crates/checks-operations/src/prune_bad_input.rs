use crate::bad_input::judge;
use apr_client::Invocation;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr prune` refuses a missing input, an empty file, garbage bytes, a model cut in half and
    /// an output in a folder that does not exist: a non-zero exit with a message, never a
    /// panic or a signal, and nothing left at the output path.
    pub PruneBadInput {
        code: "PRN002",
        name: "prune-mishandles-bad-input",
        suite: "prune",
        scope: Scope::Model,
        summary: "apr prune refuses bad input cleanly",
    }
}

impl Check for PruneBadInput {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge(cx, "prune", |input, out| {
            Invocation::prune(input, 0.5, Some(out))
        })
    }
}
