use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use std::collections::BTreeSet;
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
        let body = json!({ "model": "default", "prompt": prompt.text, "max_tokens": cx.max_new_tokens(), "temperature": 0 });
        let reply = client.post_json("/v1/completions", &body)?;
        transcript.keep(&reply.exchange);
        let whole = api::completion(&reply)?.value;
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let (exchange, events) = client.stream("/v1/completions", &streamed, None)?;
        transcript.keep(&exchange);
        let mut say = |p: String| problems.push(format!("`{}`: {p}", prompt.name));
        if events.last().map(|e| e.data.as_str()) != Some("[DONE]") {
            say("the stream does not end with [DONE]".into());
        }
        let chunks = events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| api::completion_chunk(&e.data).map(|c| c.value))
            .collect::<Result<Vec<_>, _>>()?;
        chunks_seen += chunks.len();
        let text: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter().map(|ch| ch.text.as_str()))
            .collect();
        let want = whole.choices.first().map(|c| c.text.as_str()).unwrap_or("");
        if text != want {
            say(format!(
                "the deltas concatenate to {text:?}, the response is {want:?}"
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
                let want = whole.choices.first().and_then(|c| c.finish_reason.clone());
                if got != want {
                    say(format!(
                        "the stream finishes {got:?}, the response {want:?}"
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
        let usage = chunks.iter().rev().find_map(|c| c.usage);
        if usage != whole.usage {
            say(format!(
                "the stream's usage {usage:?}, the response's {:?}",
                whole.usage
            ));
        }
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
