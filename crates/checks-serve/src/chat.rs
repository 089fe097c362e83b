//! A chat request as every chat check sends it: one user turn, greedy, with log-probs so the
//! reply's token ids can be compared.

use crate::serving::Transcript;
use apr_serve::api::{ChatCompletion, chat};
use apr_serve::{Client, Reply};
use serde_json::{Value, json};
use tmgt_check::CheckError;

/// `top_logprobs` 0: no log-probs asked for (OpenAI takes `top_logprobs` only with them).
pub(crate) fn body(prompt: &str, max_tokens: u32, top_logprobs: u32) -> Value {
    let mut body = json!({
        "model": "default",
        "messages": [{ "role": "user", "content": prompt }],
        "max_tokens": max_tokens,
        "temperature": 0,
    });
    if top_logprobs > 0 {
        body["logprobs"] = json!(true);
        body["top_logprobs"] = json!(top_logprobs);
    }
    body
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
