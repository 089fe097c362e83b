use super::{drift, judge_calls};
use apr_client::{Invocation, parse};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json diff` of the model's int8 and int4 `.apr`, the structure and metadata diff (the diff suite's call),
    /// keeps the output contract (contract/judge.rs): one JSON document, no ANSI codes, no
    /// schema drift from apr-client's reading of it.
    pub DiffContract {
        code: "CTR006",
        name: "diff-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr diff --json prints one document that agrees with its exit code",
    }
}

impl Check for DiffContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let a = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let b = cx.artifact(ArtifactKind::Apr(Quant::Int4))?;
        judge_calls(
            cx,
            "diff",
            vec![(
                "apr-int8 vs apr-int4".to_string(),
                Invocation::diff(&a, &b)?,
            )],
            &[],
            |c| drift(parse::diff(c)),
        )
    }
}
