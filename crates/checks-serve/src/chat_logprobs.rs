use crate::chat::{ask, body};
use crate::serving::{Kept, Session, apr_f32};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The alternatives asked for at each step.
const TOP: u32 = 5;

declare_check! {
    /// A greedy chat's log-probs describe its reply: one entry per completion token (as usage
    /// counts them), entry tokens that concatenate to the content, log-probabilities at most
    /// 0, five alternatives in descending order, and the chosen token the most likely one at
    /// temperature 0. Clients score, highlight and verify replies with these; entries that do
    /// not line up with the text mislead every one of them.
    pub ChatLogprobs {
        code: "SRV017",
        name: "serve-chat-logprobs-inconsistent",
        suite: "serve",
        scope: Scope::Model,
        summary: "chat log-probs have one entry per token, concatenate to the reply, and rank the greedy choice first",
    }
}

impl Check for ChatLogprobs {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let (mut problems, mut entries) = (Vec::new(), 0);
    for prompt in cx.prompts() {
        let (reply, chat) = ask(
            &client,
            &mut transcript,
            &body(&prompt.text, cx.max_new_tokens(), TOP),
        )?;
        let mut say = |p: String| problems.push(format!("`{}`: {p}", prompt.name));
        let Some(choice) = chat.choices.first() else {
            say("no choice".into());
            continue;
        };
        let Some(logprobs) = &choice.logprobs else {
            say(format!(
                "no logprobs in a {} reply that asked for them",
                reply.status
            ));
            continue;
        };
        let content = choice.message.content.clone().unwrap_or_default();
        entries += logprobs.content.len();
        if let Some(u) = chat.usage
            && u.completion_tokens != logprobs.content.len() as u64
        {
            say(format!(
                "{} entries for {} completion tokens",
                logprobs.content.len(),
                u.completion_tokens
            ));
        }
        let joined: String = logprobs.content.iter().map(|t| t.token.as_str()).collect();
        if joined != content {
            say(format!(
                "the entries' tokens concatenate to {joined:?}, the content is {content:?}"
            ));
        }
        for (step, t) in logprobs.content.iter().enumerate() {
            if t.logprob > 0.0 || t.logprob.is_nan() {
                say(format!("step {step}: log-prob {}", t.logprob));
            }
            let descending = t
                .top_logprobs
                .windows(2)
                .all(|w| w[0].logprob >= w[1].logprob);
            if !descending || t.top_logprobs.len() != TOP as usize {
                say(format!(
                    "step {step}: {} alternatives{}",
                    t.top_logprobs.len(),
                    if descending {
                        ""
                    } else {
                        ", not in descending order"
                    }
                ));
            }
            if let Some(best) = t.top_logprobs.first()
                && best.logprob > t.logprob + 1e-6
            {
                say(format!(
                    "step {step}: greedy chose {:?} ({}) over the likelier {:?} ({})",
                    t.token, t.logprob, best.token, best.logprob
                ));
            }
        }
    }
    problems.truncate(12);
    let message = if problems.is_empty() {
        format!(
            "{entries} log-prob entries over {} prompts line up with their replies",
            cx.prompts().len()
        )
    } else {
        problems.join("; ")
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(entries.max(cx.prompts().len()), "log-prob entries"),
        message,
    )
    .kept(&transcript, json!({})))
}
