use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr list --json` succeeds and prints its documented document: a `models` array and a
    /// `total` that counts it. The reference only asked that it parse; a total that disagrees
    /// with the list it summarises is a bug too.
    pub List {
        code: "LST001",
        name: "model-list-broken",
        suite: "list",
        scope: Scope::Global,
        summary: "apr list prints a consistent model list",
    }
}

impl Check for List {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let captured = cx.apr(&Invocation::list())?;
        let reply = parse::list(&captured)?;
        let fields = 3 + reply.value.models.len();
        if !reply.drift.is_empty() {
            let drift: Vec<String> = reply.drift.iter().map(ToString::to_string).collect();
            return Ok(Verdict::fail(
                Evidence::new(fields, "fields"),
                format!(
                    "`apr list` output drifted from its schema: {}",
                    drift.join("; ")
                ),
            ));
        }
        let listed = reply.value.models.len() as u64;
        Ok(Verdict::judge(
            reply.exit_code == 0 && reply.value.total == listed,
            Evidence::new(fields, "fields"),
            format!(
                "exit {}, {} models listed, total says {}",
                reply.exit_code, listed, reply.value.total
            ),
        ))
    }
}
