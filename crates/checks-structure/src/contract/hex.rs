use super::{drift, judge_targets};
use crate::layout::Layout;
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json hex --tensor NAME --stats` on each of the model's artifacts keeps the output
    /// contract (contract/judge.rs): one JSON document (the tensor array), no ANSI codes, no
    /// schema drift. NAME is the first tensor of the file by tmgt's own reading of its index.
    /// apr 0.72.3 prints a human summary of a GGUF before the JSON array, so its stdout is
    /// not one document there (apr-cli.md 4.11).
    pub HexContract {
        code: "CTR009",
        name: "hex-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr hex --json prints one document that agrees with its exit code",
    }
}

impl Check for HexContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_targets(
            cx,
            "hex",
            |t| {
                let first = Layout::read(&t.path)
                    .map_err(|e| format!("tmgt cannot read its tensor index: {e}"))
                    .and_then(|l| {
                        l.tensors
                            .into_iter()
                            .next()
                            .map(|t| t.name)
                            .ok_or_else(|| "the file has no tensor".to_string())
                    });
                Ok(match first {
                    Ok(name) => Ok(Invocation::hex(&t.path, &name, true)?),
                    Err(reason) => Err(reason),
                })
            },
            |c| drift(parse::hex(c)),
        )
    }
}
