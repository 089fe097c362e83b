use crate::serving::apr_f32;
use apr_serve::{ServeError, spec};
use nix::sys::signal::Signal;
use serde_json::json;
use std::net::TcpListener;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// apr serve refuses what it cannot serve before it opens a socket, and ends when told:
    /// a missing file, a truncated copy of the f32 `.apr` and a port already in use each end
    /// it with a non-zero exit before `/health` ever answers; SIGINT and SIGTERM each end a
    /// ready server within the grace period (10 s). A server that comes up on a broken file,
    /// or ignores the signal a supervisor sends, is one an operator cannot manage.
    pub Lifecycle {
        code: "SRV015",
        name: "serve-lifecycle-mishandled",
        suite: "serve",
        scope: Scope::Model,
        summary: "bad files and a busy port are refused before serving; SIGINT and SIGTERM end the server",
    }
}

impl Check for Lifecycle {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let file = cx.artifact(apr_f32())?;
    let scratch = cx.scratch_dir()?;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut facts = Vec::new();

    let truncated = scratch.join("truncated.apr");
    half_copy(&file, &truncated)?;
    let busy = TcpListener::bind("127.0.0.1:0").map_err(|e| CheckError::Input {
        what: "a port to hold busy".into(),
        reason: e.to_string(),
    })?;
    let busy_port = busy.local_addr().map(|a| a.port()).unwrap_or(0);
    let refusals = [
        ("a missing file", spec(&scratch.join("missing.apr"))),
        ("a truncated .apr", spec(&truncated)),
        ("a busy port", {
            let mut s = spec(&file);
            s.port = Some(busy_port);
            s
        }),
    ];
    for (what, s) in refusals {
        match apr_serve::private(&s) {
            Err(ServeError::ExitedBeforeReady {
                how, after, log, ..
            }) if how != "exited 0" => {
                lines.push(format!("{what}: {how}"));
                facts.push(json!({ "case": what, "ended": how, "after_ms": after.as_millis() as u64, "log": log }));
            }
            Err(ServeError::ExitedBeforeReady { how, log, .. }) => {
                problems.push(format!(
                    "{what}: {how}, a success, though it served nothing"
                ));
                facts.push(json!({ "case": what, "ended": how, "log": log }));
            }
            Err(ServeError::NeverReady { limit, log, .. }) => {
                problems.push(format!(
                    "{what}: neither ready nor ended within {} s",
                    limit.as_secs()
                ));
                facts.push(json!({ "case": what, "ended": "killed", "log": log }));
            }
            Err(other) => return Err(other.into()),
            Ok(server) => {
                problems.push(format!("{what}: ready, answering /health"));
                server.stop();
            }
        }
    }
    drop(busy);
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let server = apr_serve::private(&spec(&file))?;
        let stopped = server.stop_with(signal);
        facts.push(json!({ "case": signal.as_str(), "ended": stopped.how, "after_ms": stopped.after_ms, "graceful": stopped.graceful, "log": server.log_tail() }));
        if stopped.graceful {
            lines.push(format!("{signal}: {}", stopped.how));
        } else {
            problems.push(format!(
                "{signal}: still running after the grace period, killed"
            ));
        }
    }
    let message = if problems.is_empty() {
        lines.join("; ")
    } else {
        format!("{} (and {})", problems.join("; "), lines.join("; "))
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(5, "lifecycle cases"),
        message,
    )
    .with_facts(json!({ "cases": facts })))
}

/// The first half of `from` as `to`, streamed: a real model is never read into memory.
fn half_copy(from: &std::path::Path, to: &std::path::Path) -> Result<(), CheckError> {
    use std::io::Read;
    let source = std::fs::File::open(from).map_err(|e| CheckError::file(from, e))?;
    let half = source
        .metadata()
        .map_err(|e| CheckError::file(from, e))?
        .len()
        / 2;
    let mut sink = std::fs::File::create(to).map_err(|e| CheckError::file(to, e))?;
    std::io::copy(&mut source.take(half), &mut sink).map_err(|e| CheckError::file(to, e))?;
    Ok(())
}
