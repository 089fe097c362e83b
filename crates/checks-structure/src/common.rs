//! Small pieces every structure check uses.

use crate::names::{ExpectedTensor, expected_tensors};
use crate::source::{SourceModel, SourceTensor, source_model};
use apr_client::FieldProblem;
use std::path::PathBuf;
use tmgt_check::{ArtifactKind, CheckError, Context};

/// The source model of the instance and the `.apr` tensors expected from it.
#[derive(Debug)]
pub struct Expected {
    pub source: SourceModel,
    pub source_tensors: Vec<SourceTensor>,
    pub tensors: Vec<ExpectedTensor>,
}

impl Expected {
    /// Distinct layer indices among the source tensors.
    pub fn source_layers(&self) -> usize {
        distinct_layers(self.source_tensors.iter().map(|t| t.name.as_str()))
    }
}

/// The expected tensors of the instance's model, or `Ok(None)` for a hub model.
pub fn expected(cx: &dyn Context) -> Result<Option<Expected>, CheckError> {
    let Some(source) = source_model(cx)? else {
        return Ok(None);
    };
    let model = cx.model()?;
    let source_tensors = source.tensors();
    let tensors = expected_tensors(
        &model.facts.architecture,
        model.facts.tied_embeddings,
        &source_tensors,
    )
    .map_err(|reason| CheckError::Input {
        what: format!("the tensors of {}", source.path().display()),
        reason,
    })?;
    if tensors.is_empty() {
        return Err(CheckError::NoEvidence(format!(
            "{} declares no tensors",
            source.path().display()
        )));
    }
    Ok(Some(Expected {
        source,
        source_tensors,
        tensors,
    }))
}

/// How many distinct layer indices the names carry.
pub fn distinct_layers<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .filter_map(layer_index)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// `Err(Schema)` when apr's reply lacks (or mistypes) a field the check reads: `needed` are
/// JSON paths; a problem at a path or anywhere below it counts, and `""` needs the whole
/// document.
pub fn require_fields(
    drift: &[FieldProblem],
    command: &str,
    needed: &[&str],
) -> Result<(), CheckError> {
    let hit = drift.iter().find(|p| {
        needed.iter().any(|n| {
            p.path == *n
                || p.path
                    .strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                || n.is_empty()
        })
    });
    match hit {
        Some(p) => Err(CheckError::Schema {
            command: command.to_string(),
            detail: p.to_string(),
        }),
        None => Ok(()),
    }
}

/// The instance's `.apr` at its quantization level.
pub fn apr_artifact(cx: &dyn Context) -> Result<PathBuf, CheckError> {
    cx.artifact(ArtifactKind::Apr(cx.quant()?))
}

/// The index N of a tensor name with a `layers.N.` or `h.N.` segment.
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts
        .windows(2)
        .find(|w| matches!(w[0], "layers" | "h" | "blk" | "layer" | "blocks"))
        .and_then(|w| w[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use apr_client::Problem;

    fn problem(path: &str) -> FieldProblem {
        FieldProblem {
            path: path.into(),
            problem: Problem::Missing,
        }
    }

    #[test]
    fn drift_below_a_needed_path_is_an_error() {
        let drift = [problem("tensors[3].dtype"), problem("file")];
        assert!(require_fields(&drift, "tensors", &["tensors"]).is_err());
        assert!(require_fields(&drift, "tensors", &["tensor_count"]).is_ok());
        assert!(require_fields(&drift, "tensors", &["tensors_x"]).is_ok());
        assert!(require_fields(&drift, "tensors", &["file"]).is_err());
        assert!(require_fields(&[], "tensors", &[""]).is_ok());
    }

    #[test]
    fn layer_indices() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("transformer.h.0.attn.c_attn.bias"), Some(0));
        assert_eq!(layer_index("blk.3.attn_q.weight"), Some(3));
        assert_eq!(layer_index("model.embed_tokens.weight"), None);
        assert_eq!(layer_index("model.layers.x.weight"), None);
        assert_eq!(
            distinct_layers(["a.layers.0.w", "a.layers.1.w", "a.layers.1.b", "x"].into_iter()),
            2
        );
    }
}
