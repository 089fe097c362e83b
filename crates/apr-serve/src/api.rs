//! The routes tmgt uses, typed. Each answer is parsed strictly for the fields tmgt reads and
//! leniently for the rest: a field the API does not list is a fact in the result, a missing
//! one an error naming it.

use crate::error::ServeError;
use crate::http::Reply;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// `POST /tokenize`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tokenized {
    pub token_ids: Vec<u32>,
    pub num_tokens: usize,
}

/// `POST /generate`: the prompt's ids followed by the generated ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Generated {
    pub token_ids: Vec<u32>,
    pub text: String,
    pub num_generated: usize,
}

/// `POST /v1/completions`, and each chunk of its stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Completion {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Choice {
    pub text: String,
    pub index: u32,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatChoice {
    pub index: u32,
    pub message: ChatMessage,
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<ChatLogprobs>,
}

impl ChatCompletion {
    /// The first choice's generated ids (see [`ChatChoice::token_ids`]).
    pub fn token_ids(&self) -> Option<Vec<u32>> {
        self.choices.first()?.token_ids()
    }
}

impl ChatChoice {
    /// The generated ids, read from the log-probs (apr's `token_id` extension); `None` where
    /// the reply has no log-probs or an entry lacks its id.
    pub fn token_ids(&self) -> Option<Vec<u32>> {
        self.logprobs
            .as_ref()?
            .content
            .iter()
            .map(|t| t.token_id)
            .collect()
    }
}

/// A greedy `/v1/chat/completions` body for OpenAI `messages`; `top_logprobs` 0 asks for no
/// log-probs (OpenAI takes `top_logprobs` only with them).
pub fn chat_body(
    messages: &serde_json::Value,
    max_tokens: u32,
    top_logprobs: u32,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "model": "default",
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
    });
    if top_logprobs > 0 {
        body["logprobs"] = serde_json::json!(true);
        body["top_logprobs"] = serde_json::json!(top_logprobs);
    }
    body
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: Option<String>,
}

/// OpenAI's `logprobs.content`: one entry per completion token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatLogprobs {
    pub content: Vec<TokenLogprob>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    /// apr's extension: the token's id.
    #[serde(default)]
    pub token_id: Option<u32>,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
    #[serde(default)]
    pub token_id: Option<u32>,
}

/// One chunk of a streamed chat completion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    pub choices: Vec<ChatDelta>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatDelta {
    pub delta: Delta,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delta {
    pub role: Option<String>,
    pub content: Option<String>,
}

/// `/v1/completions` with `logprobs`: OpenAI's legacy shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<Option<f64>>,
}

/// A parsed answer and the top-level fields it carried that the API does not list.
#[derive(Debug, Clone)]
pub struct Typed<T> {
    pub value: T,
    pub unknown_fields: Vec<String>,
}

const CHAT: &[&str] = &["id", "object", "created", "model", "choices", "usage"];

pub fn chat(reply: &Reply) -> Result<Typed<ChatCompletion>, ServeError> {
    typed(reply, CHAT)
}

/// One streamed chat chunk's data.
pub fn chat_chunk(data: &str) -> Result<Typed<ChatChunk>, ServeError> {
    parse(data, "a /v1/chat/completions stream chunk", CHAT)
}

/// Fields the routes' answers are documented with.
const TOKENIZED: &[&str] = &["token_ids", "num_tokens"];
const GENERATED: &[&str] = &["token_ids", "text", "num_generated"];
const COMPLETION: &[&str] = &["id", "object", "created", "model", "choices", "usage"];

pub fn tokenized(reply: &Reply) -> Result<Typed<Tokenized>, ServeError> {
    typed(reply, TOKENIZED)
}

pub fn generated(reply: &Reply) -> Result<Typed<Generated>, ServeError> {
    typed(reply, GENERATED)
}

pub fn completion(reply: &Reply) -> Result<Typed<Completion>, ServeError> {
    typed(reply, COMPLETION)
}

/// One streamed chunk's data.
pub fn completion_chunk(data: &str) -> Result<Typed<Completion>, ServeError> {
    parse(data, "a /v1/completions stream chunk", COMPLETION)
}

fn typed<T: DeserializeOwned>(reply: &Reply, known: &[&str]) -> Result<Typed<T>, ServeError> {
    if reply.status != 200 {
        return Err(ServeError::Schema {
            what: format!("{} {}", reply.exchange.method, reply.exchange.path),
            detail: format!("status {} where 200 was expected", reply.status),
            body: reply.exchange.response.clone(),
        });
    }
    parse(
        &reply.body,
        &format!("{} {}", reply.exchange.method, reply.exchange.path),
        known,
    )
}

fn parse<T: DeserializeOwned>(
    body: &str,
    what: &str,
    known: &[&str],
) -> Result<Typed<T>, ServeError> {
    let schema = |detail: String| ServeError::Schema {
        what: what.to_string(),
        detail,
        body: body.chars().take(4096).collect(),
    };
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| schema(format!("not JSON: {e}")))?;
    let unknown_fields = json
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !known.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let value = serde_json::from_value(json).map_err(|e| schema(e.to_string()))?;
    Ok(Typed {
        value,
        unknown_fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_parses_and_unlisted_fields_are_facts() {
        let data = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"x","choices":[{"text":" Paris","index":0,"finish_reason":null}],"system_fingerprint":"y"}"#;
        let c = completion_chunk(data).unwrap();
        assert_eq!(c.value.choices[0].text, " Paris");
        assert_eq!(c.unknown_fields, ["system_fingerprint"]);
        let missing = completion_chunk(r#"{"id":"c","object":"o","created":1,"model":"x"}"#);
        assert!(
            matches!(missing, Err(ServeError::Schema { ref detail, .. }) if detail.contains("choices")),
            "{missing:?}"
        );
    }
}
