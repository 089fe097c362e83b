//! The bad requests both bad-input checks send, and what the OpenAI API answers to each.

use crate::completion;
use crate::serving::{Session, Transcript, apr_f32, first_prompt};
use apr_serve::{Client, Reply, ServeError};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use tmgt_check::{CheckError, Context, Memo};

/// One bad request and the status OpenAI's API answers it with.
pub(crate) struct Case {
    pub name: &'static str,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub openai_status: u16,
}

fn json_case(name: &'static str, body: Value, openai_status: u16) -> Case {
    Case {
        name,
        body: body.to_string().into_bytes(),
        content_type: "application/json",
        openai_status,
    }
}

/// The cases, for a model whose context is at most `context` tokens.
pub(crate) fn cases(prompt: &str, context: usize) -> Vec<Case> {
    let good = |extra: Value| {
        let mut body = completion::body(prompt, 4);
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        body
    };
    let mut missing_prompt = good(json!({}));
    missing_prompt.as_object_mut().map(|b| b.remove("prompt"));
    vec![
        Case {
            name: "malformed JSON",
            body: br#"{"model": "default", "prompt": "#.to_vec(),
            content_type: "application/json",
            openai_status: 400,
        },
        Case {
            name: "wrong content type",
            body: good(json!({})).to_string().into_bytes(),
            content_type: "text/plain",
            openai_status: 400,
        },
        json_case("missing prompt", missing_prompt, 400),
        json_case(
            "mistyped max_tokens",
            good(json!({ "max_tokens": "ten" })),
            400,
        ),
        json_case("empty prompt", good(json!({ "prompt": "" })), 400),
        json_case(
            "a prompt past the context",
            good(json!({ "prompt": "hello ".repeat(context * 2) })),
            400,
        ),
        json_case("max_tokens 0", good(json!({ "max_tokens": 0 })), 400),
        json_case(
            "max_tokens past the context",
            good(json!({ "max_tokens": context * 4 })),
            400,
        ),
        json_case("n 2", good(json!({ "n": 2 })), 400),
        json_case("logprobs 21", good(json!({ "logprobs": 21 })), 400),
        json_case(
            "an unknown model",
            good(json!({ "model": "no-such-model" })),
            404,
        ),
        Case {
            name: "a 10 MB body",
            body: good(json!({ "prompt": "x".repeat(10 << 20) }))
                .to_string()
                .into_bytes(),
            content_type: "application/json",
            openai_status: 400,
        },
    ]
}

/// The model's context, from its config (what a prompt must exceed to be past it).
pub(crate) fn context(cx: &dyn Context) -> usize {
    cx.model()
        .ok()
        .and_then(|m| m.local_dir())
        .and_then(|d| std::fs::read_to_string(d.join("config.json")).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|c| {
            ["max_position_embeddings", "n_positions", "n_ctx"]
                .iter()
                .find_map(|k| c[k].as_u64())
        })
        .map_or(8192, |n| n as usize)
}

/// Bodies larger than this go on a raw connection ([`apr_serve::Client::send_raw`]).
const RAW_ABOVE: usize = 1 << 20;

/// What a bad request got.
pub(crate) enum Answer {
    Reply(Reply),
    /// The connection ended without an answer.
    Dropped(String),
}

impl Answer {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Answer::Reply(r) => r.status,
            Answer::Dropped(_) => 0,
        }
    }
}

/// Every case sent in turn, then one good greedy request, whose text must equal the one
/// before the cases.
pub(crate) struct Sent {
    pub replies: Vec<(&'static str, u16, Answer)>,
    pub before: String,
    pub after: String,
    pub transcript: Transcript,
    /// The stream a client walked away from after its first event.
    pub abandoned_stream: u16,
}

/// What each server got, sent once however many checks judge it (SRV013 and SRV014 read the
/// same replies), keyed by the file and the port of the server that answered.
static SENT: LazyLock<Memo<(PathBuf, u16), Outcome>> = LazyLock::new(Memo::default);

/// What sending gave: the replies, or why the server gave none.
type Outcome = Result<Arc<Sent>, Arc<ServeError>>;

/// The bad requests to the f32 `.apr`'s server, and the good ones around them.
pub(crate) fn send_all(cx: &dyn Context) -> Result<Arc<Sent>, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let prompt = first_prompt(cx)?;
    let (context, max_new_tokens) = (context(cx), cx.max_new_tokens());
    let key = (session.file.clone(), session.server.port());
    let (sent, _) = SENT.get_or_init(key, || {
        send(&session, &prompt.text, context, max_new_tokens)
            .map(Arc::new)
            .map_err(Arc::new)
    });
    sent.map_err(CheckError::Serve)
}

fn send(
    session: &Session,
    prompt: &str,
    context: usize,
    max_new_tokens: u32,
) -> Result<Sent, ServeError> {
    let (client, mut transcript) = (session.client(), session.transcript());
    let before = greedy(&client, &mut transcript, prompt)?;
    let mut replies = Vec::new();
    for case in cases(prompt, context) {
        let answer = if case.body.len() > RAW_ABOVE {
            client.send_raw("/v1/completions", &case.body, case.content_type)
        } else {
            client.send(
                "POST",
                "/v1/completions",
                Some(&case.body),
                Some(case.content_type),
            )
        };
        match answer {
            Ok(reply) => {
                transcript.keep(&reply.exchange);
                replies.push((case.name, case.openai_status, Answer::Reply(reply)));
            }
            // No answer to one request is that case's outcome, unless the server is gone.
            Err(ServeError::Transport { detail, .. }) => {
                replies.push((case.name, case.openai_status, Answer::Dropped(detail)));
            }
            Err(other) => return Err(other),
        }
    }
    let mut streamed = completion::body(prompt, max_new_tokens);
    streamed["stream"] = json!(true);
    let (exchange, _) = client.stream("/v1/completions", &streamed, Some(1))?;
    transcript.keep(&exchange);
    let after = greedy(&client, &mut transcript, prompt)?;
    Ok(Sent {
        replies,
        before,
        after,
        transcript,
        abandoned_stream: exchange.status,
    })
}

fn greedy(
    client: &Client<'_>,
    transcript: &mut Transcript,
    prompt: &str,
) -> Result<String, ServeError> {
    Ok(
        completion::complete(client, transcript, &completion::body(prompt, 16))?
            .1
            .choices
            .first()
            .map(|c| c.text.clone())
            .unwrap_or_default(),
    )
}
