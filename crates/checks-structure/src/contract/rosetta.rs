use super::{drift, judge_calls};
use apr_client::{Invocation, parse};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// `apr --json rosetta diff-tensors` of the model's int8 and int4 `.apr`, the layout comparison (the rosetta-diff suite's call; apr hand-writes this JSON, so an unescaped path or a bare NaN shows here),
    /// keeps the output contract (contract/judge.rs): one JSON document, no ANSI codes, no
    /// schema drift from apr-client's reading of it.
    pub RosettaContract {
        code: "CTR016",
        name: "rosetta-diff-tensors-json-contract-broken",
        suite: "contract",
        scope: Scope::Model,
        summary: "apr rosetta diff-tensors --json prints one document that agrees with its exit code",
    }
}

impl Check for RosettaContract {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let a = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let b = cx.artifact(ArtifactKind::Apr(Quant::Int4))?;
        judge_calls(
            cx,
            "rosetta diff-tensors",
            vec![(
                "apr-int8 vs apr-int4".to_string(),
                Invocation::rosetta_diff_tensors(&a, &b)?,
            )],
            &[],
            |c| drift(parse::rosetta_diff_tensors(c)),
        )
    }
}
