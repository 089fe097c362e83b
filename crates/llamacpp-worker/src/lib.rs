//! The llama.cpp worker: the only process of tmgt that links llama.cpp.
//!
//! It reads one request per line on stdin and answers one response per line on stdout
//! (`llamacpp_runtime::protocol`), after a greeting line. It keeps the last model it loaded
//! for the next request on the same file, and exits when stdin closes. Its stdout carries
//! nothing but the protocol: whatever llama.cpp prints goes to stderr, where tmgt reads the
//! last words of a worker that aborts. Decoding is set up for comparison with a float32
//! oracle: f32 KV cache, no flash attention, one thread, the whole prompt in one batch,
//! greedy argmax over the raw logits (the lowest id wins an exact tie, as in torch's stable
//! sort).

mod ffi;
mod generate;

use generate::Session;
use llamacpp_runtime::protocol::{
    Hello, Op, PROTOCOL_VERSION, Reply, Request, Response, WorkerUsage,
};
use llamacpp_runtime::{LlamaError, protocol};
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// Serves requests from stdin until it closes. Exit 0 then; 1 when the protocol channel
/// could not be set up or written.
pub fn serve() -> ExitCode {
    let Some(mut out) = protocol_channel() else {
        eprintln!(
            "{}: cannot set up its output channel",
            protocol::WORKER_BINARY
        );
        return ExitCode::FAILURE;
    };
    // An abort with a large model mapped writes no core file.
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    exit_with_parent();
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
    };
    if send(&mut out, &hello).is_err() {
        return ExitCode::FAILURE;
    }
    let mut session = Session::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            break;
        };
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => Response {
                id: request.id,
                result: answer(&mut session, &request.op),
                usage: own_usage(),
            },
            Err(e) => Response {
                id: 0,
                result: Err(LlamaError::Protocol {
                    op: "read".into(),
                    detail: format!("not a request: {e}"),
                }),
                usage: own_usage(),
            },
        };
        if send(&mut out, &response).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// How often the worker looks whether the process that started it is still there.
const PARENT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Ends this process within [`PARENT_CHECK`] of its parent's death, even in the middle of a
/// call: a tmgt killed outright (SIGKILL, the OOM killer) leaves no worker decoding on. The
/// closing of stdin covers an idle worker; this covers a busy one.
fn exit_with_parent() {
    let parent = nix::unistd::getppid();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(PARENT_CHECK);
            if nix::unistd::getppid() != parent {
                std::process::exit(3);
            }
        }
    });
}

fn answer(session: &mut Session, op: &Op) -> Result<Reply, LlamaError> {
    match op {
        Op::Version => {
            ffi::backend()?;
            Ok(Reply::Version(ffi::version()))
        }
        Op::Generate(request) => session.generate(request).map(Reply::Generation),
        Op::Inspect { model } => session.inspect(model).map(Reply::Info),
        Op::Tokenize { model, texts } => session.tokenize(model, texts).map(Reply::Encodings),
        Op::Score { model, ids } => session.score(model, ids).map(Reply::Scores),
        Op::Quantize {
            input,
            output,
            ftype,
        } => {
            ffi::backend()?;
            ffi::quantize(input, output, *ftype).map(|()| Reply::Done)
        }
        Op::Dequantize { model, tensor } => {
            ffi::backend()?;
            ffi::dequantize(model, tensor).map(Reply::Values)
        }
    }
}

/// The protocol's output: the original stdout, moved to a descriptor of its own, while
/// descriptor 1 becomes stderr so that nothing llama.cpp prints reaches the protocol.
fn protocol_channel() -> Option<std::fs::File> {
    let stdout = std::io::stdout();
    let channel = nix::unistd::dup(&stdout).ok()?;
    nix::unistd::dup2_stdout(std::io::stderr()).ok()?;
    Some(std::fs::File::from(channel))
}

fn send(out: &mut std::fs::File, message: &impl serde::Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// This process's CPU time and peak resident set, read from itself.
fn own_usage() -> WorkerUsage {
    use nix::sys::resource::{UsageWho, getrusage};
    let cpu_ms = getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| {
        let ms = |tv: nix::sys::time::TimeVal| {
            u64::try_from(tv.tv_sec()).unwrap_or(0) * 1000
                + u64::try_from(tv.tv_usec()).unwrap_or(0) / 1000
        };
        ms(u.user_time()) + ms(u.system_time())
    });
    let peak_rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    WorkerUsage {
        cpu_ms,
        peak_rss_kb,
    }
}
