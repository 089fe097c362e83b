//! The real `apr serve` on a bundled model's GGUF: ready, answering typed routes, recorded,
//! stopped by SIGINT; a missing file refused before it is ready; a server never outlives the
//! process that started it.

use apr_serve::{Client, Server, ServerSpec, api};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn spec(file: PathBuf) -> ServerSpec {
    ServerSpec {
        binary: std::env::var_os("TMGT_APR").map_or_else(|| "apr".into(), PathBuf::from),
        file,
        ready_limit: Duration::from_secs(60),
        stop_grace: Duration::from_secs(10),
        args: Vec::new(),
        port: None,
    }
}

fn never() -> bool {
    false
}

#[test]
fn a_server_answers_its_routes_and_stops_on_sigint() {
    let file = root()
        .join("native/tiny-qwen2/f32.gguf")
        .canonicalize()
        .unwrap();
    let server = Server::start(&spec(file), &never).expect("ready");
    let client = Client::new(&server, Duration::from_secs(60));
    let tokens = api::tokenized(
        &client
            .post_json("/tokenize", &json!({"text": "Hello world"}))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(tokens.value.num_tokens, tokens.value.token_ids.len());
    assert!(!tokens.value.token_ids.is_empty());
    let reply = client
        .post_json(
            "/generate",
            &json!({"prompt": "Hello world", "max_tokens": 4, "temperature": 0, "strategy": "greedy"}),
        )
        .unwrap();
    let generated = api::generated(&reply).unwrap();
    assert_eq!(generated.value.num_generated, 4);
    assert!(
        generated
            .value
            .token_ids
            .starts_with(&tokens.value.token_ids)
    );
    assert!(
        reply
            .exchange
            .curl(&server.url(""))
            .starts_with("curl -s -X POST 'http://127.0.0.1:"),
        "{}",
        reply.exchange.curl(&server.url(""))
    );
    let body = json!({"model": "m", "prompt": "Hello world", "max_tokens": 4, "temperature": 0, "stream": true});
    let (exchange, events) = client.stream("/v1/completions", &body, None).unwrap();
    assert_eq!(exchange.status, 200);
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            api::completion_chunk(&e.data).unwrap().value.choices[0]
                .text
                .clone()
        })
        .collect();
    assert!(!text.is_empty());
    let stopped = server.stop();
    assert!(stopped.graceful, "{stopped:?}");
    assert_eq!(stopped.how, "exited 0");
    assert!(server.alive().is_err(), "a stopped server is not alive");
}

#[test]
fn a_missing_file_is_refused_before_the_server_is_ready() {
    let err = Server::start(&spec(root().join("no-such-model.gguf")), &never).unwrap_err();
    let said = err.to_string();
    assert!(
        said.contains("before it was ready") && said.contains("exited"),
        "{said}"
    );
}
