use crate::common::{f32_apr, layout_of, operate, read_output, scratch};
use apr_client::{Invocation, Quantize, parse};
use checks_structure::layout::TensorSpan;
use checks_structure::source::f16_to_f32;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Half the spacing of half-precision values relative to their magnitude (11-bit
/// significand): round-to-nearest moves a normal value by at most this fraction.
const HALF_ULP: f64 = 1.0 / 2048.0;
/// Half the smallest subnormal step of half precision (2^-24): the most rounding moves a
/// value too small for a normal half.
const HALF_SUBNORMAL: f64 = 1.0 / 33_554_432.0;

declare_check! {
    /// `apr quantize --scheme fp16` stores every float32 weight as the nearest half-precision
    /// value: each value read back lies within half an ulp of half precision of the original
    /// (2^-11 relative, 2^-25 absolute below the normal range), and tensors it keeps in
    /// float32 (norms, tensors under 1,024 values) are byte-identical. Every value of every
    /// tensor is compared.
    pub QuantizeFp16 {
        code: "QNT002",
        name: "quantize-fp16-beyond-rounding",
        suite: "quantize",
        scope: Scope::Model,
        summary: "apr quantize fp16 stays within half-precision rounding of the f32 weights",
    }
}

impl Check for QuantizeFp16 {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let input = f32_apr(cx)?;
        let out = scratch(cx, "quantized-fp16.apr")?;
        let invocation = Invocation::quantize(&input, Quantize::Fp16, &out)?;
        if let Err(refused) = operate(cx, &invocation, parse::quantize)? {
            return Ok(refused);
        }
        let before = layout_of(&input)?;
        let after = match read_output("quantize --scheme fp16", &out) {
            Ok(l) => l,
            Err(verdict) => return Ok(verdict),
        };
        let io = |e: std::io::Error| CheckError::Input {
            what: out.display().to_string(),
            reason: e.to_string(),
        };
        let mut problems = Vec::new();
        let (mut values, mut halves, mut worst) = (0u64, 0usize, 0.0f64);
        for t in before.tensors.iter().filter(|t| t.is_f32) {
            let Some(h) = after.tensors.iter().find(|h| h.name == t.name) else {
                problems.push(format!("`{}` is gone", t.name));
                continue;
            };
            let n = (t.bytes.end - t.bytes.start) / 4;
            let width = match h.dtype.as_str() {
                "F16" => 2,
                "F32" => 4,
                other => {
                    problems.push(format!("`{}` became {other}, not F16", t.name));
                    continue;
                }
            };
            if h.bytes.end - h.bytes.start != n * width {
                problems.push(format!(
                    "`{}` holds {} bytes for {n} values",
                    t.name,
                    h.bytes.end - h.bytes.start
                ));
                continue;
            }
            halves += usize::from(width == 2);
            let (beyond, tensor_worst) = compare(&input, t, &out, h, width).map_err(io)?;
            values += n;
            worst = worst.max(tensor_worst);
            if beyond > 0 {
                problems.push(format!(
                    "{beyond} of {n} values of `{}` ({}) beyond rounding (worst {tensor_worst:.3} ulp)",
                    t.name, h.dtype
                ));
            }
        }
        let message = if problems.is_empty() {
            format!(
                "{values} values of {} tensors ({halves} stored as F16) within half-precision \
                 rounding of the f32 weights (worst {worst:.3} of the allowed half ulp)",
                before.tensors.iter().filter(|t| t.is_f32).count()
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(values as usize, "values"),
            message,
        )
        .with_facts(serde_json::json!({
            "input": input, "output": out, "f16_tensors": halves, "worst_of_allowed": worst,
        })))
    }
}

/// Values of `h` (F16 or F32) beyond rounding of `t`'s f32 values, and the worst error as a
/// fraction of what rounding allows.
fn compare(
    input: &Path,
    t: &TensorSpan,
    output: &Path,
    h: &TensorSpan,
    width: u64,
) -> std::io::Result<(u64, f64)> {
    let (mut a, mut b) = (File::open(input)?, File::open(output)?);
    a.seek(SeekFrom::Start(t.bytes.start))?;
    b.seek(SeekFrom::Start(h.bytes.start))?;
    const VALUES: u64 = 1 << 16;
    let mut left = (t.bytes.end - t.bytes.start) / 4;
    let (mut ba, mut bb) = (
        vec![0u8; 4 * VALUES as usize],
        vec![0u8; (width * VALUES) as usize],
    );
    let (mut beyond, mut worst) = (0u64, 0.0f64);
    while left > 0 {
        let n = left.min(VALUES) as usize;
        a.read_exact(&mut ba[..4 * n])?;
        b.read_exact(&mut bb[..width as usize * n])?;
        for i in 0..n {
            let x = f32::from_le_bytes([ba[4 * i], ba[4 * i + 1], ba[4 * i + 2], ba[4 * i + 3]]);
            let y = if width == 2 {
                f16_to_f32(u16::from_le_bytes([bb[2 * i], bb[2 * i + 1]]))
            } else {
                f32::from_le_bytes([bb[4 * i], bb[4 * i + 1], bb[4 * i + 2], bb[4 * i + 3]])
            };
            let allowed = if width == 2 {
                (f64::from(x).abs() * HALF_ULP).max(HALF_SUBNORMAL)
            } else {
                0.0
            };
            let err = (f64::from(x) - f64::from(y)).abs();
            // A NaN error (a NaN written for a number) is beyond any bound too.
            if err.is_nan() || err > allowed {
                beyond += 1;
            }
            if allowed > 0.0 {
                worst = worst.max(err / allowed);
            }
        }
        left -= n as u64;
    }
    Ok((beyond, worst))
}
