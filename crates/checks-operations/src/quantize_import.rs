use crate::common::{f32_apr, judge_identity, operate, scratch};
use apr_client::{Invocation, Quantize, parse};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// `apr quantize --scheme int8` of the f32 `.apr` and `apr import --quantize int8` of the
    /// source are two routes to one result: the same Q8 tensors byte for byte (both quantize
    /// the same f32 values with the same 32-element blocks) and the same greedy tokens.
    pub QuantizeMatchesImport {
        code: "QNT001",
        name: "quantize-differs-from-import",
        suite: "quantize",
        scope: Scope::Model,
        summary: "apr quantize int8 gives what apr import --quantize int8 gives",
        // The quantization and two generations.
        cost: 3,
    }
}

impl Check for QuantizeMatchesImport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        if !cx.model()?.quants.contains(&Quant::Int8) {
            return Err(CheckError::NotApplicable(
                "the model has no int8 level in suites.toml to compare with".into(),
            ));
        }
        let imported = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let out = scratch(cx, "quantized-int8.apr")?;
        let invocation = Invocation::quantize(&f32_apr(cx)?, Quantize::Int8, &out)?;
        if let Err(refused) = operate(cx, &invocation, parse::quantize)? {
            return Ok(refused);
        }
        judge_identity(cx, "quantize --scheme int8", &imported, &out)
    }
}
