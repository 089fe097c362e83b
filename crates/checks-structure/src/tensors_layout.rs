use crate::common::{apr_artifact, expected, require_fields};
use crate::source::NO_LOCAL_SOURCE;
use apr_client::{Invocation, parse};
use serde_json::json;
use std::collections::BTreeMap;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Names listed in a message before "and N more".
const LISTED: usize = 5;

declare_check! {
    /// `apr tensors` of the `.apr` lists exactly the tensors tmgt derives from the source
    /// safetensors header, under apr's names and with the same logical shapes, and its
    /// `tensor_count` says so too. A missing, extra, renamed or reshaped tensor is an import
    /// bug whatever the inference checks say. Derivation (names.rs): LLaMA-family names map
    /// one to one; GPT-2 is renamed to LLaMA-style names with its Conv1D `[in, out]` layout
    /// kept and `c_attn` split into q/k/v; apr 0.72.3 materializes a tied `lm_head.weight`.
    pub TensorLayout {
        code: "TNS001",
        name: "tensor-layout-differs-from-source",
        suite: "tensors",
        scope: Scope::ModelQuant,
        summary: "apr tensors lists the source's tensors with the source's shapes",
    }
}

impl Check for TensorLayout {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(exp) = expected(cx)? else {
            return Ok(Verdict::skip(NO_LOCAL_SOURCE));
        };
        let reply = parse::tensors(&*cx.apr(&Invocation::tensors(&apr_artifact(cx)?, false)?)?)?;
        require_fields(&reply.drift, "tensors", &["tensors", "tensor_count"])?;
        let out = reply.value;
        let apr: BTreeMap<&str, &[u64]> = out
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice()))
            .collect();
        let want: BTreeMap<&str, Vec<u64>> = exp
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.iter().map(|&d| d as u64).collect()))
            .collect();
        let missing: Vec<&str> = want
            .keys()
            .filter(|n| !apr.contains_key(*n))
            .copied()
            .collect();
        let extra: Vec<&str> = apr
            .keys()
            .filter(|n| !want.contains_key(*n))
            .copied()
            .collect();
        let reshaped: Vec<String> = want
            .iter()
            .filter_map(|(n, shape)| {
                apr.get(n)
                    .filter(|s| **s != shape.as_slice())
                    .map(|s| format!("{n} {s:?} (expected {shape:?})"))
            })
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("{} missing: {}", missing.len(), listed(&missing)));
        }
        if !extra.is_empty() {
            problems.push(format!("{} unexpected: {}", extra.len(), listed(&extra)));
        }
        if !reshaped.is_empty() {
            problems.push(format!(
                "{} reshaped: {}",
                reshaped.len(),
                listed(&reshaped)
            ));
        }
        if out.tensors.len() != apr.len() {
            problems.push(format!(
                "{} entries but {} distinct names",
                out.tensors.len(),
                apr.len()
            ));
        }
        if out.tensor_count != out.tensors.len() as u64 {
            problems.push(format!(
                "tensor_count {} but {} listed",
                out.tensor_count,
                out.tensors.len()
            ));
        }
        let compared = want.len().max(apr.len());
        let message = if problems.is_empty() {
            format!(
                "all {} tensors present with the source's shapes",
                want.len()
            )
        } else {
            format!(
                "{} tensors expected, apr lists {}: {}",
                want.len(),
                out.tensors.len(),
                problems.join("; ")
            )
        };
        Ok(Verdict::judge(problems.is_empty(), Evidence::new(compared, "tensors"), message).with_facts(json!({
            "missing": missing, "unexpected": extra, "reshaped": reshaped, "tensor_count": out.tensor_count,
            "expected": exp.tensors,
        })))
    }
}

/// The first few items, then how many more.
fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    tmgt_check::first_few(items, LISTED, ", ")
}
