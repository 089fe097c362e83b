use crate::llama::{generate_text, inspect};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr's F32 GGUF export loads in llama.cpp, llama.cpp reads the model's architecture
    /// from it as the HF config states it (architecture, layers, heads, KV heads, width,
    /// vocabulary), and a first prompt decodes to finite logits. A GGUF only apr can read is
    /// not a GGUF; the reference project found apr exports llama.cpp refused. llama.cpp's own
    /// log says why it refused, and the message quotes it.
    pub LoadsAprGguf {
        code: "LLA001",
        name: "llamacpp-rejects-apr-gguf",
        suite: "llamacpp-loads-apr-gguf",
        scope: Scope::Model,
        summary: "llama.cpp loads apr's GGUF, reads the model's shape and decodes a prompt",
    }
}

impl Check for LoadsAprGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let info = match inspect(&gguf)? {
            Ok(info) => info,
            Err(reason) => {
                return Ok(Verdict::fail(
                    Evidence::new(1, "loads"),
                    format!("llama.cpp refuses apr's GGUF: {reason}"),
                ));
            }
        };
        let f = &model.facts;
        let facts: [(&str, String, String); 6] = [
            (
                "architecture",
                f.architecture.clone(),
                info.architecture.clone(),
            ),
            ("layers", f.layers.to_string(), info.n_layer.to_string()),
            ("heads", f.heads.to_string(), info.n_head.to_string()),
            (
                "kv_heads",
                f.kv_heads.to_string(),
                info.n_head_kv.to_string(),
            ),
            ("hidden", f.hidden.to_string(), info.n_embd.to_string()),
            ("vocab", f.vocab.to_string(), info.n_vocab.to_string()),
        ];
        let wrong: Vec<String> = facts
            .iter()
            .filter(|(_, config, read)| config != read)
            .map(|(name, config, read)| format!("{name}: config {config}, llama.cpp read {read}"))
            .collect();
        // The native GGUF, when there is one, shows what llama.cpp's own converter writes.
        let native = cx
            .artifact(ArtifactKind::Native(NativeGguf::F32))
            .ok()
            .and_then(|p| inspect(&p).ok().and_then(Result::ok));
        let mut details = json!({ "apr_gguf": info.as_ref(), "native_gguf": native.as_deref() });
        if !wrong.is_empty() {
            return Ok(Verdict::fail(
                Evidence::new(facts.len() + 1, "facts"),
                format!(
                    "llama.cpp loads apr's GGUF but reads another model from it: {}",
                    wrong.join("; ")
                ),
            )
            .with_facts(details));
        }
        let Some(prompt) = cx.prompts().first() else {
            return Err(CheckError::NoEvidence("no prompt to decode".into()));
        };
        let decoded = generate_text(&gguf, &prompt.text, cx.max_new_tokens())?;
        let decode_problem = match &decoded {
            Err(reason) => Some(format!("decoding prompt `{}` fails: {reason}", prompt.name)),
            Ok(g) => g.non_finite_at.map(|step| {
                format!(
                    "decoding prompt `{}` gives non-finite logits at step {step}",
                    prompt.name
                )
            }),
        };
        if let Ok(g) = &decoded {
            details["decoded"] =
                json!({ "prompt": prompt.name, "prompt_ids": g.prompt_ids, "tokens": g.tokens });
        }
        let evidence = Evidence::new(facts.len() + 2, "facts");
        Ok(match decode_problem {
            Some(problem) => Verdict::fail(
                evidence,
                format!("llama.cpp loads apr's GGUF with the right shape, but {problem}"),
            ),
            None => Verdict::pass(
                evidence,
                format!(
                    "llama.cpp loads apr's GGUF ({}, {} layers, {} heads / {} KV, width {}, vocabulary {}) and decodes prompt `{}`",
                    info.architecture,
                    info.n_layer,
                    info.n_head,
                    info.n_head_kv,
                    info.n_embd,
                    info.n_vocab,
                    prompt.name
                ),
            ),
        }
        .with_facts(details))
    }
}
