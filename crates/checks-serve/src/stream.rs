use crate::completion;
use crate::serving::{Kept, Session, apr_f32};
use crate::stream_protocol::{self, Chunk};
use apr_serve::api;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// A streamed `/v1/completions` is the response it streams: the deltas concatenate to the
    /// non-streamed text, exactly one chunk carries a `finish_reason` (the last, equal to the
    /// response's), every chunk has the same id, the stream ends with `[DONE]`, and its usage
    /// equals the response's. Clients render the stream and log the response; a server whose
    /// two disagree shows users one text and stores another.
    pub StreamVersusResponse {
        code: "SRV010",
        name: "serve-stream-differs-from-response",
        suite: "serve",
        scope: Scope::Model,
        summary: "a streamed completion equals the non-streamed one, chunk protocol included",
    }
}

impl Check for StreamVersusResponse {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let mut problems = Vec::new();
    let mut chunks_seen = 0;
    for prompt in cx.prompts() {
        let body = completion::body(&prompt.text, cx.max_new_tokens());
        let (_, whole) = completion::complete(&client, &mut transcript, &body)?;
        let (done, chunks) = stream_protocol::stream_of(
            &client,
            &mut transcript,
            "/v1/completions",
            &body,
            api::completion_chunk,
        )?;
        chunks_seen += chunks.len();
        let seen: Vec<Chunk<'_>> = chunks
            .iter()
            .map(|c| Chunk {
                id: &c.id,
                text: c.choices.first().map_or("", |ch| ch.text.as_str()),
                finish_reason: c.choices.first().and_then(|ch| ch.finish_reason.as_deref()),
            })
            .collect();
        let reply = whole.choices.first();
        let mut found = stream_protocol::problems(
            done,
            &seen,
            reply.map_or("", |c| c.text.as_str()),
            reply.and_then(|c| c.finish_reason.as_deref()),
        );
        let usage = chunks.iter().rev().find_map(|c| c.usage);
        if usage != whole.usage {
            found.push(format!(
                "the stream's usage {usage:?}, the reply's {:?}",
                whole.usage
            ));
        }
        problems.extend(found.into_iter().map(|p| format!("`{}`: {p}", prompt.name)));
    }
    let message = if problems.is_empty() {
        format!(
            "every prompt's stream ({chunks_seen} chunks) equals its response: text, one finish_reason, one id, [DONE], usage"
        )
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
