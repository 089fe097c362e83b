//! What every check of the suite shares: the file's server, a client with the run's limit,
//! and the record of the exchanges a result used, kept in its facts with a `curl` line each.

use apr_serve::{Client, Exchange, Server};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tmgt_check::{ArtifactKind, CheckError, Context, Prompt, Quant, RequestRecord, Verdict};

/// One request's allowance on the bundled models; a larger file gets proportionally more.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);

/// A file's shared server, as one check uses it.
pub(crate) struct Session {
    pub file: PathBuf,
    pub server: Arc<Server>,
}

impl Session {
    /// The file of `kind`, and its server.
    pub(crate) fn open(cx: &dyn Context, kind: ArtifactKind) -> Result<Session, CheckError> {
        Session::of_file(cx.artifact(kind)?)
    }

    /// Any file's server (a model's source `.safetensors`).
    pub(crate) fn of_file(file: PathBuf) -> Result<Session, CheckError> {
        let server = apr_serve::shared(&file).map_err(CheckError::Serve)?;
        Ok(Session { file, server })
    }

    /// A client whose requests may take longer on larger files.
    pub(crate) fn client(&self) -> Client<'_> {
        let len = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let scale = (len as f64 / 64e6).max(1.0);
        Client::new(&self.server, REQUEST_LIMIT.mul_f64(scale))
    }

    pub(crate) fn transcript(&self) -> Transcript {
        Transcript::of(&self.server)
    }
}

/// The run's first prompt, for checks that need one request's worth.
pub(crate) fn first_prompt(cx: &dyn Context) -> Result<&Prompt, CheckError> {
    cx.prompts()
        .first()
        .ok_or_else(|| CheckError::NoEvidence("the run has no prompts".into()))
}

/// The files the suite serves, by the check's name for them.
pub(crate) fn apr_f32() -> ArtifactKind {
    ArtifactKind::Apr(Quant::F32)
}

/// The exchanges one result used.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    base: String,
    command: String,
    exchanges: Vec<Exchange>,
}

impl Transcript {
    pub(crate) fn of(server: &Server) -> Transcript {
        Transcript {
            base: server.url(""),
            command: server.command().to_string(),
            exchanges: Vec::new(),
        }
    }

    pub(crate) fn keep(&mut self, exchange: &Exchange) {
        self.exchanges.push(exchange.clone());
    }

    /// ` Reproduce: ...` for the last exchange, to append to a failure's message: the server's
    /// command and the `curl` line, on `$PORT` (the port tmgt chose is in the facts, and a
    /// message must read the same on every run).
    pub(crate) fn reproduce(&self) -> String {
        self.reproduce_exchange(self.exchanges.last())
    }

    /// [`Self::reproduce`] for the last request to `path`.
    pub(crate) fn reproduce_on(&self, path: &str) -> String {
        self.reproduce_exchange(self.exchanges.iter().rev().find(|e| e.path == path))
    }

    fn reproduce_exchange(&self, exchange: Option<&Exchange>) -> String {
        let port = self.base.rsplit(':').next().unwrap_or("");
        let on_port = |text: &str| text.replace(&format!("--port {port}"), "--port $PORT");
        exchange
            .map(|e| {
                format!(
                    " Reproduce: `{}` and `{}`",
                    on_port(&self.command),
                    e.curl("http://127.0.0.1:$PORT")
                )
            })
            .unwrap_or_default()
    }

    /// The requests, as the report keeps them beside the apr calls.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.exchanges
            .iter()
            .map(|e| RequestRecord {
                server: self.command.clone(),
                method: e.method.clone(),
                path: e.path.clone(),
                status: e.status,
                ms: e.ms,
                curl: e.curl(&self.base),
            })
            .collect()
    }
}

/// A verdict with its facts and the requests it rests on.
pub(crate) trait Kept {
    fn kept(self, transcript: &Transcript, facts: Value) -> Verdict;
}

impl Kept for Verdict {
    fn kept(self, transcript: &Transcript, facts: Value) -> Verdict {
        self.with_facts(facts).with_requests(transcript.records())
    }
}

/// apr answering outside its API (a route it lists missing, a body not of the documented
/// shape) is a finding about apr, not the harness failing: the result fails with what came
/// back. A server that never came up, died or hung stays an error.
pub(crate) fn outside_api_fails(
    result: Result<Verdict, CheckError>,
) -> Result<Verdict, CheckError> {
    match result {
        Err(CheckError::Serve(e)) if matches!(*e, apr_serve::ServeError::Schema { .. }) => {
            Ok(Verdict::fail(
                tmgt_check::Evidence::new(1, "responses"),
                format!("apr serve answered outside its API: {e}"),
            ))
        }
        other => other,
    }
}
