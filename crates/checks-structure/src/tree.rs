use crate::common::{apr_artifact, distinct_layers, expected, require_fields};
use crate::source::NO_LOCAL_SOURCE;
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr tree` of the `.apr` holds as many tensors as tmgt expects from the source
    /// safetensors header (after apr's renaming, e.g. GPT-2's fused q/k/v split in three) and
    /// as many layers as config.json states; its root `tensor_count` equals its leaves. A
    /// lost or duplicated tensor or layer shows here first.
    pub TreeCounts {
        code: "TRE001",
        name: "tree-count-mismatch",
        suite: "tree",
        scope: Scope::ModelQuant,
        summary: "apr tree's tensor and layer counts equal the source's",
    }
}

impl Check for TreeCounts {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(exp) = expected(cx)? else {
            return Ok(Verdict::skip(NO_LOCAL_SOURCE));
        };
        let layers_expected = cx.model()?.facts.layers;
        let reply = parse::tree(&*cx.apr(&Invocation::tree(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "tree", &[""])?;
        let root = reply.value;
        let leaves = root.leaf_paths();
        let layers = distinct_layers(leaves.iter().map(String::as_str));
        let mut problems = Vec::new();
        if leaves.len() != exp.tensors.len() {
            problems.push(format!(
                "{} tensors, expected {}",
                leaves.len(),
                exp.tensors.len()
            ));
        }
        if root.tensor_count() != leaves.len() as u64 {
            problems.push(format!(
                "root tensor_count {} but {} leaves",
                root.tensor_count(),
                leaves.len()
            ));
        }
        if layers != layers_expected {
            problems.push(format!("{layers} layers, expected {layers_expected}"));
        }
        let message = if problems.is_empty() {
            format!("{} tensors in {layers} layers, as the source", leaves.len())
        } else {
            format!("apr tree: {}", problems.join("; "))
        };
        Ok(Verdict::judge(problems.is_empty(), Evidence::new(leaves.len().max(exp.tensors.len()), "tensors"), message).with_facts(json!({
            "tensors": leaves.len(), "expected_tensors": exp.tensors.len(), "root_tensor_count": root.tensor_count(),
            "layers": layers, "expected_layers": layers_expected, "source_layers": exp.source_layers(),
        })))
    }
}
