use crate::bad_input::{Answer, send_all};
use crate::serving::Kept;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// Every bad request to `/v1/completions` (malformed JSON, wrong content type, a missing or
    /// mistyped field, an empty prompt, a prompt past the context, `max_tokens` 0 and past the
    /// context, `n` 2, `logprobs` 21, an unknown model, a 10 MB body) is refused with a 4xx and
    /// a JSON error, a client walking away from a stream is survived, and the next good
    /// request gets the same greedy text as before. A server that answers garbage with 200
    /// serves something nobody asked for; one that a bad request harms serves everyone worse.
    pub BadInputRefused {
        code: "SRV013",
        name: "serve-bad-input-accepted",
        suite: "serve",
        scope: Scope::Model,
        summary: "bad requests get a 4xx JSON error and the server keeps serving the same text",
    }
}

impl Check for BadInputRefused {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let sent = send_all(cx)?;
    let mut problems = Vec::new();
    for (name, _, answer) in &sent.replies {
        let reply = match answer {
            Answer::Reply(r) => r,
            Answer::Dropped(detail) => {
                problems.push(format!("{name}: no answer ({detail})"));
                continue;
            }
        };
        let json_error = reply.json().is_ok_and(|v| v.get("error").is_some());
        match reply.status {
            400..=499 if json_error => {}
            400..=499 => problems.push(format!("{name}: {} without a JSON error", reply.status)),
            // A body is quoted only where it explains the status: a 200 carries a fresh id.
            status @ 200..=299 => {
                problems.push(format!("{name}: {status}, answered as a good request"))
            }
            status => problems.push(format!(
                "{name}: {status} ({})",
                reply.body.chars().take(100).collect::<String>()
            )),
        }
    }
    if sent.after != sent.before {
        problems.push(format!(
            "after the bad requests the greedy text is {:?}, before it was {:?}",
            sent.after, sent.before
        ));
    }
    let message = if problems.is_empty() {
        format!(
            "all {} bad requests refused with a 4xx JSON error; an abandoned stream survived; the next request gives the same text",
            sent.replies.len()
        )
    } else {
        format!(
            "{} of {} bad requests not refused: {}",
            problems.len(),
            sent.replies.len(),
            problems.join("; ")
        )
    };
    let statuses: Vec<_> = sent
        .replies
        .iter()
        .map(|(n, _, a)| json!({ "case": n, "status": a.status() }))
        .collect();
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(sent.replies.len(), "bad requests"),
        message,
    )
    .kept(
        &sent.transcript,
        json!({ "statuses": statuses, "abandoned_stream": sent.abandoned_stream }),
    ))
}
