//! A completion request as the completion checks send it: a raw prompt, greedy.

use crate::serving::Transcript;
use apr_serve::api::{Completion, completion};
use apr_serve::{Client, Reply, ServeError};
use serde_json::{Value, json};

/// A greedy `/v1/completions` body; checks add what their request needs on top.
pub(crate) fn body(prompt: &str, max_tokens: u32) -> Value {
    json!({ "model": "default", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0 })
}

/// The reply to `body` on `/v1/completions`, kept in `transcript`.
pub(crate) fn complete(
    client: &Client<'_>,
    transcript: &mut Transcript,
    body: &Value,
) -> Result<(Reply, Completion), ServeError> {
    let reply = client.post_json("/v1/completions", body)?;
    transcript.keep(&reply.exchange);
    let parsed = completion(&reply)?.value;
    Ok((reply, parsed))
}
