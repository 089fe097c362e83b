use crate::common::{f32_apr, judge_identity, operate, scratch};
use apr_client::{Invocation, parse};
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
        like_import(cx, Quant::Int8)
    }
}

/// `apr quantize` of the f32 `.apr` to `quant` judged against the `quant` import.
pub(crate) fn like_import(cx: &dyn Context, quant: Quant) -> Result<Verdict, CheckError> {
    tmgt_check::require_level(cx, quant)?;
    let Some(scheme) = quant.apr_quantize() else {
        return Err(CheckError::NotApplicable(format!(
            "apr quantize has no scheme for {quant}"
        )));
    };
    let imported = cx.artifact(ArtifactKind::Apr(quant))?;
    let out = scratch(cx, &format!("quantized-{quant}.apr"))?;
    let invocation = Invocation::quantize(&f32_apr(cx)?, scheme, &out)?;
    if let Err(refused) = operate(cx, &invocation, parse::quantize)? {
        return Ok(refused);
    }
    judge_identity(
        cx,
        &format!("quantize --scheme {}", scheme.as_arg()),
        &imported,
        &out,
    )
}
