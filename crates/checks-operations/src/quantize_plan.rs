use crate::common::{f32_apr, operate, scratch};
use apr_client::{Invocation, Quantize, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// How far the plan's estimated output size may be from what the quantization then writes:
/// the estimate counts tensor bytes, and the metadata (the embedded tokenizer above all) is
/// about a tenth of a tiny model's int8 file and a hundredth of a real one's.
const SIZE_SLACK: f64 = 0.10;

declare_check! {
    /// `apr quantize --scheme int8 --plan --json` states the input's size as tmgt measures the
    /// file, the scheme and format asked for, and an output size within 10% of what the
    /// executed quantization then reports and writes (10% for the metadata the estimate leaves
    /// out).
    pub QuantizePlan {
        code: "QNT003",
        name: "quantize-plan-disagrees",
        suite: "quantize",
        scope: Scope::Model,
        summary: "apr quantize --plan agrees with the file and with the quantization it plans",
    }
}

impl Check for QuantizePlan {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let input = f32_apr(cx)?;
        let plan = match operate(
            cx,
            &Invocation::quantize_plan(&input, Quantize::Int8)?,
            parse::quantize_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let out = scratch(cx, "planned-int8.apr")?;
        let done = match operate(
            cx,
            &Invocation::quantize(&input, Quantize::Int8, &out)?,
            parse::quantize,
        )? {
            Ok(d) => d,
            Err(refused) => return Ok(refused),
        };
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let (input_bytes, written) = (size(&input), size(&out));
        let mut problems = Vec::new();
        if plan.input_size != input_bytes {
            problems.push(format!(
                "the plan's input_size {} is not the file's {input_bytes} bytes",
                plan.input_size
            ));
        }
        if plan.scheme != "Int8" || plan.output_format != "apr" {
            problems.push(format!(
                "the plan is for {} as {}, not Int8 as apr",
                plan.scheme, plan.output_format
            ));
        }
        for (what, bytes) in [
            ("the quantized_size apr reports", done.quantized_size),
            ("the file it wrote", written),
        ] {
            let off =
                (plan.estimated_output_size as f64 - bytes as f64).abs() / (bytes.max(1) as f64);
            if off > SIZE_SLACK {
                problems.push(format!(
                    "the plan's estimated_output_size {} is {:.1}% off {what} ({bytes} bytes)",
                    plan.estimated_output_size,
                    100.0 * off
                ));
            }
        }
        let message = if problems.is_empty() {
            format!(
                "plan: {} bytes in, about {} out; executed: {} bytes written",
                plan.input_size, plan.estimated_output_size, written
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(4, "figures"),
            message,
        ))
    }
}
