use crate::common::{f32_apr, layout_of, operate, read_output, scratch};
use apr_client::{Invocation, parse};
use checks_structure::layout::Layout;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The fraction pruned.
const RATIO: f64 = 0.5;
/// How far apart apr's plan, its report and tmgt's count of the zeros may be: one part in a
/// thousand of the parameters (magnitude ties at the threshold may zero a few more).
const SLACK: f64 = 1e-3;

declare_check! {
    /// `apr prune --method magnitude --target-ratio 0.5` keeps every tensor's name, dtype and
    /// size, leaves the fraction of zeros it reports, and leaves a model apr can still run:
    /// tmgt counts the zero values of the output's float32 tensors itself and compares them
    /// with the `zero_params` apr reports and the `weights_zeroed_pct` its `--plan` promised,
    /// within one part in a thousand.
    pub PruneSparsity {
        code: "PRN001",
        name: "prune-sparsity-differs-from-claim",
        suite: "prune",
        scope: Scope::Model,
        summary: "prune zeroes the fraction its plan and report state and keeps every tensor",
        // The plan, the pruning and a generation.
        cost: 3,
    }
}

impl Check for PruneSparsity {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let input = f32_apr(cx)?;
        let plan = match operate(
            cx,
            &Invocation::prune(&input, RATIO, None)?,
            parse::prune_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let out = scratch(cx, "pruned.apr")?;
        let reply = match operate(
            cx,
            &Invocation::prune(&input, RATIO, Some(&out))?,
            parse::prune,
        )? {
            Ok(r) => r,
            Err(refused) => return Ok(refused),
        };
        let before = layout_of(&input)?;
        let after = match read_output("prune", &out) {
            Ok(l) => l,
            Err(verdict) => return Ok(verdict),
        };
        let mut problems = Vec::new();
        for t in &before.tensors {
            match after.tensors.iter().find(|a| a.name == t.name) {
                None => problems.push(format!("`{}` is gone", t.name)),
                Some(a)
                    if a.dtype != t.dtype
                        || a.bytes.end - a.bytes.start != t.bytes.end - t.bytes.start =>
                {
                    problems.push(format!(
                        "`{}` changed from {} ({} bytes) to {} ({} bytes)",
                        t.name,
                        t.dtype,
                        t.bytes.end - t.bytes.start,
                        a.dtype,
                        a.bytes.end - a.bytes.start
                    ));
                }
                Some(_) => {}
            }
        }
        let (zeros, values) = zeros_of(&out, &after).map_err(|e| CheckError::Input {
            what: out.display().to_string(),
            reason: e.to_string(),
        })?;
        let counted = zeros as f64 / values.max(1) as f64;
        let reported = reply.zero_params as f64 / reply.original_params.max(1) as f64;
        let planned = plan.weights_zeroed_pct / 100.0;
        for (what, value) in [
            ("apr's reported sparsity", reply.actual_sparsity),
            ("apr's zero_params / original_params", reported),
            ("its plan's weights_zeroed_pct", planned),
        ] {
            if (value - counted).abs() > SLACK {
                problems.push(format!(
                    "{what} is {value:.4} but {zeros} of the output's {values} float32 values are \
                     zero ({counted:.4})"
                ));
            }
        }
        if let Err(e) = crate::common::generate(cx, &out)? {
            problems.push(format!("apr cannot run the pruned model: {e}"));
        }
        if plan.parameters_in != reply.original_params {
            problems.push(format!(
                "the plan counts {} parameters, the pruning {}",
                plan.parameters_in, reply.original_params
            ));
        }
        let message = if problems.is_empty() {
            format!(
                "{} tensors kept; {zeros} of {values} float32 values zero ({counted:.4}), as apr \
                 reports ({:.4}) and planned ({planned:.4})",
                after.tensors.len(),
                reply.actual_sparsity
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(before.tensors.len() + 4, "tensors and figures"),
            message,
        )
        .with_facts(serde_json::json!({
            "input": input, "output": out, "target_ratio": RATIO,
            "counted_zeros": zeros, "counted_values": values,
            "reported": { "zero_params": reply.zero_params, "original_params": reply.original_params,
                          "actual_sparsity": reply.actual_sparsity },
            "plan": { "weights_zeroed_pct": plan.weights_zeroed_pct, "parameters_in": plan.parameters_in },
        })))
    }
}

/// The zero values and all values of a file's float32 tensors, read a block at a time.
fn zeros_of(path: &Path, layout: &Layout) -> std::io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let mut block = vec![0u8; 1 << 20];
    let (mut zeros, mut values) = (0u64, 0u64);
    for t in layout.tensors.iter().filter(|t| t.is_f32) {
        file.seek(SeekFrom::Start(t.bytes.start))?;
        let mut left = t.bytes.end - t.bytes.start;
        while left > 0 {
            let n = (left.min(block.len() as u64) / 4 * 4).max(4) as usize;
            file.read_exact(&mut block[..n])?;
            for v in block[..n].chunks_exact(4) {
                values += 1;
                zeros += u64::from(f32::from_le_bytes([v[0], v[1], v[2], v[3]]) == 0.0);
            }
            left = left.saturating_sub(n as u64);
        }
    }
    Ok((zeros, values))
}
