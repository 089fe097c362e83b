//! A chat request as every chat check sends it: one user turn, greedy, with log-probs so the
//! reply's token ids can be compared.

use crate::serving::Transcript;
use apr_serve::api::{ChatCompletion, chat};
use apr_serve::{Client, Reply};
use serde_json::{Value, json};
use tmgt_check::CheckError;

/// One user turn, greedy (`top_logprobs` 0: no log-probs asked for).
pub(crate) fn body(prompt: &str, max_tokens: u32, top_logprobs: u32) -> Value {
    apr_serve::api::chat_body(
        &json!([{ "role": "user", "content": prompt }]),
        max_tokens,
        top_logprobs,
    )
}

/// The reply to `body`, kept in `transcript`.
pub(crate) fn ask(
    client: &Client<'_>,
    transcript: &mut Transcript,
    body: &Value,
) -> Result<(Reply, ChatCompletion), CheckError> {
    let reply = client.post_json("/v1/chat/completions", body)?;
    transcript.keep(&reply.exchange);
    let parsed = chat(&reply)?.value;
    Ok((reply, parsed))
}
