//! The model's chat templates with the conversations their oracles hold, and the GGUF that
//! carries each template.

use apr_client::{Invocation, Sampling, parse};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tmgt_check::{ArtifactKind, ChatTemplate, CheckError, Context, NativeGguf};
use tmgt_oracle::{ChatCase, Dialogue, Oracle};

/// One template of the model's entry, its text, and its oracles' conversations and dialogues.
#[derive(Debug)]
pub struct TemplateCases {
    pub template: ChatTemplate,
    pub text: String,
    pub cases: Vec<ChatCase>,
    pub dialogues: Vec<Dialogue>,
}

/// Every template of the model's `chat_templates` with its cases and dialogues, each oracle
/// checked against the model files it was made from and the template text it rendered.
pub fn templates(cx: &dyn Context) -> Result<Vec<TemplateCases>, CheckError> {
    let model = cx.model()?;
    if model.chat_templates.is_empty() {
        return Err(CheckError::OutsideEntry(format!(
            "{} lists no chat templates (`chat_templates`)",
            model.name
        )));
    }
    let mut out = Vec::new();
    for template in &model.chat_templates {
        let bytes =
            std::fs::read(&template.file).map_err(|e| CheckError::file(&template.file, e))?;
        let digest = tmgt_oracle::sha256_hex(&bytes);
        let text = String::from_utf8(bytes).map_err(|e| CheckError::file(&template.file, e))?;
        let unreadable = |e: tmgt_oracle::OracleError| CheckError::Input {
            what: format!(
                "the chat oracles of {} with template `{}`",
                model.name, template.name
            ),
            reason: format!("{e}; make them with `tmgt oracle {}`", model.name),
        };
        let cases =
            tmgt_oracle::chat_cases(&model.oracle_dir, &template.name).map_err(unreadable)?;
        let dialogues =
            tmgt_oracle::dialogues(&model.oracle_dir, &template.name).map_err(unreadable)?;
        for case in cases.iter().chain(dialogues.iter().flat_map(|d| &d.turns)) {
            if case.template_sha256() != digest {
                return Err(CheckError::Input {
                    what: template.file.display().to_string(),
                    reason: format!(
                        "the chat oracle `{}/{}` rendered another text of this template (sha256 \
                         {}, the file's is {digest}); remake it with `tmgt oracle {}`",
                        template.name,
                        case.conversation(),
                        case.template_sha256(),
                        model.name
                    ),
                });
            }
            if let (ChatCase::Rendered(rendered), Some(dir)) = (case, model.local_dir()) {
                rendered.oracle.verify_model(dir)?;
            }
        }
        out.push(TemplateCases {
            template: template.clone(),
            text,
            cases,
            dialogues,
        });
    }
    Ok(out)
}

/// A copy of llama.cpp's F32 GGUF of the model with `tokenizer.chat_template` set to the
/// template, in the instance's scratch folder, named after neither "chat" nor "instruct" (apr
/// templates a raw prompt whose path holds either).
pub fn grafted(cx: &dyn Context, cases: &TemplateCases) -> Result<PathBuf, CheckError> {
    let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
    let source = tmgt_gguf::GgufFile::open(&native).map_err(|e| CheckError::file(&native, e))?;
    let index = cx
        .model()?
        .chat_templates
        .iter()
        .position(|t| t.name == cases.template.name)
        .unwrap_or_default();
    let out = cx.scratch_dir()?.join(format!("template-{index}.gguf"));
    let key = "tokenizer.chat_template".to_string();
    tmgt_gguf::copy_with_metadata(&source, &out, |metadata| {
        let value = tmgt_gguf::Value::String(cases.text.clone());
        match metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => metadata.push((key, value)),
        }
    })
    .map_err(|e| CheckError::file(&out, e))?;
    Ok(out)
}

/// The line where apr says its renderer failed and it used a built-in template instead (not
/// its other fallbacks, such as a tokenizer's).
pub fn fallback_line(stderr: &[u8]) -> Option<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("template")
                && (l.contains("falling back") || l.contains("fall back") || l.contains("fallback"))
        })
        .map(|l| l.trim().to_string())
}

/// The rendered single-user-turn conversations of a template, with their text.
pub fn single_turns(cases: &TemplateCases) -> Vec<(&str, &str, &Oracle)> {
    cases
        .cases
        .iter()
        .filter_map(|case| match (case, case.single_user_turn()) {
            (ChatCase::Rendered(r), Some(content)) => {
                Some((case.conversation(), content, &r.oracle))
            }
            _ => None,
        })
        .collect()
}

/// Whether `apr chat` can send `content` as one turn: it reads one trimmed line per turn and
/// takes a line starting with `/` as a command.
pub fn one_chat_line(content: &str) -> bool {
    !content.is_empty()
        && content.trim() == content
        && !content.contains(['\n', '\r'])
        && !content.starts_with('/')
}

/// A template's grafted GGUF with the batch input of some of its single-turn conversations:
/// what every check sending them to apr's surfaces shares.
#[derive(Debug)]
pub struct Grafted {
    pub gguf: PathBuf,
    /// `apr run --batch-jsonl`'s input: one `{"prompt", "task_id"}` line per conversation.
    pub batch_file: PathBuf,
    /// Tokens per answer: as many as the chat oracles hold.
    pub tokens: u32,
}

impl Grafted {
    /// The GGUF carrying `template`, and the batch input of `turns` (none: no conversation to
    /// send).
    pub fn of(
        cx: &dyn Context,
        template: &TemplateCases,
        turns: &[(&str, &str, &Oracle)],
    ) -> Result<Option<Grafted>, CheckError> {
        let Some((_, _, first)) = turns.first() else {
            return Ok(None);
        };
        let gguf = grafted(cx, template)?;
        let batch_file = gguf.with_extension("jsonl");
        let lines: String = turns
            .iter()
            .map(|(name, content, _)| {
                serde_json::json!({ "prompt": content, "task_id": name }).to_string() + "\n"
            })
            .collect();
        std::fs::write(&batch_file, lines).map_err(|e| CheckError::file(&batch_file, e))?;
        Ok(Some(Grafted {
            gguf,
            batch_file,
            tokens: u32::try_from(first.max_new_tokens).unwrap_or(u32::MAX),
        }))
    }

    /// `apr run --batch-jsonl`'s answer to each conversation, by name (a failed prompt's as
    /// `[error: ...]`).
    pub fn batch(
        &self,
        cx: &dyn Context,
        sampling: &Sampling,
    ) -> Result<BTreeMap<String, String>, CheckError> {
        let invocation =
            Invocation::run_batch(&self.gguf, &self.batch_file, self.tokens, sampling)?;
        let answers = parse::run_batch(&*cx.apr(&invocation)?)?.value;
        Ok(answers
            .into_iter()
            .map(|a| {
                let text = match (a.text, a.error) {
                    (_, Some(error)) => format!("[error: {error}]"),
                    (text, None) => text.unwrap_or_default(),
                };
                (a.task_id, text)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::fallback_line;

    #[test]
    fn only_a_template_fallback_counts() {
        let renderer = b"warning: the model's own chat template failed to render (x); falling \
            back to apr's built-in template, which may not match\n";
        assert!(fallback_line(renderer).is_some());
        let tokenizer = b"warning: byte-level BPE tokenizer: pre-tokenizer 'smollm' is not \
            implemented; falling back to greedy longest-match\n";
        assert_eq!(fallback_line(tokenizer), None);
    }
}
