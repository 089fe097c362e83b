use crate::quantize_import::like_import;
use tmgt_check::{Check, CheckError, Context, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// `apr quantize --scheme int4` of the f32 `.apr` and `apr import --quantize int4` of the
    /// source are two routes to one result, like QNT001 at int8: the same Q4 tensors byte for
    /// byte and the same greedy tokens.
    pub QuantizeInt4MatchesImport {
        code: "QNT005",
        name: "quantize-int4-differs-from-import",
        suite: "quantize",
        scope: Scope::Model,
        summary: "apr quantize int4 gives what apr import --quantize int4 gives",
        // The quantization and two generations.
        cost: 3,
    }
}

impl Check for QuantizeInt4MatchesImport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        like_import(cx, Quant::Int4)
    }
}
