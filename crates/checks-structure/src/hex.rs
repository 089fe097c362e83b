use crate::StructureThresholds;
use crate::common::{apr_artifact, expected, require_fields};
use crate::dtypes::quant_bits;
use crate::names::{LM_HEAD, token_embedding};
use crate::source::NO_LOCAL_SOURCE;
use crate::stats::{Precision, TensorStats, compare};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check};

/// Unit roundoff of IEEE half precision (11-bit significand): the relative error of storing
/// an f32 value as f16.
const F16_ROUNDOFF: f64 = 1.0 / 2048.0;

declare_check! {
    /// The min, max, mean and std `apr hex --stats` reports for the token embedding of the
    /// `.apr` agree with the same statistics tmgt computes from the f32 source safetensors, and
    /// are not degenerate (std > 0). Tolerance: `thresholds.structure.f32_stat_tolerance`
    /// (relative) at f32, f16 roundoff at fp16, and at int8 / int4 / q4k
    /// `quant_stat_tolerance` x std for mean and std, widened for min and max to half a
    /// quantization step of the tensor's range (rounding legitimately moves an extreme value
    /// that far: at int4 apr 0.72.3 moves the tiny Qwen2 max by 0.26 std). apr 0.72.3
    /// dequantizes before computing and reports population (divide-by-n) std; its q4k
    /// embeddings lose a third of their std (75% zeros, as `apr qa` also says).
    pub HexStats {
        code: "HEX001",
        name: "hex-stats-disagree-with-source",
        suite: "hex",
        scope: Scope::ModelQuant,
        summary: "apr hex statistics of the token embedding agree with the source's",
    }
}

impl Check for HexStats {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(exp) = expected(cx)? else {
            return Ok(Verdict::skip(NO_LOCAL_SOURCE));
        };
        let quant = cx.quant()?;
        let source = token_embedding(&exp.source_tensors).ok_or_else(|| CheckError::Input {
            what: exp.source.path().display().to_string(),
            reason: "no token embedding".into(),
        })?;
        let probe = exp
            .tensors
            .iter()
            .find(|t| t.source == source.name && t.name != LM_HEAD)
            .ok_or_else(|| CheckError::Input {
                what: source.name.clone(),
                reason: "no apr name for the token embedding".into(),
            })?;
        let want = TensorStats::of_blocks(|each| exp.source.visit_f32(&source.name, each))
            .map_err(|e| CheckError::Input {
                what: source.name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| CheckError::Input {
                what: source.name.clone(),
                reason: "the source tensor is empty or holds NaN/Inf".into(),
            })?;
        let reply =
            parse::hex(&*cx.apr(&Invocation::hex(&apr_artifact(cx)?, &probe.name, true)?)?)?;
        require_fields(&reply.drift, "hex", &[""])?;
        let Some(tensor) = reply.value.tensors.iter().find(|t| t.name == probe.name) else {
            let names: Vec<&str> = reply
                .value
                .tensors
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            return Ok(Verdict::fail(
                Evidence::new(0, "statistics"),
                format!("apr hex lists no `{}` (found {names:?})", probe.name),
            ));
        };
        let Some(s) = &tensor.stats else {
            return Err(CheckError::Schema {
                command: "hex --stats".into(),
                detail: format!("`{}` has no `stats`", probe.name),
            });
        };
        let th = &cx.thresholds().get::<StructureThresholds>()?;
        let precision = match (quant, quant_bits(quant)) {
            (_, Some(bits)) => Precision::Quantized {
                bits,
                k: th.quant_stat_tolerance,
            },
            (Quant::Fp16, None) => Precision::Float {
                rel: th.f32_stat_tolerance.max(F16_ROUNDOFF),
            },
            (_, None) => Precision::Float {
                rel: th.f32_stat_tolerance,
            },
        };
        let rows = compare(
            &want,
            [
                ("min", s.min),
                ("max", s.max),
                ("mean", s.mean),
                ("std", s.std),
            ],
            precision,
        );
        let mut problems: Vec<String> = rows
            .iter()
            .filter(|r| !r.ok)
            .map(|r| {
                format!(
                    "{} {:.6} vs source {:.6} (allowed ±{:.2e})",
                    r.stat, r.reported, r.expected, r.allowed
                )
            })
            .collect();
        if s.std.is_nan() || s.std <= 0.0 {
            problems.push(format!("degenerate: std {}", s.std));
        }
        let message = if problems.is_empty() {
            format!(
                "{} ({}): min/max/mean/std agree with the source (std {:.6})",
                probe.name, tensor.dtype, s.std
            )
        } else {
            format!("{} ({}): {}", probe.name, tensor.dtype, problems.join("; "))
        };
        Ok(Verdict::judge(problems.is_empty(), Evidence::new(rows.len(), "statistics"), message).with_facts(json!({
            "tensor": probe.name, "source_tensor": source.name, "dtype": tensor.dtype, "precision": precision,
            "comparisons": rows, "source_elements": want.count,
        })))
    }
}
