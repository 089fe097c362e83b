//! apr's other sampling surfaces, `apr chat` and `apr run --batch-jsonl`, fed the single-turn
//! conversations of the model's first chat template on a GGUF that carries it.

use apr_client::{ChatRequest, Invocation, Sampling, parse};
use checks_chat::cases::{self, TemplateCases};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context};
use tmgt_oracle::Oracle;

/// The model's first chat template, the GGUF carrying it, and its single-turn conversations.
pub struct Conversations {
    pub template: TemplateCases,
    pub gguf: PathBuf,
    /// `apr run --batch-jsonl`'s input, one line per conversation.
    pub batch_file: PathBuf,
    /// Tokens per answer: as many as the chat oracles hold.
    pub tokens: u32,
}

impl Conversations {
    pub fn of(cx: &dyn Context) -> Result<Conversations, CheckError> {
        let template = cases::templates(cx)?.into_iter().next().ok_or_else(|| {
            CheckError::NoEvidence("the model's entry names no chat template".into())
        })?;
        let turns = cases::single_turns(&template);
        let Some((_, _, first)) = turns.first() else {
            return Err(CheckError::NoEvidence(format!(
                "template `{}` has no single-user-turn conversation",
                template.template.name
            )));
        };
        let tokens = u32::try_from(first.max_new_tokens).unwrap_or(u32::MAX);
        let gguf = cases::grafted(cx, &template)?;
        let batch_file = gguf.with_extension("jsonl");
        let lines: Vec<(&str, &str)> = turns.iter().map(|(c, t, _)| (*c, *t)).collect();
        cases::write_batch(&batch_file, &lines)?;
        Ok(Conversations {
            template,
            gguf,
            batch_file,
            tokens,
        })
    }

    /// Each conversation's name, its user turn and HF's oracle of its rendering.
    pub fn turns(&self) -> Vec<(&str, &str, &Oracle)> {
        cases::single_turns(&self.template)
    }

    /// The batch's answer to each conversation, by name (a failed prompt's as its error).
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

    /// `apr chat`'s reply to one user turn at `temperature` and `top_p`.
    pub fn chat(
        &self,
        cx: &dyn Context,
        content: &str,
        temperature: f64,
        top_p: Option<f64>,
    ) -> Result<String, CheckError> {
        chat_reply(cx, &self.gguf, content, self.tokens, temperature, top_p)
    }
}

fn chat_reply(
    cx: &dyn Context,
    gguf: &Path,
    content: &str,
    tokens: u32,
    temperature: f64,
    top_p: Option<f64>,
) -> Result<String, CheckError> {
    let invocation = ChatRequest::new(gguf, &[content.to_string()])
        .max_tokens(tokens)
        .temperature(temperature)
        .top_p(top_p)
        .build()?;
    let turns = parse::chat(&*cx.apr(&invocation)?)?.value;
    turns
        .into_iter()
        .next()
        .map(|t| t.reply)
        .ok_or_else(|| CheckError::Schema {
            command: "chat".into(),
            detail: format!("no reply to {content:?}"),
        })
}

/// Whether HF's continuation passes a margin under `margin` (where a flip at temperature 1e-3
/// is allowed).
pub fn passes_near_tie(oracle: &Oracle, margin: f64) -> bool {
    oracle.steps.iter().flatten().any(|s| s.margin < margin)
}
