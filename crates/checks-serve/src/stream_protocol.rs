//! What every OpenAI stream owes its client, whatever the route: `[DONE]` at the end, one
//! `finish_reason` on the last chunk and equal to the reply's, one id throughout, the text of
//! the reply.

use crate::serving::Transcript;
use apr_serve::api::Typed;
use apr_serve::{Client, ServeError};
use serde_json::{Value, json};
use tmgt_check::CheckError;

/// `body` sent again to `path` as a stream, each chunk parsed by `parse`: whether the stream
/// ended with `[DONE]`, and the chunks before it.
pub(crate) fn stream_of<T>(
    client: &Client<'_>,
    transcript: &mut Transcript,
    path: &str,
    body: &Value,
    parse: fn(&str) -> Result<Typed<T>, ServeError>,
) -> Result<(bool, Vec<T>), CheckError> {
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (exchange, events) = client.stream(path, &streamed, None)?;
    transcript.keep(&exchange);
    let done = events.last().map(|e| e.data.as_str()) == Some("[DONE]");
    let chunks = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| parse(&e.data).map(|c| c.value))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((done, chunks))
}

/// One chunk, as the protocol sees it.
pub(crate) struct Chunk<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub finish_reason: Option<&'a str>,
}

/// The stream's departures from the reply it streams (`reply_text`, `reply_finish`).
pub(crate) fn problems(
    ended_with_done: bool,
    chunks: &[Chunk<'_>],
    reply_text: &str,
    reply_finish: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if !ended_with_done {
        out.push("the stream does not end with [DONE]".to_string());
    }
    let text: String = chunks.iter().map(|c| c.text).collect();
    if text != reply_text {
        out.push(format!(
            "the deltas concatenate to {text:?}, the reply is {reply_text:?}"
        ));
    }
    let finishing: Vec<usize> = (0..chunks.len())
        .filter(|&i| chunks[i].finish_reason.is_some())
        .collect();
    match finishing.as_slice() {
        [only] if *only + 1 == chunks.len() => {
            let got = chunks[*only].finish_reason;
            if got != reply_finish {
                out.push(format!(
                    "the stream finishes {got:?}, the reply {reply_finish:?}"
                ));
            }
        }
        other => out.push(format!(
            "{} chunks carry a finish_reason (at {other:?} of {}), not exactly the last",
            other.len(),
            chunks.len()
        )),
    }
    let mut ids: Vec<&str> = chunks.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != 1 {
        out.push(format!("{} ids across one stream", ids.len()));
    }
    out
}
