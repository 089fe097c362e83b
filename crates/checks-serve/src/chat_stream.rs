use crate::chat::{ask, body};
use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use std::collections::BTreeSet;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// A streamed chat is the reply it streams: the first chunk names the assistant role, the
    /// content deltas concatenate to the non-streamed message, exactly one chunk (the last)
    /// carries a `finish_reason` equal to the reply's, one id throughout, `[DONE]` at the end.
    /// Chat clients render the stream and store the message; the two must be one text.
    pub ChatStream {
        code: "SRV009",
        name: "serve-chat-stream-differs-from-response",
        suite: "serve",
        scope: Scope::Model,
        summary: "a streamed chat equals the non-streamed reply, chunk protocol included",
    }
}

impl Check for ChatStream {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let mut problems = Vec::new();
    for prompt in cx.prompts() {
        let asked = body(&prompt.text, cx.max_new_tokens(), 0);
        let (_, whole) = ask(&client, &mut transcript, &asked)?;
        let want = whole
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        let want_finish = whole.choices.first().and_then(|c| c.finish_reason.clone());
        let mut streamed = asked.clone();
        streamed["stream"] = json!(true);
        let (exchange, events) = client.stream("/v1/chat/completions", &streamed, None)?;
        transcript.keep(&exchange);
        let mut say = |p: String| problems.push(format!("`{}`: {p}", prompt.name));
        if events.last().map(|e| e.data.as_str()) != Some("[DONE]") {
            say("the stream does not end with [DONE]".into());
        }
        let chunks = events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| api::chat_chunk(&e.data).map(|c| c.value))
            .collect::<Result<Vec<_>, _>>()?;
        let first_role = chunks
            .first()
            .and_then(|c| c.choices.first())
            .and_then(|c| c.delta.role.clone());
        if first_role.as_deref() != Some("assistant") {
            say(format!(
                "the first chunk's role is {first_role:?}, not \"assistant\""
            ));
        }
        let text: String = chunks
            .iter()
            .flat_map(|c| {
                c.choices
                    .iter()
                    .filter_map(|ch| ch.delta.content.as_deref())
            })
            .collect();
        if text != want {
            say(format!(
                "the deltas concatenate to {text:?}, the reply is {want:?}"
            ));
        }
        let finishing: Vec<usize> = chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.choices.iter().any(|ch| ch.finish_reason.is_some()))
            .map(|(i, _)| i)
            .collect();
        match finishing.as_slice() {
            [only] if *only + 1 == chunks.len() => {
                let got = chunks[*only].choices[0].finish_reason.clone();
                if got != want_finish {
                    say(format!(
                        "the stream finishes {got:?}, the reply {want_finish:?}"
                    ));
                }
            }
            other => say(format!(
                "{} chunks carry a finish_reason (at {other:?} of {}), not exactly the last",
                other.len(),
                chunks.len()
            )),
        }
        let ids: BTreeSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        if ids.len() != 1 {
            say(format!("{} ids across one stream", ids.len()));
        }
    }
    let message = if problems.is_empty() {
        "every prompt's chat stream equals its reply: role first, text, one finish_reason, one id, [DONE]".to_string()
    } else {
        problems.join("; ")
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(cx.prompts().len(), "prompts"),
        message,
    )
    .kept(&transcript, json!({})))
}
