//! Requests to a server, each recorded as an [`Exchange`] that a ticket turns into a `curl`
//! line; and server-sent events read as the stream arrives.

use crate::error::ServeError;
use crate::server::Server;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use ureq::Agent;

/// Bytes of a request or response body kept in an exchange's record.
const KEPT: usize = 4096;
/// The largest response body read.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// One request and its answer, as the report keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// The request body (cut to 4 KB), with its content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Bytes of the request body, where it was cut.
    pub request_bytes: usize,
    pub status: u16,
    /// The response body (cut to 4 KB).
    pub response: String,
    pub ms: u64,
}

impl Exchange {
    /// The request as a `curl` command against `server`'s port.
    pub fn curl(&self, base: &str) -> String {
        let mut line = format!("curl -s -X {} '{base}{}'", self.method, self.path);
        if let Some(ct) = &self.content_type {
            line += &format!(" -H 'content-type: {ct}'");
        }
        if let Some(body) = &self.request {
            if self.request_bytes > body.len() {
                line += &format!(" --data-binary @body-of-{}-bytes", self.request_bytes);
            } else {
                line += &format!(" -d '{}'", body.replace('\'', r"'\''"));
            }
        }
        line
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub exchange: Exchange,
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ServeError> {
        serde_json::from_str(&self.body).map_err(|e| ServeError::Schema {
            what: format!("{} {}", self.exchange.method, self.exchange.path),
            detail: format!("not JSON: {e}"),
            body: cut(&self.body),
        })
    }
}

/// One server-sent event's `data`, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub data: String,
}

/// A client of one server.
#[derive(Debug)]
pub struct Client<'a> {
    server: &'a Server,
    agent: Agent,
    limit: Duration,
}

impl<'a> Client<'a> {
    /// Requests to `server`, each allowed `limit`.
    pub fn new(server: &'a Server, limit: Duration) -> Client<'a> {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(limit))
            .max_idle_connections(0)
            .build()
            .into();
        Client {
            server,
            agent,
            limit,
        }
    }

    pub fn server(&self) -> &Server {
        self.server
    }

    pub fn get(&self, path: &str) -> Result<Reply, ServeError> {
        self.send("GET", path, None, None)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Reply, ServeError> {
        let text = body.to_string();
        self.send(
            "POST",
            path,
            Some(text.as_bytes()),
            Some("application/json"),
        )
    }

    /// Any body, any content type: malformed requests included.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Result<Reply, ServeError> {
        self.server.alive()?;
        let url = self.server.url(path);
        let started = Instant::now();
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, body) => {
                let mut req = self.agent.post(&url);
                if let Some(ct) = content_type {
                    req = req.header("content-type", ct);
                }
                req.send(body.unwrap_or_default())
            }
        };
        let mut response = response.map_err(|e| self.failure(method, path, &e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| self.failure(method, path, &e))?;
        let exchange = record(method, path, body, content_type, status, &text, started);
        Ok(Reply {
            exchange,
            status,
            body: text,
        })
    }

    /// A POST written on a raw connection: the whole body is offered even when the server
    /// answers (and closes) before reading it, as a server refusing a large body does, and
    /// whatever it answered is read. An HTTP client library reports only the broken pipe.
    pub fn send_raw(
        &self,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<Reply, ServeError> {
        use std::io::{Read, Write};
        self.server.alive()?;
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.server.port()))
            .map_err(|e| self.failure("POST", path, &e))?;
        let _ = stream.set_read_timeout(Some(self.limit));
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        // A refusal may close the connection mid-body: what it said is still there to read.
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body));
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let Some((head, rest)) = text.split_once("\r\n\r\n") else {
            return Err(ServeError::Transport {
                file: self.server.file().to_path_buf(),
                method: "POST".into(),
                path: path.into(),
                detail: format!(
                    "closed the connection after {} bytes without an answer",
                    raw.len()
                ),
            });
        };
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body_text = if chunked {
            unchunk(rest)
        } else {
            rest.to_string()
        };
        let exchange = record(
            "POST",
            path,
            Some(body),
            Some(content_type),
            status,
            &body_text,
            started,
        );
        Ok(Reply {
            exchange,
            status,
            body: body_text,
        })
    }

    /// A streamed POST: the events in order, until `[DONE]`, the end of the stream, or
    /// `stop_after` events (a client that walks away).
    pub fn stream(
        &self,
        path: &str,
        body: &serde_json::Value,
        stop_after: Option<usize>,
    ) -> Result<(Exchange, Vec<Event>), ServeError> {
        self.server.alive()?;
        let text = body.to_string();
        let started = Instant::now();
        let mut response = self
            .agent
            .post(&self.server.url(path))
            .header("content-type", "application/json")
            .send(text.as_bytes())
            .map_err(|e| self.failure("POST", path, &e))?;
        let status = response.status().as_u16();
        let reader = BufReader::new(response.body_mut().as_reader());
        let mut events = Vec::new();
        let mut raw = String::new();
        let mut data: Vec<String> = Vec::new();
        for line in reader.lines() {
            let line = line.map_err(|e| self.failure("POST", path, &e))?;
            raw.push_str(&line);
            raw.push('\n');
            if line.is_empty() {
                if !data.is_empty() {
                    events.push(Event {
                        data: data.join("\n"),
                    });
                    data.clear();
                }
                // `[DONE]` ends an OpenAI stream whether or not the connection closes.
                let done = events.last().is_some_and(|e| e.data == "[DONE]");
                if done || stop_after.is_some_and(|n| events.len() >= n) {
                    break;
                }
                continue;
            }
            // SSE: `data:` with one optional space; comments start with `:`.
            if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value).to_string());
            }
        }
        if !data.is_empty() {
            events.push(Event {
                data: data.join("\n"),
            });
        }
        let exchange = record(
            "POST",
            path,
            Some(text.as_bytes()),
            Some("application/json"),
            status,
            &raw,
            started,
        );
        Ok((exchange, events))
    }

    fn failure(&self, method: &str, path: &str, e: &dyn std::fmt::Display) -> ServeError {
        // A connection cut by a dying server fails before the process is reaped: give it a
        // moment, so the error says the server died rather than that a request failed.
        for _ in 0..10 {
            if let Err(died) = self.server.alive() {
                return died;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let detail = e.to_string();
        if detail.contains("timeout") || detail.contains("Timeout") {
            return ServeError::TimedOut {
                file: self.server.file().to_path_buf(),
                method: method.into(),
                path: path.into(),
                limit: self.limit,
            };
        }
        ServeError::Transport {
            file: self.server.file().to_path_buf(),
            method: method.into(),
            path: path.into(),
            detail,
        }
    }
}

fn record(
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: Option<&str>,
    status: u16,
    response: &str,
    started: Instant,
) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        request: body.map(|b| cut(&String::from_utf8_lossy(&b[..b.len().min(KEPT)]))),
        content_type: content_type.map(str::to_string),
        request_bytes: body.map_or(0, <[u8]>::len),
        status,
        response: cut(response),
        ms: started.elapsed().as_millis() as u64,
    }
}

/// A chunked body's data.
fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn cut(text: &str) -> String {
    if text.len() <= KEPT {
        return text.to_string();
    }
    let mut end = KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// An agent for readiness probes: one second per probe.
pub(crate) fn probe_agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .into()
}

/// Whether `GET url` answers 200.
pub(crate) fn healthy(agent: &Agent, url: &str) -> bool {
    agent
        .get(url)
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}
