use crate::common::{apr_artifact, distinct_layers};
use apr_client::Invocation;
use apr_client::parse::{self, TensorInfo};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// The dimensions `apr inspect` reports for a `.apr` agree with the shapes of the tensors
    /// `apr tensors` lists in the same file: the vocabulary size and hidden size with the
    /// token embedding (and the output head), the layer count with the layer indices, the
    /// feed-forward size with the first layer's up projection, the key/value heads with its
    /// key projection, and the tensor count with the tensors listed. Unlike INS001 this needs
    /// no config.json: a `.apr` whose header contradicts its own weights is wrong whatever the
    /// source said. apr 0.72.3 copies config.json's `vocab_size` into the header without
    /// looking at the embedding, so a config that misstates it yields such a file.
    pub InspectAgreesWithTensors {
        code: "INS003",
        name: "inspect-contradicts-tensors",
        suite: "inspect",
        scope: Scope::ModelQuant,
        summary: "apr inspect's dimensions agree with the .apr's own tensor shapes",
    }
}

/// One relation between a reported dimension and the tensors.
struct Relation {
    field: &'static str,
    reported: Option<u64>,
    /// What the tensors say, and which tensor (or count) says it.
    from_tensors: Option<(u64, String)>,
    /// The tensor's other axis, when the relation reads one axis of a matrix: equal to the
    /// reported value, it means the matrix is stored transposed.
    other_axis: Option<u64>,
}

fn other_axis(tensor: Option<&TensorInfo>, axis: usize) -> Option<u64> {
    let t = tensor?;
    (t.shape.len() == 2).then(|| t.shape[1 - axis])
}

fn find<'a>(tensors: &'a [TensorInfo], suffix: &str) -> Option<&'a TensorInfo> {
    tensors.iter().find(|t| t.name.ends_with(suffix))
}

fn dim(tensor: Option<&TensorInfo>, axis: usize, what: &str) -> Option<(u64, String)> {
    let t = tensor?;
    let value = *t.shape.get(axis)?;
    Some((value, format!("{what} of {} {:?}", t.name, t.shape)))
}

impl Check for InspectAgreesWithTensors {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let artifact = apr_artifact(cx)?;
        let header = parse::inspect(&*cx.apr(&Invocation::inspect(&artifact)?)?)?.value;
        let listed = parse::tensors(&*cx.apr(&Invocation::tensors(&artifact, false)?)?)?.value;
        let tensors = &listed.tensors;
        let embedding = find(tensors, "embed_tokens.weight");
        let first_layer: Vec<&TensorInfo> = tensors
            .iter()
            .filter(|t| crate::common::layer_index(&t.name) == Some(0))
            .collect();
        let in_first = |suffix: &str| {
            first_layer
                .iter()
                .copied()
                .find(|t| t.name.ends_with(suffix))
        };
        let kv_heads = match (
            in_first("self_attn.k_proj.weight"),
            header.hidden_size,
            header.num_heads,
        ) {
            (Some(k), Some(hidden), Some(heads)) if heads > 0 && hidden % heads == 0 => {
                k.shape.first().map(|rows| {
                    (
                        rows / (hidden / heads),
                        format!(
                            "rows of {} {:?} / head size {}",
                            k.name,
                            k.shape,
                            hidden / heads
                        ),
                    )
                })
            }
            _ => None,
        };
        let (ff_tensor, ff_axis) = match in_first("mlp.up_proj.weight") {
            Some(up) => (Some(up), 0),
            None => (in_first("mlp.down_proj.weight"), 1),
        };
        let ff_what = if ff_axis == 0 { "rows" } else { "columns" };
        let relations = [
            Relation {
                field: "vocab_size",
                reported: header.vocab_size,
                from_tensors: dim(embedding, 0, "rows"),
                other_axis: other_axis(embedding, 0),
            },
            Relation {
                field: "vocab_size",
                reported: header.vocab_size,
                from_tensors: dim(find(tensors, "lm_head.weight"), 0, "rows"),
                other_axis: other_axis(find(tensors, "lm_head.weight"), 0),
            },
            Relation {
                field: "hidden_size",
                reported: header.hidden_size,
                from_tensors: dim(embedding, 1, "columns"),
                other_axis: other_axis(embedding, 1),
            },
            Relation {
                field: "num_layers",
                reported: header.num_layers,
                from_tensors: Some((
                    distinct_layers(tensors.iter().map(|t| t.name.as_str())) as u64,
                    "distinct layer indices in the tensor names".into(),
                )),
                other_axis: None,
            },
            Relation {
                field: "intermediate_size",
                reported: header.intermediate_size,
                from_tensors: dim(ff_tensor, ff_axis, ff_what),
                other_axis: other_axis(ff_tensor, ff_axis),
            },
            Relation {
                field: "num_kv_heads",
                reported: header.num_kv_heads,
                from_tensors: kv_heads,
                other_axis: None,
            },
            Relation {
                field: "tensor_count",
                reported: Some(header.tensor_count),
                from_tensors: Some((tensors.len() as u64, "tensors apr tensors lists".into())),
                other_axis: None,
            },
        ];
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        let mut compared = 0;
        for r in &relations {
            let (Some(reported), Some((actual, source))) = (r.reported, &r.from_tensors) else {
                rows.push(json!({ "field": r.field, "reported": r.reported, "compared": false }));
                continue;
            };
            compared += 1;
            rows.push(json!({
                "field": r.field, "reported": reported, "tensors": actual, "from": source,
                "compared": true,
            }));
            if reported != *actual {
                let transposed = if r.other_axis == Some(reported) {
                    format!(
                        " (its other axis is {reported}: the matrix is stored transposed for its name)"
                    )
                } else {
                    String::new()
                };
                problems.push(format!(
                    "{} {reported} but {source} says {actual}{transposed}",
                    r.field
                ));
            }
        }
        if compared == 0 {
            return Err(CheckError::NoEvidence(format!(
                "apr inspect and apr tensors of {} share no dimension to compare",
                artifact.display()
            )));
        }
        let message = if problems.is_empty() {
            format!(
                "all {compared} dimensions apr inspect reports agree with the {} tensors of the file",
                tensors.len()
            )
        } else {
            format!(
                "apr inspect contradicts the file's own tensors on {} of {compared} relations: {}",
                problems.len(),
                problems.join("; ")
            )
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(compared, "relations"),
            message,
        )
        .with_facts(json!({ "relations": rows })))
    }
}
