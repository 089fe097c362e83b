//! Faults a real `apr serve` cannot be made to produce on demand, from a scripted fake
//! (`tests/fault-injection/apr`, FAULT INJECTION ONLY): each ends as a typed error that says
//! what happened, within its limit, and leaves no process behind.

use apr_serve::{Client, ServeError, Server, ServerSpec, api};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault-injection/apr")
}

/// The fake, misbehaving as `fault` (the served file's stem tells it which).
fn start(fault: &str, ready_limit: Duration) -> Result<Server, ServeError> {
    let spec = ServerSpec {
        binary: fake(),
        file: PathBuf::from(format!("/fault/{fault}.gguf")),
        ready_limit,
        stop_grace: Duration::from_secs(2),
        args: Vec::new(),
        port: None,
    };
    Server::start(&spec, &|| false)
}

fn alive(pid_marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(pid_marker))
    })
}

#[test]
fn a_server_never_ready_is_killed_at_its_limit() {
    let started = Instant::now();
    let err = start("never-ready", Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, ServeError::NeverReady { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        !alive("/fault/never-ready.gguf"),
        "the fake outlived its kill"
    );
}

#[test]
fn a_server_dying_mid_stream_is_a_died_error_with_its_last_words() {
    let server = start("dies-mid-stream", Duration::from_secs(30)).expect("ready");
    let client = Client::new(&server, Duration::from_secs(10));
    let err = client
        .stream(
            "/v1/completions",
            &json!({"prompt": "x", "stream": true}),
            None,
        )
        .err();
    // The stream ends with the process: either the read fails and the death is seen, or the
    // cut stream is returned and the next request sees it.
    let err = err.unwrap_or_else(|| client.get("/health").unwrap_err());
    assert!(matches!(err, ServeError::Died { .. }), "{err}");
    assert!(err.to_string().contains("dying mid-stream"), "{err}");
}

#[test]
fn a_stream_hanging_after_its_headers_times_out() {
    let server = start("hangs-after-headers", Duration::from_secs(30)).expect("ready");
    let client = Client::new(&server, Duration::from_secs(2));
    let started = Instant::now();
    let err = client
        .stream(
            "/v1/completions",
            &json!({"prompt": "x", "stream": true}),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, ServeError::TimedOut { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    server.stop();
    assert!(!alive("/fault/hangs-after-headers.gguf"));
}

#[test]
fn garbage_in_a_stream_is_a_schema_error_naming_the_chunk() {
    let server = start("garbage-sse", Duration::from_secs(30)).expect("ready");
    let client = Client::new(&server, Duration::from_secs(10));
    let (_, events) = client
        .stream(
            "/v1/completions",
            &json!({"prompt": "x", "stream": true}),
            None,
        )
        .unwrap();
    assert_eq!(events.len(), 2);
    let err = api::completion_chunk(&events[0].data).unwrap_err();
    assert!(err.to_string().contains("{not json"), "{err}");
}
