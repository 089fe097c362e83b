use crate::chat::{ask, body};
use crate::serving::{Kept, Session, apr_f32};
use crate::stream_protocol::{self, Chunk};
use apr_serve::api;
use serde_json::json;
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
        let reply = whole.choices.first();
        let (done, chunks) = stream_protocol::stream_of(
            &client,
            &mut transcript,
            "/v1/chat/completions",
            &asked,
            api::chat_chunk,
        )?;
        let seen: Vec<Chunk<'_>> = chunks
            .iter()
            .map(|c| Chunk {
                id: &c.id,
                text: c
                    .choices
                    .first()
                    .and_then(|ch| ch.delta.content.as_deref())
                    .unwrap_or(""),
                finish_reason: c.choices.first().and_then(|ch| ch.finish_reason.as_deref()),
            })
            .collect();
        let mut found = stream_protocol::problems(
            done,
            &seen,
            reply
                .and_then(|c| c.message.content.as_deref())
                .unwrap_or(""),
            reply.and_then(|c| c.finish_reason.as_deref()),
        );
        let first_role = chunks
            .first()
            .and_then(|c| c.choices.first())
            .and_then(|c| c.delta.role.clone());
        if first_role.as_deref() != Some("assistant") {
            found.push(format!(
                "the first chunk's role is {first_role:?}, not \"assistant\""
            ));
        }
        problems.extend(found.into_iter().map(|p| format!("`{}`: {p}", prompt.name)));
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
