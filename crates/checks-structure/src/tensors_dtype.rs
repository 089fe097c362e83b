use crate::common::{apr_artifact, require_fields};
use crate::dtypes::{allowed, normalize};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// Every tensor `apr tensors` lists is stored as the quantization level says: all `f32`
    /// at f32; at int8 / int4 / q4k every matrix of at least 1024 elements quantized (`q8`,
    /// `q4`, `q4_k`) and norms, biases and small tensors kept `f32`; at fp16 matrices `f16`.
    /// A level that silently leaves weights in f32 (or quantizes a norm) makes a different
    /// model than the one asked for. The rule reads only apr's shapes, so it also covers hub
    /// models. apr 0.72.3 quantizes the token embedding and the materialized `lm_head` too.
    pub TensorDtype {
        code: "TNS002",
        name: "tensor-dtype-wrong-for-quant",
        suite: "tensors",
        scope: Scope::ModelQuant,
        summary: "every tensor's dtype matches the quantization level",
    }
}

impl Check for TensorDtype {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let quant = cx.quant()?;
        let reply = parse::tensors(&*cx.apr(&Invocation::tensors(&apr_artifact(cx)?, false)?)?)?;
        require_fields(&reply.drift, "tensors", &["tensors"])?;
        let out = reply.value;
        if out.tensors.is_empty() {
            return Err(CheckError::NoEvidence(
                "apr tensors listed no tensors".into(),
            ));
        }
        let wrong: Vec<String> = out
            .tensors
            .iter()
            .filter_map(|t| {
                let ok = allowed(quant, &t.shape);
                (!ok.contains(&normalize(&t.dtype).as_str())).then(|| {
                    format!(
                        "{} {:?} is {} (expected {})",
                        t.name,
                        t.shape,
                        t.dtype,
                        ok.join(" or ")
                    )
                })
            })
            .collect();
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for t in &out.tensors {
            *counts.entry(t.dtype.clone()).or_default() += 1;
        }
        let message = if wrong.is_empty() {
            format!(
                "all {} tensors stored as {quant} requires ({counts:?})",
                out.tensors.len()
            )
        } else {
            let shown: Vec<&str> = wrong.iter().take(5).map(String::as_str).collect();
            format!(
                "{} of {} tensors have the wrong dtype for {quant}: {}",
                wrong.len(),
                out.tensors.len(),
                shown.join("; ")
            )
        };
        Ok(Verdict::judge(
            wrong.is_empty(),
            Evidence::new(out.tensors.len(), "tensors"),
            message,
        )
        .with_facts(json!({ "wrong": wrong, "dtype_counts": counts })))
    }
}
