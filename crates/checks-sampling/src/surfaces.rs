//! apr's other sampling surfaces, `apr chat` and `apr run --batch-jsonl`, fed the single-turn
//! conversations of the model's first chat template on a GGUF that carries it.

use apr_client::{ChatRequest, Sampling, parse};
use checks_chat::cases::{self, Grafted, TemplateCases};
use std::collections::BTreeMap;
use tmgt_check::{CheckError, Context};
use tmgt_oracle::Oracle;

/// The model's first chat template, its grafted GGUF and batch input.
pub struct Conversations {
    pub template: TemplateCases,
    pub grafted: Grafted,
}

impl Conversations {
    pub fn of(cx: &dyn Context) -> Result<Conversations, CheckError> {
        let template = cases::templates(cx)?.into_iter().next().ok_or_else(|| {
            CheckError::NoEvidence("the model's entry names no chat template".into())
        })?;
        let grafted =
            Grafted::of(cx, &template, &cases::single_turns(&template))?.ok_or_else(|| {
                CheckError::NoEvidence(format!(
                    "template `{}` has no single-user-turn conversation",
                    template.template.name
                ))
            })?;
        Ok(Conversations { template, grafted })
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
        self.grafted.batch(cx, sampling)
    }

    /// `apr chat`'s reply to one user turn at `temperature` and `top_p`.
    pub fn chat(
        &self,
        cx: &dyn Context,
        content: &str,
        temperature: f64,
        top_p: Option<f64>,
    ) -> Result<String, CheckError> {
        let invocation = ChatRequest::new(&self.grafted.gguf, &[content.to_string()])
            .max_tokens(self.grafted.tokens)
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
}

/// Whether HF's continuation passes a margin under `margin` (where a flip at temperature 1e-3
/// is allowed).
pub fn passes_near_tie(oracle: &Oracle, margin: f64) -> bool {
    oracle.steps.iter().flatten().any(|s| s.margin < margin)
}
