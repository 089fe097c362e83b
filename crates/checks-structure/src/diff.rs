use crate::common::require_fields;
use apr_client::parse::Difference;
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

/// Difference types a change of quantization level may cause.
const ALLOWED_TYPES: [&str; 3] = ["dtype", "size", "data"];
/// Metadata keys that describe the architecture: a difference in one is structural.
const ARCHITECTURE_KEYS: [&str; 9] = [
    "architecture",
    "hf_architecture",
    "num_layers",
    "num_heads",
    "num_kv_heads",
    "hidden_size",
    "vocab_size",
    "intermediate_size",
    "max_position_embeddings",
];

declare_check! {
    /// `apr diff` of the model's int8 and int4 `.apr` finds differences only in dtype, size
    /// and data, never in structure: the same format and architecture, the same tensor set
    /// and the same logical shapes. tmgt classifies each difference by its field, not only by
    /// apr's category: apr 0.72.3 files a shape change between tensors of different dtypes
    /// under "quantization", and counts the file-name-derived `metadata.model_name` among its
    /// own `structural_diffs`.
    pub DiffStructure {
        code: "DIF001",
        name: "int8-int4-structural-diff",
        suite: "diff",
        scope: Scope::Model,
        summary: "apr diff int8 vs int4 shows no structural difference",
    }
}

impl Check for DiffStructure {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        tmgt_check::require_int8_and_int4(cx)?;
        let a = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let b = cx.artifact(ArtifactKind::Apr(Quant::Int4))?;
        let reply = parse::diff(&*cx.apr(&Invocation::diff(&a, &b)?)?)?;
        require_fields(&reply.drift, "diff", &["differences"])?;
        let out = reply.value;
        let structural: Vec<String> = out
            .differences
            .iter()
            .filter(|d| is_structural(d))
            .map(|d| format!("{}: {} vs {}", d.field, d.file1_value, d.file2_value))
            .collect();
        let dtype_changes = out
            .differences
            .iter()
            .filter(|d| d.kind.as_deref() == Some("dtype"))
            .count();
        let evidence = Evidence::new(out.differences.len(), "differences");
        if out.differences.is_empty() {
            return Ok(Verdict::fail(
                evidence,
                "apr diff finds int8 and int4 identical, though their dtypes must differ",
            )
            .with_facts(json!({ "identical": out.identical })));
        }
        let message = if structural.is_empty() {
            format!(
                "{} differences, none structural ({dtype_changes} dtype changes)",
                out.differences.len()
            )
        } else {
            let shown: Vec<&str> = structural.iter().take(5).map(String::as_str).collect();
            format!(
                "{} of {} differences are structural: {}",
                structural.len(),
                out.differences.len(),
                shown.join("; ")
            )
        };
        Ok(Verdict::judge(structural.is_empty(), evidence, message).with_facts(json!({
            "structural": structural, "category_counts": out.category_counts, "differences": out.differences,
        })))
    }
}

/// A difference in format, architecture, tensor set or logical shape, whatever apr's
/// category says; also any type other than dtype, size and data.
pub fn is_structural(d: &Difference) -> bool {
    let field = d.field.as_str();
    if d.kind
        .as_deref()
        .is_none_or(|k| !ALLOWED_TYPES.contains(&k))
    {
        return true;
    }
    if matches!(field, "format" | "architecture" | "tensor_count") {
        return true;
    }
    if let Some(key) = field.strip_prefix("metadata.") {
        return ARCHITECTURE_KEYS.contains(&key);
    }
    if field.starts_with("tensor.") {
        let attribute = field.rsplit('.').next().unwrap_or("");
        let is_attribute = matches!(
            attribute,
            "dtype" | "min" | "max" | "mean" | "std" | "stats" | "size" | "shape"
        );
        // `tensor.<name>` alone: present in one file only. `.weight`/`.bias` end a name.
        return !is_attribute || attribute == "shape";
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(field: &str, category: &str, kind: &str) -> Difference {
        Difference {
            field: field.into(),
            file1_value: "a".into(),
            file2_value: "b".into(),
            category: Some(category.into()),
            kind: Some(kind.into()),
        }
    }

    #[test]
    fn classifies_by_field() {
        assert!(!is_structural(&d(
            "tensor.model.layers.0.mlp.up_proj.weight.dtype",
            "quantization",
            "dtype"
        )));
        assert!(!is_structural(&d("file_size", "size", "size")));
        assert!(!is_structural(&d(
            "metadata.model_name",
            "metadata",
            "data"
        )));
        assert!(!is_structural(&d(
            "tensor.lm_head.weight.mean",
            "tensor",
            "data"
        )));
        // apr files a shape change between different dtypes under quantization/dtype.
        assert!(is_structural(&d(
            "tensor.lm_head.weight.shape",
            "quantization",
            "dtype"
        )));
        assert!(is_structural(&d(
            "tensor.model.norm.weight",
            "tensor",
            "data"
        )));
        assert!(is_structural(&d("tensor_count", "tensor", "data")));
        assert!(is_structural(&d("metadata.num_layers", "metadata", "data")));
        assert!(is_structural(&d("format", "format", "format")));
        assert!(is_structural(&Difference {
            kind: None,
            ..d("x", "y", "z")
        }));
    }
}
