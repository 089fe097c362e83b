use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check};

declare_check! {
    /// The `quantized` header flag `apr inspect` reports agrees with the level the `.apr`
    /// was imported at: set for int8 / int4 / q4k, clear for f32 (fp16 is not judged).
    /// Tools decide how to load a file from its header; a quantized file flagged as float is
    /// mislabelled. apr 0.72.3 leaves the flag clear at every level.
    pub InspectQuantizedFlag {
        code: "INS002",
        name: "inspect-quantized-flag-wrong",
        suite: "inspect",
        scope: Scope::ModelQuant,
        summary: "apr inspect's quantized flag matches the quantization level",
    }
}

impl Check for InspectQuantizedFlag {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let quant = cx.quant()?;
        let expected = match quant {
            Quant::F32 => false,
            Quant::Int8 | Quant::Int4 | Quant::Q4k => true,
            Quant::Fp16 => {
                return Ok(Verdict::skip(
                    "fp16 is half precision, neither clearly quantized nor float",
                ));
            }
        };
        let reply = parse::inspect(&*cx.apr(&Invocation::inspect(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "inspect", &["flags"])?;
        let Some(flags) = reply.value.flags else {
            return Ok(Verdict::fail(
                Evidence::new(1, "fields"),
                "apr inspect reports no `flags` for the .apr",
            ));
        };
        Ok(Verdict::judge(
            flags.quantized == expected,
            Evidence::new(1, "fields"),
            format!(
                "{quant} .apr: flags.quantized is {} (expected {expected})",
                flags.quantized
            ),
        )
        .with_facts(json!({ "flags": flags })))
    }
}
