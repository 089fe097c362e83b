use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr inspect` of the `.apr` reports the architecture, layer count, attention heads,
    /// key/value heads, hidden size and vocabulary size that the model's config.json states.
    /// These numbers are what apr's loaders size every buffer from; a wrong one means the
    /// import misread the model. A field apr leaves out fails, naming the field. apr 0.72.3
    /// reports the key/value heads only inside `metadata` (`num_kv_heads`).
    pub InspectMetadata {
        code: "INS001",
        name: "inspect-metadata-mismatch",
        suite: "inspect",
        scope: Scope::ModelQuant,
        summary: "apr inspect reports the model's architecture and dimensions",
    }
}

impl Check for InspectMetadata {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let facts = &cx.model()?.facts;
        let reply = parse::inspect(&*cx.apr(&Invocation::inspect(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "inspect", &["metadata"])?;
        let out = reply.value;
        let numbers = [
            ("num_layers", out.num_layers, facts.layers),
            ("num_heads", out.num_heads, facts.heads),
            ("num_kv_heads", out.num_kv_heads, facts.kv_heads),
            ("hidden_size", out.hidden_size, facts.hidden),
            ("vocab_size", out.vocab_size, facts.vocab),
        ];
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        match &out.architecture {
            Some(a) if a.eq_ignore_ascii_case(&facts.architecture) => {}
            Some(a) => problems.push(format!(
                "architecture {a:?} (expected {:?})",
                facts.architecture
            )),
            None => problems.push("architecture missing".to_string()),
        }
        rows.push(json!({ "field": "architecture", "expected": facts.architecture, "apr": out.architecture }));
        for (field, got, expected) in numbers {
            rows.push(json!({ "field": field, "expected": expected, "apr": got }));
            match got {
                Some(v) if v == expected as u64 => {}
                Some(v) => problems.push(format!("{field} {v} (expected {expected})")),
                None => problems.push(format!("{field} missing")),
            }
        }
        let evidence = Evidence::new(rows.len(), "fields");
        let message = if problems.is_empty() {
            format!(
                "{} {} layers, {} heads / {} kv, hidden {}, vocab {}: all {} fields as config.json states",
                facts.architecture,
                facts.layers,
                facts.heads,
                facts.kv_heads,
                facts.hidden,
                facts.vocab,
                rows.len()
            )
        } else {
            format!(
                "apr inspect disagrees with config.json on {} of {} fields: {}",
                problems.len(),
                rows.len(),
                problems.join(", ")
            )
        };
        Ok(Verdict::judge(problems.is_empty(), evidence, message)
            .with_facts(json!({ "fields": rows })))
    }
}
