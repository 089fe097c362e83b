use apr_client::{Invocation, parse};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// `apr rosetta diff-tensors` finds no layout difference between the Int8 and Int4
    /// `.apr` of a model: quantization changes how tensors are stored, never which tensors
    /// exist or their logical shapes.
    pub RosettaLayout {
        code: "ROS001",
        name: "int8-int4-layout-mismatch",
        suite: "rosetta-diff",
        scope: Scope::Model,
        summary: "Int8 and Int4 artifacts have the same tensor layout",
    }
}

impl Check for RosettaLayout {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let a = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let b = cx.artifact(ArtifactKind::Apr(Quant::Int4))?;
        let reply =
            parse::rosetta_diff_tensors(&*cx.apr(&Invocation::rosetta_diff_tensors(&a, &b)?)?)?;
        if let Some(p) = reply.drift.first() {
            return Err(CheckError::Schema {
                command: "rosetta diff-tensors".into(),
                detail: p.to_string(),
            });
        }
        let d = reply.value;
        let tensors = d.tensors_a.max(d.tensors_b);
        if tensors == 0 {
            return Err(CheckError::NoEvidence("apr compared no tensors".into()));
        }
        let clean = d.layout_mismatches == 0
            && d.missing_in_a == 0
            && d.missing_in_b == 0
            && d.tensors_a == d.tensors_b;
        Ok(Verdict::judge(
            clean && reply.exit_code == 0,
            Evidence::new(tensors, "tensors"),
            format!(
                "int8 {} tensors, int4 {}: {} layout mismatches, {} missing in int8, {} missing in int4 (exit {})",
                d.tensors_a,
                d.tensors_b,
                d.layout_mismatches,
                d.missing_in_a,
                d.missing_in_b,
                reply.exit_code
            ),
        ))
    }
}
