use apr_client::parse::ParityOutput;
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// `apr parity` on the f32 GGUF: the CUDA forward pass agrees with the CPU one at every
    /// prompt position (apr's own per-position verdicts). Runs only where apr was built with
    /// CUDA and sees a GPU (`apr --version --json`); elsewhere it is skipped, naming what is
    /// missing, and never passes. An architecture apr refuses on GPU is a skip naming apr's
    /// reason; an apr that exits non-zero without its JSON is an error.
    pub ParityGpu {
        code: "GPU001",
        name: "gpu-cpu-parity-broken",
        suite: "parity-gpu",
        scope: Scope::Model,
        summary: "GPU and CPU logits agree on the f32 GGUF",
    }
}

impl Check for ParityGpu {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let v = cx.apr_version();
        if !v.cuda_feature {
            return Ok(Verdict::skip(
                "this apr was built without the `cuda` feature (apr --version --json: cuda_feature false)",
            ));
        }
        if !v.cuda_runtime_available {
            return Ok(Verdict::skip(
                "apr was built with CUDA but sees no GPU (cuda_runtime_available false)",
            ));
        }
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let prompt = cx
            .prompts()
            .first()
            .map(|p| p.text.clone())
            .unwrap_or_else(|| "What is 2+2?".into());
        let reply = parse::parity(&*cx.apr(&Invocation::parity(&gguf, &prompt)?)?)?;
        match reply.value {
            ParityOutput::Refused(r) => Ok(Verdict::skip(format!(
                "apr refuses GPU parity for {}: {}",
                r.architecture.unwrap_or_else(|| "this architecture".into()),
                r.reason
            ))),
            ParityOutput::Measured(m) => {
                if m.metrics.is_empty() {
                    return Err(CheckError::NoEvidence(
                        "apr parity measured no position".into(),
                    ));
                }
                let worst = m
                    .metrics
                    .iter()
                    .map(|p| p.max_abs_diff)
                    .fold(0.0f64, f64::max);
                let argmax_flips = m
                    .metrics
                    .iter()
                    .filter(|p| p.cpu_argmax != p.gpu_argmax)
                    .count();
                Ok(Verdict::judge(
                    m.parity && m.failed == 0 && reply.exit_code == 0,
                    Evidence::new(m.metrics.len(), "positions"),
                    format!(
                        "{} of {} positions pass, {argmax_flips} argmax flips, max |logit diff| {worst:.2e} (exit {})",
                        m.passed, m.tokens, reply.exit_code
                    ),
                )
                .with_facts(json!({ "metrics": m.metrics })))
            }
        }
    }
}
